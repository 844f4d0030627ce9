#!/usr/bin/env python3
"""Adds CEA-608 captions to a raw H.264 Annex B stream the way broadcast encoders carry them:
an SEI NAL unit (ATSC A/53: user_data_registered_itu_t_t35, "GA94", cc_data) in every access
unit, before its first slice, spelling TEXT one pair of characters per frame (field 1, CC1).

  add_cea608.py IN.h264 OUT.h264 TEXT
"""
import sys


def parity(b):
    return b | 0x80 if bin(b).count("1") % 2 == 0 else b


def sei(pair):
    cc = bytes([0xFC, parity(pair[0]), parity(pair[1])])
    payload = b"\xb5\x00\x31" + b"GA94" + b"\x03" + bytes([0xC0 | 1, 0xFF]) + cc + b"\xff"
    body = bytes([4, len(payload)]) + payload + b"\x80"
    return b"\x00\x00\x00\x01\x06" + body


def nal_units(data):
    starts = []
    i = 0
    while True:
        i = data.find(b"\x00\x00\x01", i)
        if i < 0:
            break
        starts.append(i + 3)
        i += 3
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
        while end > s and data[end - 1] == 0:
            end -= 1
        yield data[s:end]


def main():
    src, dst, text = sys.argv[1], sys.argv[2], sys.argv[3].encode()
    data = open(src, "rb").read()
    pairs = [text[i:i + 2].ljust(2, b" ") for i in range(0, len(text), 2)]
    out = bytearray()
    frame = 0
    for nal in nal_units(data):
        kind = nal[0] & 0x1F
        # A slice whose first_mb_in_slice is 0 (ue(v) "1") starts an access unit.
        if kind in (1, 5) and len(nal) > 1 and nal[1] & 0x80:
            out += sei(pairs[frame % len(pairs)])
            frame += 1
        out += b"\x00\x00\x00\x01" + nal
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main()
