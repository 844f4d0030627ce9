#!/usr/bin/env python3
"""SCTE-35 for the ad-marker tests, by threefive (an implementation independent of the origin's).

  scte35.py encode EVENT_ID DURATION_S OUT(1|0) [PTS_S]  -> the splice_insert section, hex (0x...)
                                                  (immediate, or at pts_time PTS_S seconds)
  scte35.py decode DATA...                        -> one JSON object per cue (hex 0x..., or base64)
"""
import json
import sys

import threefive


def encode(event_id, duration, out, pts=None):
    cmd = threefive.SpliceInsert()
    cmd.splice_event_id = event_id
    cmd.splice_event_cancel_indicator = False
    cmd.out_of_network_indicator = out
    cmd.program_splice_flag = True
    cmd.splice_immediate_flag = pts is None
    if pts is not None:
        cmd.time_specified_flag = True
        cmd.pts_time = pts
    cmd.event_id_compliance_flag = True
    cmd.duration_flag = duration > 0
    if duration > 0:
        cmd.break_auto_return = True
        cmd.break_duration = duration
    cmd.unique_program_id = 1
    cmd.avail_num = 0
    cmd.avails_expected = 0
    cue = threefive.Cue()
    cue.command = cmd
    cue.encode()
    return cue.hex()


def decode(data):
    cue = threefive.Cue(data)
    if not cue.decode():
        raise SystemExit(f"threefive cannot decode {data!r}")
    c = cue.command
    return {
        "command_type": c.command_type,
        "event_id": getattr(c, "splice_event_id", None),
        "out": getattr(c, "out_of_network_indicator", None),
        "duration": getattr(c, "break_duration", None) if getattr(c, "duration_flag", False) else None,
    }


if __name__ == "__main__":
    if sys.argv[1] == "encode":
        pts = float(sys.argv[5]) if len(sys.argv) > 5 else None
        print(encode(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1", pts))
    else:
        for d in sys.argv[2:]:
            print(json.dumps(decode(d)))
