#!/usr/bin/env bash
# streampack vs nginx, side by side on loopback, on the same media, in one run.
#
#   benches/side-by-side.sh                 # defaults: server on CPU 0, load generator on CPU 1
#   DUR=10 PLAYERS=500 benches/side-by-side.sh
#
# Builds release binaries, makes TS segments with ffmpeg (once: ~1 MiB at 720p 4 Mbit/s, and
# ~233 KB at 360p 800 kbit/s, what most live channels carry), starts streampackd (--cores
# $CORES) and nginx (same worker count, sendfile, open_file_cache, access_log off, WebDAV PUT)
# pinned to the same CPUs, and measures with the load generator pinned to the other CPUs:
#   playlist GET (wrk), 233 KB and 1 MiB segment GETs (h2load --h1), each as req/s and as the
#   server's CPU time per request (utime+stime of the server processes only, /proc/PID/stat),
#   the median of $ROUNDS alternated rounds; streampack-load hammer (segment req/s, playlist p99),
#   ingest (streampack-load encoders: PUT to streampack vs WebDAV PUT to nginx),
#   segment visibility (one real-time encoder, 0.25 s segments: last byte -> served playlist),
#   live players (streampack-load players on a live stream fed in real time),
#   streampack's io drivers (uring vs epoll), RSS against held media; time-shift: a segment
#   archived on disk (streampack) against nginx serving the very same file, and ingest with a
#   time-shift window on against off (steady real-time encoders, and back to back); TLS: the
#   playlist and the 1 MiB segment over HTTPS with HTTP/1.1 (h2load --h1 -c16) and HTTP/2
#   (h2load -c16 -m10), against nginx with `ssl http2` on the same copies, same certificate.
#   ONLY=tls runs the TLS rows alone.
# Prints a table of ratios (streampack / nginx) and writes it to $OUT.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CORES="${CORES:-1}"                 # streampack shards = nginx workers
SERVER_CPUS="${SERVER_CPUS:-0}"     # taskset list for both servers
LOAD_CPUS="${LOAD_CPUS:-1}"         # taskset list for every load generator
LOAD_THREADS="${LOAD_THREADS:-1}"
DUR="${DUR:-10}"                    # seconds per GET / ingest measurement
ROUNDS="${ROUNDS:-3}"               # GET rounds, nginx and streampack alternated; medians reported
PLAYERS="${PLAYERS:-500}"
PLAYERS_DUR="${PLAYERS_DUR:-20}"
VIS_DUR="${VIS_DUR:-30}"            # seconds of the visibility run (4 segments a second)
ENCODERS="${ENCODERS:-8}"
STEADY_ENCODERS="${STEADY_ENCODERS:-16}" # real-time encoders of the steady time-shift ingest run
MEM_CHANNELS="${MEM_CHANNELS:-100}"
MEM_SEGMENTS="${MEM_SEGMENTS:-10}"
IDLE_CHANNELS="${IDLE_CHANNELS:-1000}"
OUT="${OUT:-$ROOT/benches/results/latest.md}"
UPDATE_README="${UPDATE_README:-0}" # 1: the table also replaces README.md's benchmark table
ONLY="${ONLY:-}"                    # tls: only the TLS rows
SP_PULL=18480 SP_INGEST=18481 SP_METRICS=18482 NGX_PORT=18490 SP_TLS=18483 NGX_TLS_PORT=18491
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

log() { printf '\n== %s\n' "$*" >&2; }

need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need nginx || missing+=(nginx-light)
need wrk || missing+=(wrk)
need h2load || missing+=(nghttp2-client)
need ffmpeg || missing+=(ffmpeg)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

log "building release binaries"
# (`--bin` would apply to every `-p`: the daemon and the CLI are built on their own.)
(cd "$ROOT" && cargo build --release -q -p streampackd -p streampackctl \
    && cargo build --release -q -p streampack-benches --bin streampack-load)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
SPD="$BIN/streampackd" CTL="$BIN/streampackctl" LOAD="$BIN/streampack-load"

MEDIA="${CARGO_TARGET_DIR:-$ROOT/target}/bench-media"
if [ ! -f "$MEDIA/seg_00005.ts" ]; then
    log "making 1 MiB segments with ffmpeg (once, in $MEDIA)"
    mkdir -p "$MEDIA"
    # 720p at ~4 Mbit/s CBR: 2 s segments of ~1 MiB.
    ffmpeg -nostdin -loglevel error -f lavfi -i testsrc2=size=1280x720:rate=25 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 -t 12 -c:v libx264 -preset ultrafast \
        -g 50 -keyint_min 50 -sc_threshold 0 -b:v 3900k -maxrate 3900k -bufsize 2000k \
        -x264-params nal-hrd=cbr -c:a aac -b:a 96k -f hls -hls_time 2 -hls_list_size 0 \
        -hls_segment_filename "$MEDIA/seg_%05d.ts" "$MEDIA/main.m3u8"
fi
SEGS=("$MEDIA"/seg_0000[0-5].ts)
if [ ! -f "$MEDIA/small_00005.ts" ]; then
    log "making ~233 KB segments with ffmpeg (once, in $MEDIA)"
    # 360p at 800 kbit/s CBR: 2 s segments of ~233 KB.
    ffmpeg -nostdin -loglevel error -f lavfi -i testsrc2=size=640x360:rate=25 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 -t 12 -c:v libx264 -preset ultrafast \
        -g 50 -keyint_min 50 -sc_threshold 0 -b:v 800k -maxrate 800k -bufsize 400k \
        -x264-params nal-hrd=cbr -c:a aac -b:a 64k -f hls -hls_time 2 -hls_list_size 0 \
        -hls_segment_filename "$MEDIA/small_%05d.ts" "$MEDIA/small.m3u8"
