#!/usr/bin/env bash
# streampack's TS → CMAF repackager vs `ffmpeg -c copy` remuxing the same 2 s segment
# (core/testdata/ts/h264_aac/seg_00001.ts: 640x360 H.264 800 kb/s + AAC) into
# fragmented MP4, one file per track as CMAF wants.
#
#   benches/repackage-vs-ffmpeg.sh            # runs the criterion bench, then times ffmpeg
#   SKIP_BENCH=1 benches/repackage-vs-ffmpeg.sh   # reuses target/criterion's last estimate
#
# ffmpeg's wall time includes process start, probing and file writes; its own `-benchmark`
# rtime (the remux loop only) is printed too. Ours is criterion's median per segment, in
# process, bytes in memory. Ratios are ffmpeg / streampack (higher = streampack faster).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SEG="$ROOT/core/testdata/ts/h264_aac/seg_00001.ts"
RUNS="${RUNS:-20}"
EST="$ROOT/target/criterion/repackage/ts_to_cmaf_2s_640x360/new/estimates.json"

if [ "${SKIP_BENCH:-0}" != 1 ] || [ ! -f "$EST" ]; then
  (cd "$ROOT" && cargo bench -p streampack-benches --bench repackage -- --warm-up-time 1 --measurement-time 3 >/dev/null)
fi
ours_ns=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['median']['point_estimate'])" "$EST")

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
FRAG="-movflags frag_keyframe+empty_moov+default_base_moof"
cmd=(ffmpeg -nostdin -hide_banner -benchmark -y -i "$SEG"
     -map 0:v -c copy -f mp4 $FRAG "$tmp/v.mp4"
     -map 0:a -c copy -bsf:a aac_adtstoasc -f mp4 $FRAG "$tmp/a.mp4")
walls=(); rtimes=()
for _ in $(seq "$RUNS"); do
  t0=$(date +%s%N)
  out=$("${cmd[@]}" 2>&1) || { echo "$out" >&2; echo "ffmpeg failed" >&2; exit 1; }
  t1=$(date +%s%N)
  walls+=($((t1 - t0)))
  rtimes+=("$(sed -n 's/.*rtime=\([0-9.]*\)s.*/\1/p' <<<"$out" | tail -1)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
wall_ns=$(median "${walls[@]}")
rtime_ns=$(python3 -c "print(float('$(median "${rtimes[@]}")') * 1e9)")

python3 - "$ours_ns" "$wall_ns" "$rtime_ns" "$(stat -c %s "$SEG")" <<'PY'
import sys
ours, wall, rtime, size = (float(x) for x in sys.argv[1:])
print(f"segment: {int(size)} bytes of TS (2 s, H.264 + AAC)")
print(f"streampack Repackager::repackage (criterion median): {ours/1e6:8.3f} ms  ({size/ours*1e3:7.1f} MB/s)")
print(f"ffmpeg -c copy, process wall time (median):           {wall/1e6:8.3f} ms  -> ratio {wall/ours:6.1f}x")
print(f"ffmpeg -c copy, its -benchmark rtime (median):        {rtime/1e6:8.3f} ms  -> ratio {rtime/ours:6.1f}x")
PY
