#!/usr/bin/env bash
# Cluster mode measured on one machine: three streampackd nodes (release build) on a
# three-member etcd (Debian's etcd-server), all on loopback.
#
#   benches/cluster.sh                      # 1000 channels, 3 rounds of 10 s per load figure
#   CL_CHANNELS=200 CL_SECONDS=5 benches/cluster.sh
#
# What it prints (a markdown table, also written to benches/results/cluster.md when
# CL_WRITE=1):
# - admin write latency (a channel create on n1: one etcd transaction) and convergence (from
#   the write's answer until n3 lists the channel), median and worst of 30;
# - the configuration at scale: CL_CHANNELS channels with an endpoint each, created one by one
#   (time per write), etcd's database size and the bytes of all channel keys, how long a node
#   takes from start until it serves the whole configuration;
# - serving a channel another node makes: req/s of one segment (and of the playlist) from n1
#   (its encoder's node, local memory) and from n3 (fetched once, then its cache), by
#   `streampack-load hammer` (64 connections), medians of CL_ROUNDS alternated rounds.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CL_CHANNELS="${CL_CHANNELS:-1000}"
CL_SECONDS="${CL_SECONDS:-10}"
CL_ROUNDS="${CL_ROUNDS:-3}"
BIN="$ROOT/target/release"
cd "$ROOT"
if [ -z "${CL_SKIP_BUILD:-}" ]; then
    cargo build --release -q -p streampackd -p streampackctl
    cargo build --release -q -p streampack-benches --bin streampack-load
fi
command -v etcd >/dev/null || { echo "needs etcd (apt-get install etcd-server)" >&2; exit 1; }
command -v ffmpeg >/dev/null || { echo "needs ffmpeg" >&2; exit 1; }

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# etcd: three members.
ETCD_URLS=""
INITIAL=""
for i in 0 1 2; do
    INITIAL+="${INITIAL:+,}e$i=http://127.0.0.1:$((23810 + i))"
    ETCD_URLS+="${ETCD_URLS:+,}http://127.0.0.1:$((23790 + i))"
done
for i in 0 1 2; do
    etcd --name "e$i" --data-dir "$TMP/e$i" \
        --listen-client-urls "http://127.0.0.1:$((23790 + i))" \
        --advertise-client-urls "http://127.0.0.1:$((23790 + i))" \
        --listen-peer-urls "http://127.0.0.1:$((23810 + i))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((23810 + i))" \
        --initial-cluster "$INITIAL" --initial-cluster-state new \
        >"$TMP/e$i.log" 2>&1 &
    PIDS+=($!)
done
for i in 0 1 2; do
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$((23790 + i))/health" | grep -q true && break
        sleep 0.1
    done
done

start_node() { # start_node N
    local n=$1
    "$BIN/streampackd" --state-dir "$TMP/n$n" --admin-socket "$TMP/n$n.sock" \
        --ingest-listen "127.0.0.1:$((18680 + n))" --pull-listen "127.0.0.1:$((18690 + n))" \
        --metrics-listen off --cluster-etcd "$ETCD_URLS" --node-name "n$n" \
        >>"$TMP/n$n.log" 2>&1 &
    NODE_PID[$n]=$!
    PIDS+=($!)
    for _ in $(seq 100); do
        "$BIN/streampackctl" --socket "$TMP/n$n.sock" status >/dev/null 2>&1 && break
        sleep 0.05
    done
}
declare -a NODE_PID
for n in 1 2 3; do start_node "$n"; done
ctl() { local n=$1; shift; "$BIN/streampackctl" --socket "$TMP/n$n.sock" "$@"; }
now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
sleep 1

# 1. Write latency and convergence.
: >"$TMP/write" ; : >"$TMP/conv"
for i in $(seq 30); do
    t0=$(now_ms)
    ctl 1 channel create --name "conv$i" --protocol hls >/dev/null
    t1=$(now_ms)
    until ctl 3 channel show "conv$i" >/dev/null 2>&1; do :; done
    t2=$(now_ms)
    echo $((t1 - t0)) >>"$TMP/write"
    echo $((t2 - t1)) >>"$TMP/conv"
done
W_MED=$(median <"$TMP/write"); W_MAX=$(sort -n "$TMP/write" | tail -1)
C_MED=$(median <"$TMP/conv"); C_MAX=$(sort -n "$TMP/conv" | tail -1)

# 2. The configuration at scale.
t0=$(now_ms)
for i in $(seq "$CL_CHANNELS"); do
    ctl 1 channel create --name "ch$i" --protocol hls >/dev/null
    ctl 1 endpoint create "ch$i" --name ep >/dev/null