fi
SMALL=("$MEDIA"/small_0000[0-5].ts)

WORK="$(mktemp -d /tmp/streampack-bench.XXXXXX)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
# One certificate for both servers' TLS listeners (ECDSA P-256, what CDNs and players favour).
openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 2 \
    -subj /CN=localhost -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
TLS_ARGS=(--pull-tls-listen "127.0.0.1:$SP_TLS" --tls-cert "$WORK/tls.crt" --tls-key "$WORK/tls.key")
# nginx's document root in memory, like streampack's media (tmpfs when available).
if [ -d /dev/shm ] && [ -w /dev/shm ]; then NGX_HOME="$(mktemp -d /dev/shm/streampack-bench-nginx.XXXXXX)"; else NGX_HOME="$WORK/nginx"; fi
trap 'cleanup; rm -rf "$NGX_HOME"' EXIT

L() { taskset -c "$LOAD_CPUS" "$LOAD" --threads "$LOAD_THREADS" "$@"; }
kv() { sed -n 's/^RESULT //p' | tr ' ' '\n' | sed -n "s/^$1=//p" | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mib() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1048576 }'; }
ms() { awk -v a="$1" 'BEGIN { printf "%.2f ms", a / 1000 }'; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

SP_PID=""
# start_sp DRIVER [DAEMON_ARGS...]: a fresh streampackd with an empty state directory ($SP_STATE).
start_sp() {
    stop_sp
    local driver="$1"; shift
    local st="$WORK/sp-$driver-$RANDOM"
    mkdir -p "$st"
    SP_STATE="$st"
    SOCK="$st/streampackd.sock"
    taskset -c "$SERVER_CPUS" "$SPD" --state-dir "$st" --admin-socket "$SOCK" \
        --cores "$CORES" --io-driver "$driver" --ingest-listen "127.0.0.1:$SP_INGEST" --pull-listen "127.0.0.1:$SP_PULL" \
        "$@" 2>"$st/log" &
    SP_PID=$!
    PIDS+=("$SP_PID")
    for _ in $(seq 100); do
        "$CTL" --socket "$SOCK" status >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    cat "$st/log" >&2
    return 1
}
stop_sp() {
    if [ -n "$SP_PID" ]; then
        kill "$SP_PID" 2>/dev/null || true
        wait "$SP_PID" 2>/dev/null || true
        SP_PID=""
    fi
}
ctl() { "$CTL" --socket "$SOCK" "$@"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# new_channel NAME [ARGS]: prints "INPUT_URL ENDPOINT_URL".
new_channel() {
    local name="$1"; shift
    local in ep
    in="$(ctl --json channel create --name "$name" --protocol hls "$@" | json '["inputs"][0]["url"]')"
    ep="$(ctl --json endpoint create "$name" --name web | json '["url"]')"
    echo "$in $ep"
}

start_nginx() {
    mkdir -p "$NGX_HOME/root/dav" "$NGX_HOME/tmp"
    local user=""
    [ "$(id -u)" = 0 ] && user="user root;"
    cat >"$NGX_HOME/nginx.conf" <<EOF
$user
worker_processes $CORES;
pid $NGX_HOME/nginx.pid;
error_log $NGX_HOME/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
    default_type application/octet-stream;
    client_body_temp_path $NGX_HOME/tmp;
    server {
        listen 127.0.0.1:$NGX_PORT reuseport;
        # The same copies over TLS with HTTP/2 (nginx 1.22: http2 on the listen line).
        # sendfile does not apply under TLS (no kTLS here, as for streampack).
        listen 127.0.0.1:$NGX_TLS_PORT ssl http2 reuseport;
        ssl_certificate $WORK/tls.crt;
        ssl_certificate_key $WORK/tls.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        root $NGX_HOME/root;
        add_header Access-Control-Allow-Origin "*";
        add_header Cache-Control "public, max-age=600";
        # Static copy of streampack's output: what nginx serves best.
        location /v1/ {
            open_file_cache max=10000 inactive=60s;
            open_file_cache_valid 60s;
            open_file_cache_min_uses 1;
            open_file_cache_errors on;
        }
        # Live ingest by WebDAV. No open_file_cache here: it would serve a replaced playlist
        # for up to open_file_cache_valid (players would see stale playlists).
        location /dav/ {
            dav_methods PUT DELETE;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
            client_max_body_size 64m;
            client_body_buffer_size 1m;
        }
    }
}
EOF
    taskset -c "$SERVER_CPUS" nginx -e "$NGX_HOME/error.log" -c "$NGX_HOME/nginx.conf" -g 'daemon off;' &
    NGX_PID=$!
    PIDS+=("$NGX_PID")
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$NGX_PORT/" && return 0
        sleep 0.05
    done
    cat "$NGX_HOME/error.log" >&2
    return 1
}

# mirror NAME SEGMENT_FILES...: pushes the segments into a new streampack channel and mirrors
# what streampack serves (its playlist and segments, same paths, fetched from it) into nginx's
# root. Prints "PLAYLIST_PATH SEGMENT_PATH", the segment being the third one pushed.
mirror() {
    local name="$1"; shift
    local t
    t="$(new_channel "$name")"
    echo "$t" >"$WORK/$name.targets"
    L encoders --targets "$WORK/$name.targets" --segments "$@" --count 6 >/dev/null
    local ep="${t#* }"
    local pl="/${ep#http://*/}"
    local dir="${pl%/*}"
    local body
    body="$(curl -sf "http://127.0.0.1:$SP_PULL$pl")"
    mkdir -p "$NGX_HOME/root$dir"
    printf '%s\n' "$body" >"$NGX_HOME/root$pl"
    local seg
    for seg in $(printf '%s\n' "$body" | grep -v '^#'); do
        mkdir -p "$(dirname "$NGX_HOME/root$dir/$seg")"
        curl -sf -o "$NGX_HOME/root$dir/$seg" "http://127.0.0.1:$SP_PULL$dir/$seg"
    done
    local third="$dir/$(printf '%s\n' "$body" | grep -v '^#' | sed -n 3p)"
    cmp -s "$NGX_HOME/root$pl" <(curl -sf "http://127.0.0.1:$SP_PULL$pl") ||
        { echo "mirrored playlist differs" >&2; return 1; }
    cmp -s "$NGX_HOME/root$third" "$3" || { echo "mirrored segment differs" >&2; return 1; }
    echo "$pl $third"
}

# setup_static: the 1 MiB and the 233 KB channels, mirrored. Sets PL_PATH, SEG_PATH, SMALL_PATH.
setup_static() {
    local big small
    big="$(mirror static "${SEGS[@]}")"
    small="$(mirror small "${SMALL[@]}")"
    PL_PATH="${big% *}" SEG_PATH="${big#* }" SMALL_PATH="${small#* }"
}

# cpu_ticks PID...: utime + stime of these processes (all their threads), in clock ticks.
cpu_ticks() {
    local t=0 p
    for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
    echo "$t"
}
CLK_TCK="$(getconf CLK_TCK)"
# server_pids KIND: the processes serving (streampackd; nginx's master and workers).
server_pids() {
    if [ "$1" = ngx ]; then echo "$NGX_PID" $(pgrep -P "$NGX_PID"); else echo "$SP_PID"; fi
}
# get_load KIND TOOL URL: runs wrk (-c64), h2load (--h1 -c16) or h2 (h2load, HTTP/2: -c16
# -m10) for DUR seconds; prints "REQ_PER_S CPU_US_PER_REQUEST", the CPU being the server's only.
get_load() {
    local pids t0 t1 out rps n
    pids="$(server_pids "$1")"
    # shellcheck disable=SC2086
    t0="$(cpu_ticks $pids)"
    if [ "$2" = wrk ]; then
        out="$(taskset -c "$LOAD_CPUS" wrk -t"$LOAD_THREADS" -c64 -d"${DUR}s" "$3")"
        rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")"
        n="$(awk '/ requests in / { print $1 }' <<<"$out")"
    else
        local proto=(--h1)
        [ "$2" = h2 ] && proto=(-m10)
        out="$(taskset -c "$LOAD_CPUS" h2load "${proto[@]}" -c16 -t"$LOAD_THREADS" -D "$DUR" "$3" 2>/dev/null)"
        rps="$(awk '/^finished in/ { gsub(",", ""); print $4 }' <<<"$out")"
        n="$(awk '/^requests:/ { print $8 }' <<<"$out")"
    fi
    # shellcheck disable=SC2086
    t1="$(cpu_ticks $pids)"
    awk -v r="$rps" -v n="$n" -v d="$((t1 - t0))" -v hz="$CLK_TCK" \
        'BEGIN { printf "%s %.2f\n", r, (n > 0) ? d * 1e6 / hz / n : 0 }'
}

declare -A R
declare -A S
# sample KEY VALUE: one round's value; the table reports the median of a key's samples.
sample() { S[$1]="${S[$1]:-} $2"; }
median() {
    tr ' ' '\n' <<<"${S[$1]:-}" | grep -v '^$' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# keep KEY VALUE [min]: the best value seen (the streampack-load rows, measured once a round).
keep() {
    local old="${R[$1]:-}"
    if [ -z "$old" ] || awk -v n="$2" -v o="$old" -v m="${3:-max}" 'BEGIN { exit !((m == "max") ? n > o : n < o) }'; then
        R[$1]="$2"
    fi
}
measure_gets() { # KIND BASE_URL
    local r
    r="$(get_load "$1" wrk "$2$PL_PATH")"
    sample "$1.playlist" "${r% *}"; sample "$1.playlist_cpu" "${r#* }"
    r="$(get_load "$1" h2load "$2$SMALL_PATH")"
    sample "$1.small" "${r% *}"; sample "$1.small_cpu" "${r#* }"
    r="$(get_load "$1" h2load "$2$SEG_PATH")"
    sample "$1.segment_h2load" "${r% *}"; sample "$1.segment_cpu" "${r#* }"
}
measure_hammer() { # KIND BASE_URL
    local out
    out="$(L hammer -c16 -d "$DUR" "$2$SEG_PATH")"
    keep "$1.segment_load" "$(kv req_per_s <<<"$out")"
    out="$(L hammer -c64 -d "$DUR" "$2$PL_PATH")"
    keep "$1.playlist_p99" "$(kv p99_us <<<"$out")" min
}

if [ "$ONLY" != tls ]; then
log "GETs: nginx (a static copy of streampack's output), streampack io_uring, streampack epoll"
# Every round measures all three one right after the other (nginx, io_uring, epoll, nginx), so a
# change in other people's load between phases cannot land in one ratio only.
start_nginx
for round in $(seq "$ROUNDS"); do
    start_sp uring
    setup_static
    measure_gets ngx "http://127.0.0.1:$NGX_PORT"
    measure_gets uring "http://127.0.0.1:$SP_PULL"
    if [ "$round" = 1 ]; then
        measure_hammer ngx "http://127.0.0.1:$NGX_PORT"
        measure_hammer uring "http://127.0.0.1:$SP_PULL"
    fi
    start_sp epoll
    setup_static
    measure_gets epoll "http://127.0.0.1:$SP_PULL"
    measure_gets ngx "http://127.0.0.1:$NGX_PORT"
done
for k in playlist playlist_cpu small small_cpu segment_h2load segment_cpu; do
    for kind in ngx uring epoll; do R[$kind.$k]="$(median "$kind.$k")"; done
done

# setup_archived: a channel keeping a time-shift window and a 6 s live window, six 1 MiB
# segments pushed: the first ones left the live window and are served from the archive on disk.
# nginx serves the very same files (a symlink into streampack's media_dir). Sets ARCH_PATH
# (streampack) and ARCH_NGX_PATH (nginx).
setup_archived() {
    local t in ep pl dir uri chid
    t="$(new_channel archived --timeshift-window 3600 --max-playlist-duration 6 --max-segment-duration 2)"
    echo "$t" >"$WORK/archived.targets"
    L encoders --targets "$WORK/archived.targets" --segments "${SEGS[@]}" --count 6 >/dev/null
    ep="${t#* }" pl="/${ep#http://*/}" dir="${pl%/*}"
    chid="$(cut -d/ -f3 <<<"$pl")"
    local shifted live
    for _ in $(seq 100); do
        shifted="$(curl -sf "http://127.0.0.1:$SP_PULL$pl?start=$(($(date +%s) - 60))" || true)"
        [ "$(grep -vc '^#' <<<"$shifted")" -ge 6 ] && break
        sleep 0.1
    done
    live="$(curl -sf "http://127.0.0.1:$SP_PULL$pl")"
    uri="$(grep -v '^#' <<<"$shifted" | head -1)"
    if grep -qxF "$uri" <<<"$live"; then echo "$uri is still live: not an archived segment" >&2; return 1; fi
    rm -f "$NGX_HOME/root/archive"
    ln -s "$SP_STATE/media/$chid/hls" "$NGX_HOME/root/archive"
    ARCH_PATH="$dir/$uri" ARCH_NGX_PATH="/archive/$uri"
    cmp -s <(curl -sf "http://127.0.0.1:$SP_PULL$ARCH_PATH") <(curl -sf "http://127.0.0.1:$NGX_PORT$ARCH_NGX_PATH") ||
        { echo "archived segment differs between streampack and nginx" >&2; return 1; }
}

log "time-shift: an archived 1 MiB segment from disk, streampack vs nginx on the same file"
for round in $(seq "$ROUNDS"); do
    start_sp uring
    setup_archived
    for kind in ngx uring ngx; do
        if [ "$kind" = ngx ]; then url="http://127.0.0.1:$NGX_PORT$ARCH_NGX_PATH"; else url="http://127.0.0.1:$SP_PULL$ARCH_PATH"; fi
        r="$(get_load "$kind" h2load "$url")"
        sample "$kind.archived" "${r% *}"; sample "$kind.archived_cpu" "${r#* }"
    done
done
for k in archived archived_cpu; do
    for kind in ngx uring; do R[$kind.$k]="$(median "$kind.$k")"; done
done

log "ingest: $ENCODERS encoders back to back, ${DUR}s"
start_sp uring
: >"$WORK/sp.targets"
: >"$WORK/ngx.targets"
for i in $(seq "$ENCODERS"); do
    new_channel "enc$i" --max-playlist-duration 60 >>"$WORK/sp.targets"
    echo "http://127.0.0.1:$NGX_PORT/dav/enc$i/ http://127.0.0.1:$NGX_PORT/dav/enc$i/main.m3u8" >>"$WORK/ngx.targets"
done
out="$(L encoders --targets "$WORK/sp.targets" --segments "${SEGS[@]}" -d "$DUR" --delete)"
echo "$out" >&2
R[sp.ingest]="$(kv bytes_per_s <<<"$out")"
R[sp.ingest_vis_p99]="$(kv visible_p99_us <<<"$out")"
out="$(L encoders --targets "$WORK/ngx.targets" --segments "${SEGS[@]}" -d "$DUR" --delete)"
echo "$out" >&2
R[ngx.ingest]="$(kv bytes_per_s <<<"$out")"
R[ngx.ingest_vis_p99]="$(kv visible_p99_us <<<"$out")"

# live: one encoder in real time (2 s segments), $PLAYERS players following it.
live() { # PREFIX TARGET_LINE PLAYLIST_URL
    echo "$2" >"$WORK/live.targets"
    L encoders --targets "$WORK/live.targets" --segments "${SEGS[@]}" --realtime --delete \
        -d $((PLAYERS_DUR + 8)) >"$WORK/live.out" &
    local enc=$!
    sleep 5
    local out
    out="$(L players -n "$PLAYERS" -d "$PLAYERS_DUR" "$3")"
    echo "$out" >&2
    wait "$enc" || true
    cat "$WORK/live.out" >&2
    R[$1.players_well]="$(kv served_well <<<"$out")"
    R[$1.players]="$(kv players <<<"$out")"
    R[$1.seg_p99]="$(kv seg_p99_us <<<"$out")"
    R[$1.live_vis_p99]="$(kv visible_p99_us <"$WORK/live.out")"
    R[$1.live_vis_p50]="$(kv visible_p50_us <"$WORK/live.out")"
}
# visibility: one real-time encoder alone, short segments so the p99 rests on VIS_DUR * 4
# samples (the live run below has only ~15). The channel's window is short, so most of the
# run is the steady state of a live channel (old segments freed as new ones arrive).
visibility() { # PREFIX TARGET_LINE
    echo "$2" >"$WORK/vis.targets"
    local out
    out="$(L encoders --targets "$WORK/vis.targets" --segments "${SEGS[@]}" --realtime --delete \
        --segment-duration 0.25 -d "$VIS_DUR")"
    echo "$out" >&2
    R[$1.vis_p50]="$(kv visible_p50_us <<<"$out")"
    R[$1.vis_p99]="$(kv visible_p99_us <<<"$out")"
    R[$1.vis_n]="$(kv segments <<<"$out")"
}
log "visibility: one real-time encoder, 0.25 s segments, ${VIS_DUR}s"
t="$(new_channel vis --max-playlist-duration 6 --max-segment-duration 2)"
visibility sp "$t"
visibility ngx "http://127.0.0.1:$NGX_PORT/dav/vis/ http://127.0.0.1:$NGX_PORT/dav/vis/main.m3u8"

log "live players: $PLAYERS players, ${PLAYERS_DUR}s"
t="$(new_channel live)"
live sp "$t" "${t#* }"
live ngx "http://127.0.0.1:$NGX_PORT/dav/live/ http://127.0.0.1:$NGX_PORT/dav/live/main.m3u8" \
    "http://127.0.0.1:$NGX_PORT/dav/live/main.m3u8"

log "memory: $MEM_CHANNELS channels x $MEM_SEGMENTS segments"
start_sp uring
: >"$WORK/mem.targets"
for i in $(seq "$MEM_CHANNELS"); do
    new_channel "mem$i" | cut -d' ' -f1 >>"$WORK/mem.targets"
done
L encoders --targets "$WORK/mem.targets" --segments "${SEGS[@]}" --count "$MEM_SEGMENTS" -d 600 >/dev/null
sleep 1.5 # an owner tick: the snapshot's held_bytes is current
R[mem.rss_kib]="$(rss_kib "$SP_PID")"
R[mem.held]="$(ctl --json status | json '["held_bytes"]')"

log "memory: $IDLE_CHANNELS idle channels"
start_sp uring
R[idle.rss0_kib]="$(rss_kib "$SP_PID")"
for i in $(seq "$IDLE_CHANNELS"); do ctl channel create --name "idle$i" --protocol hls >/dev/null; done
sleep 1
R[idle.rss_kib]="$(rss_kib "$SP_PID")"
stop_sp

# writer_ticks PID: CPU ticks of the daemon's time-shift writer thread (`timeshift-store`).
writer_ticks() {
    local t=0 f
    for f in /proc/"$1"/task/*/stat; do
        if [ "$(cut -d'(' -f2 "$f" | cut -d')' -f1)" = timeshift-store ]; then
            t=$((t + $(awk '{ print $14 + $15 }' "$f")))
        fi
    done
    echo "$t"
}
# ingest_run KEY MODE [CHANNEL_ARGS...]: encoders into fresh channels for DUR seconds, MODE
# `b2b` ($ENCODERS encoders back to back, as fast as the server takes them) or `steady`
# ($STEADY_ENCODERS real-time encoders of 1 MiB segments every 0.25 s: a rate the disk keeps up
# with). Samples KEY.MODE (MiB/s), KEY.MODE_cpu (server CPU µs per MiB ingested on the ingest
# path: every thread but the archive writer), KEY.MODE_writer (the archive writer's CPU µs per
# MiB), KEY.MODE_put_p99 and KEY.MODE_vis_p99 (µs), KEY.MODE_dropped (objects not archived).
ingest_run() {
    local key="$1.$2" mode="$2"; shift 2
    start_sp uring --storage-max-bytes $((2 << 30)) --metrics-listen "127.0.0.1:$SP_METRICS"
    local n="$ENCODERS" enc_args=()
    if [ "$mode" = steady ]; then n="$STEADY_ENCODERS" enc_args=(--realtime --segment-duration 0.25); fi
    : >"$WORK/ts.targets"
    for i in $(seq "$n"); do
        new_channel "ts$i" --max-playlist-duration 60 "$@" >>"$WORK/ts.targets"
    done
    local t0 t1 w0 w1 out bps
    sync # what earlier runs left dirty is written back before this one is measured
    t0="$(cpu_ticks "$SP_PID")" w0="$(writer_ticks "$SP_PID")"
    out="$(L encoders --targets "$WORK/ts.targets" --segments "${SEGS[@]}" -d "$DUR" --delete "${enc_args[@]}")"
    sleep 1 # the writer's queue drains into the same CPU time
    t1="$(cpu_ticks "$SP_PID")" w1="$(writer_ticks "$SP_PID")"
    bps="$(kv bytes_per_s <<<"$out")"
    per_mib() { awk -v d="$1" -v hz="$CLK_TCK" -v b="$bps" -v s="$DUR" 'BEGIN { printf "%.1f", d * 1e6 / hz / (b * s / 1048576) }'; }
    sample "$key" "$bps"
    sample "${key}_cpu" "$(per_mib $((t1 - t0 - (w1 - w0))))"
    sample "${key}_writer" "$(per_mib $((w1 - w0)))"
    sample "${key}_put_p99" "$(kv put_p99_us <<<"$out")"
    sample "${key}_vis_p99" "$(kv visible_p99_us <<<"$out")"
    sample "${key}_dropped" "$(curl -s "http://127.0.0.1:$SP_METRICS/metrics" |
        awk '/^streampack_timeshift_dropped_total/ { s += $2 } END { print s + 0 }')"
    # Its archive leaves the page cache and the disk before the next run.
    stop_sp
    rm -rf "$SP_STATE"
}
log "ingest with and without a time-shift window: steady and back to back, ${DUR}s, $ROUNDS rounds (last: it fills the page cache)"
for round in $(seq "$ROUNDS"); do
    for mode in steady b2b; do
        ingest_run ts.off "$mode"
        ingest_run ts.on "$mode" --timeshift-window 3600
    done
done
for mode in steady b2b; do
    for k in "" _cpu _writer _put_p99 _vis_p99 _dropped; do
        for w in on off; do R[ts.$w.$mode$k]="$(median "ts.$w.$mode$k")"; done
    done
done

fi # ONLY != tls

# measure_tls KIND BASE_URL: the playlist and the 1 MiB segment over TLS, HTTP/1.1 and HTTP/2.
measure_tls() {
    local r tool what path
    for what in pl seg; do
        if [ "$what" = pl ]; then path="$PL_PATH"; else path="$SEG_PATH"; fi
        for tool in h2load h2; do
            r="$(get_load "$1" "$tool" "$2$path")"
            sample "$1.tls_${what}_$tool" "${r% *}"; sample "$1.tls_${what}_${tool}_cpu" "${r#* }"
        done
    done
}
log "TLS: playlist and 1 MiB segment over HTTPS, HTTP/1.1 and HTTP/2, streampack vs nginx ssl http2"
[ -n "${NGX_PID:-}" ] && kill -0 "$NGX_PID" 2>/dev/null || start_nginx
for round in $(seq "$ROUNDS"); do
    start_sp uring "${TLS_ARGS[@]}"
    setup_static
    for kind in ngx uring ngx; do
        if [ "$kind" = ngx ]; then base="https://127.0.0.1:$NGX_TLS_PORT"; else base="https://127.0.0.1:$SP_TLS"; fi
        measure_tls "$kind" "$base"
    done
done
for what in pl seg; do
    for tool in h2load h2; do
        for kind in ngx uring; do
            R[$kind.tls_${what}_$tool]="$(median "$kind.tls_${what}_$tool")"
            R[$kind.tls_${what}_${tool}_cpu]="$(median "$kind.tls_${what}_${tool}_cpu")"
        done
    done
done
TLS_CIPHER="$(openssl s_client -connect "127.0.0.1:$SP_TLS" </dev/null 2>/dev/null | awk '/Cipher is/ { print $NF; exit }')"
NGX_CIPHER="$(openssl s_client -connect "127.0.0.1:$NGX_TLS_PORT" </dev/null 2>/dev/null | awk '/Cipher is/ { print $NF; exit }')"
stop_sp

kill "$NGX_PID" 2>/dev/null || true

tls_table() {
    echo "| over TLS (same certificate, ECDSA P-256) | streampack | nginx ssl http2 | ratio (streampack / nginx) | target |"
    echo "| --- | ---: | ---: | ---: | --- |"
    local what tool label
    for what in pl seg; do
        for tool in h2load h2; do
            if [ "$what" = pl ]; then label="playlist"; else label="1 MiB segment"; fi
            if [ "$tool" = h2 ]; then label="$label GET, HTTP/2, h2load -c16 -m10"; else label="$label GET, HTTP/1.1, h2load --h1 -c16"; fi
            local a="${R[uring.tls_${what}_$tool]}" b="${R[ngx.tls_${what}_$tool]}"
            local ac="${R[uring.tls_${what}_${tool}_cpu]}" bc="${R[ngx.tls_${what}_${tool}_cpu]}"
            echo "| $label (req/s) | $a | $b | $(ratio "$a" "$b") | ≥ 1.2 |"
            echo "| same: server CPU µs per request | $ac | $bc | $(ratio "$ac" "$bc") | |"
        done
    done
    echo
    echo "TLS 1.3 cipher negotiated with h2load's OpenSSL: streampack $TLS_CIPHER, nginx $NGX_CIPHER. Run $(date -u '+%Y-%m-%d %H:%M UTC'); servers on CPU $SERVER_CPUS ($CORES shard/worker), load on CPU $LOAD_CPUS; DUR=${DUR}s; medians of $ROUNDS rounds (nginx, streampack, nginx in turn)."
}

if [ "$ONLY" = tls ]; then
    tls_table >"$WORK/table.md"
    mkdir -p "$(dirname "$OUT")"
    cp "$WORK/table.md" "$OUT"
    echo
    cat "$OUT"
    exit 0
fi

mem_ratio="$(awk -v r="${R[mem.rss_kib]}" -v h="${R[mem.held]}" 'BEGIN { printf "%.3f", r * 1024 / h }')"
{
    echo "| measurement | streampack | nginx | ratio (streampack / nginx) | target |"
    echo "| --- | ---: | ---: | ---: | --- |"
    echo "| playlist GET, wrk -c64 (req/s) | ${R[uring.playlist]} | ${R[ngx.playlist]} | $(ratio "${R[uring.playlist]}" "${R[ngx.playlist]}") | ≥ 1.2 |"
    echo "| playlist GET: server CPU µs per request | ${R[uring.playlist_cpu]} | ${R[ngx.playlist_cpu]} | $(ratio "${R[uring.playlist_cpu]}" "${R[ngx.playlist_cpu]}") | ≤ 0.8 |"
    echo "| 233 KB segment GET, h2load --h1 -c16 (req/s) | ${R[uring.small]} | ${R[ngx.small]} | $(ratio "${R[uring.small]}" "${R[ngx.small]}") | ≥ 1.0 |"
    echo "| 233 KB segment GET: server CPU µs per request | ${R[uring.small_cpu]} | ${R[ngx.small_cpu]} | $(ratio "${R[uring.small_cpu]}" "${R[ngx.small_cpu]}") | ≤ 0.9 |"
    echo "| 1 MiB segment GET, h2load --h1 -c16 (req/s) | ${R[uring.segment_h2load]} | ${R[ngx.segment_h2load]} | $(ratio "${R[uring.segment_h2load]}" "${R[ngx.segment_h2load]}") | ≥ 1.0 |"
    echo "| 1 MiB segment GET: server CPU µs per request | ${R[uring.segment_cpu]} | ${R[ngx.segment_cpu]} | $(ratio "${R[uring.segment_cpu]}" "${R[ngx.segment_cpu]}") | ≤ 0.9 |"
    echo "| 1 MiB segment GET, streampack-load -c16 (req/s, round 1) | ${R[uring.segment_load]} | ${R[ngx.segment_load]} | $(ratio "${R[uring.segment_load]}" "${R[ngx.segment_load]}") | ≥ 1.0 |"
    echo "| playlist GET p99 latency, streampack-load -c64 (round 1) | $(ms "${R[uring.playlist_p99]}") | $(ms "${R[ngx.playlist_p99]}") | $(ratio "${R[uring.playlist_p99]}" "${R[ngx.playlist_p99]}") | (lower is better) |"
    echo "| archived (time-shift, on disk) 1 MiB segment GET, h2load --h1 -c16 (req/s); nginx on the same file | ${R[uring.archived]} | ${R[ngx.archived]} | $(ratio "${R[uring.archived]}" "${R[ngx.archived]}") | ≥ 0.8 |"
    echo "| archived 1 MiB segment GET: server CPU µs per request | ${R[uring.archived_cpu]} | ${R[ngx.archived_cpu]} | $(ratio "${R[uring.archived_cpu]}" "${R[ngx.archived_cpu]}") | |"
    echo "| ingest, $ENCODERS encoders back to back (MiB/s) | $(mib "${R[sp.ingest]}") | $(mib "${R[ngx.ingest]}") (WebDAV) | $(ratio "${R[sp.ingest]}" "${R[ngx.ingest]}") | ≥ 3 |"
    echo "| segment last byte → in served playlist, p99, one real-time encoder (${R[sp.vis_n]} segments) | $(ms "${R[sp.vis_p99]}") | $(ms "${R[ngx.vis_p99]}") | $(ratio "${R[sp.vis_p99]}" "${R[ngx.vis_p99]}") | ≤ 1 ms |"
    echo "| same, p50 | $(ms "${R[sp.vis_p50]}") | $(ms "${R[ngx.vis_p50]}") | $(ratio "${R[sp.vis_p50]}" "${R[ngx.vis_p50]}") | |"
    echo "| same, p99 while $PLAYERS players follow it (2 s segments) | $(ms "${R[sp.live_vis_p99]}") | $(ms "${R[ngx.live_vis_p99]}") | $(ratio "${R[sp.live_vis_p99]}" "${R[ngx.live_vis_p99]}") | |"
    echo "| same, p99 under back-to-back ingest of $ENCODERS encoders | $(ms "${R[sp.ingest_vis_p99]}") | $(ms "${R[ngx.ingest_vis_p99]}") | $(ratio "${R[sp.ingest_vis_p99]}" "${R[ngx.ingest_vis_p99]}") | |"
    echo "| live players served every segment in time | ${R[sp.players_well]}/${R[sp.players]} | ${R[ngx.players_well]}/${R[ngx.players]} | $(ratio "${R[sp.players_well]}" "${R[ngx.players_well]}") | all |"
    echo "| live players: segment fetch p99 | $(ms "${R[sp.seg_p99]}") | $(ms "${R[ngx.seg_p99]}") | $(ratio "${R[sp.seg_p99]}" "${R[ngx.seg_p99]}") | |"
    echo
    echo "| streampack io driver | epoll | io_uring | epoll / io_uring |"
    echo "| --- | ---: | ---: | ---: |"
    echo "| playlist GET, wrk (req/s) | ${R[epoll.playlist]} | ${R[uring.playlist]} | $(ratio "${R[epoll.playlist]}" "${R[uring.playlist]}") |"
    echo "| playlist GET: server CPU µs per request | ${R[epoll.playlist_cpu]} | ${R[uring.playlist_cpu]} | $(ratio "${R[epoll.playlist_cpu]}" "${R[uring.playlist_cpu]}") |"
    echo "| 233 KB segment GET, h2load (req/s) | ${R[epoll.small]} | ${R[uring.small]} | $(ratio "${R[epoll.small]}" "${R[uring.small]}") |"
    echo "| 233 KB segment GET: server CPU µs per request | ${R[epoll.small_cpu]} | ${R[uring.small_cpu]} | $(ratio "${R[epoll.small_cpu]}" "${R[uring.small_cpu]}") |"
    echo "| 1 MiB segment GET, h2load (req/s) | ${R[epoll.segment_h2load]} | ${R[uring.segment_h2load]} | $(ratio "${R[epoll.segment_h2load]}" "${R[uring.segment_h2load]}") |"
    echo "| 1 MiB segment GET: server CPU µs per request | ${R[epoll.segment_cpu]} | ${R[uring.segment_cpu]} | $(ratio "${R[epoll.segment_cpu]}" "${R[uring.segment_cpu]}") |"
    echo
    echo "| streampack ingest with a time-shift window | on | off | on / off | target |"
    echo "| --- | ---: | ---: | ---: | --- |"
    echo "| steady, $STEADY_ENCODERS real-time encoders (1 MiB every 0.25 s each): ingest (MiB/s) | $(mib "${R[ts.on.steady]}") | $(mib "${R[ts.off.steady]}") | $(ratio "${R[ts.on.steady]}" "${R[ts.off.steady]}") | |"
    echo "| steady: ingest-path CPU µs per MiB (every thread but the archive writer) | ${R[ts.on.steady_cpu]} | ${R[ts.off.steady_cpu]} | $(ratio "${R[ts.on.steady_cpu]}" "${R[ts.off.steady_cpu]}") | ≤ 1.1 |"
    echo "| steady: PUT p99 | $(ms "${R[ts.on.steady_put_p99]}") | $(ms "${R[ts.off.steady_put_p99]}") | $(ratio "${R[ts.on.steady_put_p99]}" "${R[ts.off.steady_put_p99]}") | ≤ 1.1 |"
    echo "| steady: segment last byte → in served playlist, p99 | $(ms "${R[ts.on.steady_vis_p99]}") | $(ms "${R[ts.off.steady_vis_p99]}") | $(ratio "${R[ts.on.steady_vis_p99]}" "${R[ts.off.steady_vis_p99]}") | ≤ 1.1 |"
    echo "| steady: archive writer CPU µs per MiB (its own thread, off the ingest path) | ${R[ts.on.steady_writer]} | – | | |"
    echo "| steady: segments not archived | ${R[ts.on.steady_dropped]} | – | | 0 |"
    echo "| back to back, $ENCODERS encoders, writer on the server's one CPU: ingest (MiB/s) | $(mib "${R[ts.on.b2b]}") | $(mib "${R[ts.off.b2b]}") | $(ratio "${R[ts.on.b2b]}" "${R[ts.off.b2b]}") | |"
    echo "| back to back: ingest-path CPU µs per MiB | ${R[ts.on.b2b_cpu]} | ${R[ts.off.b2b_cpu]} | $(ratio "${R[ts.on.b2b_cpu]}" "${R[ts.off.b2b_cpu]}") | ≤ 1.1 |"
    echo "| back to back: archive writer CPU µs per MiB | ${R[ts.on.b2b_writer]} | – | | |"
    echo "| back to back: segments not archived (the disk fell behind; counted, live untouched) | ${R[ts.on.b2b_dropped]} | – | | |"
    echo
    tls_table
    echo
    echo "| memory | value | target |"
    echo "| --- | ---: | --- |"
    echo "| RSS / held media, $MEM_CHANNELS channels × $MEM_SEGMENTS segments | $((R[mem.rss_kib] / 1024)) MiB / $(mib "${R[mem.held]}") MiB = $mem_ratio | ≤ 1.1 |"
    echo "| RSS with $IDLE_CHANNELS idle channels (empty daemon: $((R[idle.rss0_kib] / 1024)) MiB) | $((R[idle.rss_kib] / 1024)) MiB | < 100 MiB |"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs ($(uname -r)); servers on CPU $SERVER_CPUS ($CORES shard/worker), load generators on CPU $LOAD_CPUS; DUR=${DUR}s; GETs (wrk, h2load): medians of $ROUNDS rounds, each measuring nginx, streampack io_uring, streampack epoll, nginx in turn (nginx: median of $((2 * ROUNDS))); CPU per request = the server's utime+stime over the run / requests completed; nginx serves byte-identical copies fetched from streampack; load average before/after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg)."
} >"$WORK/table.md"
mkdir -p "$(dirname "$OUT")"
cp "$WORK/table.md" "$OUT"
if [ "$UPDATE_README" = 1 ]; then
    # Between the markers in README.md's Benchmarks section.
    python3 - "$ROOT/README.md" "$WORK/table.md" <<'PY'
import sys
readme, table = sys.argv[1], open(sys.argv[2]).read().rstrip("\n")
text = open(readme).read()
begin, end = "<!-- side-by-side table: begin -->", "<!-- side-by-side table: end -->"
a, b = text.index(begin) + len(begin), text.index(end)
open(readme, "w").write(text[:a] + "\n" + table + "\n" + text[b:])
PY
fi
echo
cat "$OUT"
