#!/usr/bin/env python3
"""Injects SCTE-35 cues into one MPEG-TS segment with threefive's SuperKabuki (the PMT gains
a stream of type 0x86 on PID 0x86; each cue goes out as a section right before the segment's
first I-frame): the way an encoder carries cues in TS.

  inject_scte35.py SRC.ts DST.ts CC [CUE ...]   (CUE: hex 0x... or base64; prints the next
                                                 continuity counter of PID 0x86)

threefive 3.1.5's SuperKabuki.encode() only writes its output every 530 packets and drops the
rest (a 2 s segment comes out empty): FixedKabuki writes each packet through.
"""
import os
import sys
import tempfile

from threefive.superkabuki import SuperKabuki


class FixedKabuki(SuperKabuki):
    def encode(self):
        self.open_output()
        with self.outfile as outfile:
            for pkt in self.iter_pkts():
                pid = self._parse_pid(pkt[1], pkt[2])
                pkt = self._parse_by_pid(pkt, pid)
                if pkt:
                    self.iframe_action(pkt, pid, outfile)
                    outfile.write(pkt)


def main():
    src, dst, cc, cues = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    fd, side = tempfile.mkstemp(suffix=".sidecar")
    with os.fdopen(fd, "w") as f:
        # "0.0": at the next I-frame, the segment's first.
        f.write("".join(f"0.0,{c}\n" for c in cues))
    sys.argv = ["scte35inject", "-i", src, "-o", dst, "-s", side, "-p", "0x86"]
    sk = FixedKabuki()
    sk.scte35_cc = cc
    sk.encode()
    os.remove(side)
    print(sk.scte35_cc)


if __name__ == "__main__":
    main()