done
t1=$(now_ms)
PER_WRITE=$(awk -v ms=$((t1 - t0)) -v n="$CL_CHANNELS" 'BEGIN {printf "%.1f", ms / (2 * n)}')
DB_BYTES=$(ETCDCTL_API=3 etcdctl --endpoints "$ETCD_URLS" endpoint status -w json |
    python3 -c 'import json,sys; print(max(e["Status"]["dbSize"] for e in json.load(sys.stdin)))')
KEY_BYTES=$(ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:23790" get --prefix /streampack/v1/channels/ --print-value-only | wc -c)
WANT=$((CL_CHANNELS + 30))
kill -9 "${NODE_PID[3]}"; wait "${NODE_PID[3]}" 2>/dev/null || true
rm -rf "$TMP/n3"
t0=$(now_ms)
start_node 3
until [ "$(ctl 3 --json channel list 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo 0)" = "$WANT" ]; do sleep 0.05; done
t1=$(now_ms)
JOIN_MS=$((t1 - t0))

# 3. Serving a channel another node makes.
CH=$(ctl 1 --json channel create --name live --protocol hls --max-segment-duration 2)
IN=$(echo "$CH" | python3 -c 'import json,sys; print(json.load(sys.stdin)["inputs"][0]["url"])')
EP=$(ctl 1 --json endpoint create live --name ep | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=1280x720:rate=25 \
    -c:v libx264 -preset veryfast -b:v 3M -g 50 -keyint_min 50 -sc_threshold 0 \
    -f hls -hls_time 2 -hls_list_size 6 -method PUT -t 600 "$IN/main.m3u8" >"$TMP/ffmpeg.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "$EP" | grep -q '\.ts' && break; sleep 0.2; done
PLAYLIST_PATH="${EP#http://127.0.0.1:18691}"
SEG=$(curl -sf "$EP" | grep '\.ts' | head -1)
SEG_PATH="${PLAYLIST_PATH%/*}/$SEG"
SEG_BYTES=$(curl -sf "http://127.0.0.1:18691$SEG_PATH" | wc -c)
hammer() { # hammer PORT PATH -> req/s
    "$BIN/streampack-load" hammer -c 64 -d "$CL_SECONDS" "http://127.0.0.1:$1$2" 2>/dev/null |
        awk '/req\/s/ {for (i = 1; i <= NF; i++) if ($i ~ /req\/s/) {print $(i-1); exit}}'
}
: >"$TMP/seg1"; : >"$TMP/seg3"; : >"$TMP/pl1"; : >"$TMP/pl3"
for _ in $(seq "$CL_ROUNDS"); do
    hammer 18691 "$SEG_PATH" >>"$TMP/seg1"
    hammer 18693 "$SEG_PATH" >>"$TMP/seg3"
    hammer 18691 "$PLAYLIST_PATH" >>"$TMP/pl1"
    hammer 18693 "$PLAYLIST_PATH" >>"$TMP/pl3"
done
S1=$(median <"$TMP/seg1"); S3=$(median <"$TMP/seg3")
P1=$(median <"$TMP/pl1"); P3=$(median <"$TMP/pl3")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }

OUT=$(cat <<EOF
| cluster, 3 nodes + 3-member etcd on loopback ($(nproc) CPUs) | figure |
|---|---|
| admin write (channel create on n1: one etcd transaction), median / worst of 30 | ${W_MED} ms / ${W_MAX} ms |
| convergence (write answered on n1 → listed on n3), median / worst of 30 | ${C_MED} ms / ${C_MAX} ms |
| ${CL_CHANNELS} channels + endpoints written one by one | ${PER_WRITE} ms per write |
| etcd database / all channel keys | $((DB_BYTES / 1024)) KiB / $((KEY_BYTES / 1024)) KiB |
| a node with an empty state directory starts and serves all $WANT channels | ${JOIN_MS} ms |
| one ${SEG_BYTES}-byte segment, req/s on n1 (local) / n3 (from n1, cached) | ${S1} / ${S3} (×$(ratio "$S3" "$S1")) |
| the playlist, req/s on n1 / n3 (fetched every 0.5 s) | ${P1} / ${P3} (×$(ratio "$P3" "$P1")) |

\`CL_CHANNELS=$CL_CHANNELS CL_SECONDS=$CL_SECONDS CL_ROUNDS=$CL_ROUNDS benches/cluster.sh\`, medians of $CL_ROUNDS alternated rounds, streampack-load hammer -c 64.
EOF
)
echo "$OUT"
if [ -n "${CL_WRITE:-}" ]; then
    echo "$OUT" >"$ROOT/benches/results/cluster.md"
fi
