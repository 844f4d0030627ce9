#!/usr/bin/env bash
# A whole streampack cluster on one machine, to try cluster mode (docs/cluster.md): a
# three-member etcd (Debian's etcd-server) and three streampackd nodes, all on loopback, with
# their state in a temporary directory. Ctrl-C stops everything and removes it.
#
#   apt-get install etcd-server        # once
#   bash docs/cluster-local.sh         # from the repository (builds the binaries once)
#
# Node a pulls on 127.0.0.1:18101 and takes pushes on :18201, b on :18102/:18202, c on
# :18103/:18203; each node's admin socket is printed. Then, in another terminal:
#
#   ctl() { target/release/streampackctl --socket "$DIR/a.sock" "$@"; }   # $DIR as printed
#   ctl channel create --name news --protocol hls --max-segment-duration 2
#   ctl endpoint create news --name web
#   target/release/streampackctl --socket "$DIR/c.sock" channel list   # the same, on node c
#   # the primary encoder to node a, the backup to node b (same paths, other hosts):
#   ffmpeg -re -f lavfi -i testsrc2 -c:v libx264 -g 50 -f hls -hls_time 2 -method PUT \
#       "$(ctl --json channel show news | jq -r '.inputs[0].url')/main.m3u8"
#   ffmpeg -re -f lavfi -i testsrc2 -c:v libx264 -g 50 -f hls -hls_time 2 -method PUT \
#       "$(ctl --json channel show news | jq -r '.inputs[1].url' | sed 's/:18201/:18202/')/main.m3u8"
#   ctl cluster status                             # a receives news/primary, b news/backup
#   # play the endpoint from any node: replace :18101 in its URL by :18102 or :18103
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
command -v etcd >/dev/null || { echo "needs etcd: apt-get install etcd-server" >&2; exit 1; }
(cd "$ROOT" && cargo build --release -q -p streampackd -p streampackctl)
BIN="$ROOT/target/release"
DIR="$(mktemp -d /tmp/streampack-cluster.XXXXXX)"
PIDS=()
stop() {
    trap - EXIT INT TERM
    kill "${PIDS[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$DIR"
    exit 0
}
trap stop EXIT INT TERM

initial="" urls=""
for i in 1 2 3; do
    initial+="${initial:+,}e$i=http://127.0.0.1:$((2390 + i))"
    urls+="${urls:+,}http://127.0.0.1:$((2370 + i))"
done
for i in 1 2 3; do
    etcd --name "e$i" --data-dir "$DIR/etcd$i" \
        --listen-client-urls "http://127.0.0.1:$((2370 + i))" \
        --advertise-client-urls "http://127.0.0.1:$((2370 + i))" \
        --listen-peer-urls "http://127.0.0.1:$((2390 + i))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((2390 + i))" \
        --initial-cluster "$initial" --initial-cluster-state new \
        --auto-compaction-retention 1h >"$DIR/etcd$i.log" 2>&1 &
    PIDS+=($!)
done
for i in 1 2 3; do
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$((2370 + i))/health" | grep -q true && break
        sleep 0.1
    done
done
n=0
for node in a b c; do
    n=$((n + 1))
    "$BIN/streampackd" --cluster-etcd "$urls" --node-name "$node" \
        --state-dir "$DIR/$node" --admin-socket "$DIR/$node.sock" \
        --pull-listen "127.0.0.1:$((18100 + n))" --ingest-listen "127.0.0.1:$((18200 + n))" \
        --metrics-listen "127.0.0.1:$((18300 + n))" >"$DIR/$node.log" 2>&1 &
    PIDS+=($!)
done
for node in a b c; do
    for _ in $(seq 100); do
        "$BIN/streampackctl" --socket "$DIR/$node.sock" cluster status 2>/dev/null |
            grep -q "^etcd: *connected" && break
        sleep 0.1
    done
done
sleep 1
"$BIN/streampackctl" --socket "$DIR/a.sock" cluster status
echo
echo "DIR=$DIR   (admin sockets: \$DIR/a.sock, \$DIR/b.sock, \$DIR/c.sock; logs: \$DIR/*.log)"
echo "Ctrl-C stops the cluster and removes \$DIR."
while sleep 1; do :; done
