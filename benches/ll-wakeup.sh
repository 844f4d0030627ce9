#!/usr/bin/env bash
# LL-HLS blocking playlist reloads at scale: "waiting costs nothing". 10,000 parked requests per
# daemon shard, each woken by every new part; how long the server takes to answer all of them
# (wake-up spread), and what holding them costs the daemon (CPU, RSS, threads, descriptors).
#
#   benches/ll-wakeup.sh                          # 10000 x shards players (one shard per CPU), 30 s
#   LL_PLAYERS=200 LL_SECONDS=10 benches/ll-wakeup.sh
#   LL_CHANNELS=100 benches/ll-wakeup.sh          # the same players spread over 100 channels
#
# Builds release binaries, starts streampackd on loopback with a fresh state directory, creates a
# dash channel and a low-latency cmaf endpoint, pushes ffmpeg's low-latency DASH (0.5 s chunks,
# 2 s segments) into it in real time, waits for the LL-HLS playlist, measures the daemon with
# the encoder alone (baseline), then runs `streampack-load ll-players` on v0.m3u8: every player
# keeps one blocking reload (`_HLS_msn`/`_HLS_part`) parked for the next part, ~2 parts a second.
# The daemon's CPU is measured while parts arrive (every player woken twice a second), and for
# the last LL_IDLE seconds with the encoder paused (SIGSTOP): every request parked and nothing
# to wake them, what waiting itself costs.
# With LL_CHANNELS=K > 1, the players are spread over K channels, as an origin behind a CDN holds
# them (one blocking request per edge, playlist and part: a few per playlist, over many): K dash
# channels each with a low-latency cmaf endpoint, fed by `streampack-load ll-encoders`, which
# replays one ffmpeg low-latency DASH capture (made first, 20 s, same settings as above) into all
# K in real time (each segment one chunked PUT sent a CMAF chunk at a time, then the MPD; the
# channels' starts spread over one chunk, 0.5 s), and the players round-robin over the K
# channels' v0.m3u8; each part then wakes only the players of its own playlist.
# The wake-up spread is measured at the clients: for each part of each playlist, first answer ->
# each other parked answer (each parked request's wake-to-answer latency), by the kernel's receive timestamps of the answers (on loopback: when the daemon
# wrote them), and also by when the players read them (which adds the load generator's own
# reading of thousands of answers, on the same CPUs).
#
# Environment:
#   LL_PLAYERS    players (default 10000 x LL_CORES)
#   LL_CHANNELS   channels the players are spread over (1: one channel fed by ffmpeg)
#   LL_CAPTURE    with LL_CHANNELS > 1: a directory for the capture, reused when it holds one
#                 (default: made afresh in the run's temporary directory)
#   LL_SECONDS    length of the run (30)
#   LL_RAMP       player starts spread over this many seconds (1 per 4000 players)
#   LL_IDLE       the encoder paused for the last seconds of the run (4; under 3 target
#                 durations, 6 s, after which parked requests would be answered 503)
#   LL_CORES      daemon shards (default: CPUs); LOAD_THREADS load generator threads (LL_CORES)
#   SERVER_CPUS / LOAD_CPUS  taskset CPU lists for the daemon, and for the load generator and
#                 ffmpeg (unset: no pinning); e.g. LL_CORES=1 SERVER_CPUS=0 LOAD_CPUS=1
#   IO_DRIVER     the daemon's io driver (auto); SP_PULL / SP_INGEST ports (18580 / 18581)
#   LL_SKIP_BUILD=1  use the release binaries already built
#   LL_DUMP       a file: every blocking request as CSV (msn,part,sent_us,got_us,rx_us,status,
#                 thread,playlist)
#
# Each player holds one descriptor in the load generator and one in the daemon (and each channel
# fed by the replay two more in the daemon, one per Representation): both get the hard
# `ulimit -n`, and LL_PLAYERS is lowered to fit it (said loudly) when it does not.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LL_CORES="${LL_CORES:-$(nproc)}"
LOAD_THREADS="${LOAD_THREADS:-$LL_CORES}"
LL_SECONDS="${LL_SECONDS:-30}"
LL_IDLE="${LL_IDLE:-4}"
IO_DRIVER="${IO_DRIVER:-auto}"
SP_PULL="${SP_PULL:-18580}" SP_INGEST="${SP_INGEST:-18581}"
REQUESTED="${LL_PLAYERS:-$((10000 * LL_CORES))}"
LL_CHANNELS="${LL_CHANNELS:-1}"
if ! [[ "$LL_CHANNELS" =~ ^[1-9][0-9]*$ ]]; then
    echo "ll-wakeup: LL_CHANNELS must be a positive number (got $LL_CHANNELS)" >&2
    exit 1
fi
BASE_SECS=5 # baseline: the encoder alone

# Command prefixes pinning to those CPUs (taskset execs the command: $! stays its pid).
PIN_SERVER=() PIN_LOAD=()
[ -n "${SERVER_CPUS:-}" ] && PIN_SERVER=(taskset -c "$SERVER_CPUS")
[ -n "${LOAD_CPUS:-}" ] && PIN_LOAD=(taskset -c "$LOAD_CPUS")
log() { printf '\n== %s\n' "$*" >&2; }
for t in ffmpeg curl python3; do
    command -v "$t" >/dev/null || { echo "ll-wakeup: $t is needed" >&2; exit 1; }
done

# One descriptor per player on each side: as many as this process may have, for it and its
# children (the daemon and the load generator).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE="$(ulimit -n)"
[ "$NOFILE" = unlimited ] && NOFILE=1048576
# The daemon needs a few dozen descriptors besides connections (listeners, executors, state);
# it is told to refuse connections before running out (max_connections below).
MAX_CONNS=$((NOFILE - 64))
# The replay's ingest connections (one per channel and Representation: two) take daemon
# descriptors too.
INGEST_FDS=0
((LL_CHANNELS > 1)) && INGEST_FDS=$((2 * LL_CHANNELS))
N="$REQUESTED"
if ((N > NOFILE - 256 - INGEST_FDS)); then
    N=$((NOFILE - 256 - INGEST_FDS))
    echo "ll-wakeup: $REQUESTED players need $REQUESTED descriptors in the daemon and in the load generator (and $INGEST_FDS ingest connections in the daemon); the hard open-file limit is $NOFILE and this process cannot raise it: running $N players" >&2
fi
if ((N < LL_CHANNELS)); then
    echo "ll-wakeup: $N players for $LL_CHANNELS channels: fewer than one a channel" >&2
    exit 1
fi
LL_RAMP="${LL_RAMP:-$(((N + 3999) / 4000))}"
if ! awk -v r="$LL_RAMP" -v i="$LL_IDLE" -v s="$LL_SECONDS" 'BEGIN { exit !(r + i + 4 <= s && i >= 2 && i < 6) }'; then
    echo "ll-wakeup: need LL_SECONDS >= LL_RAMP + LL_IDLE + 4 and 2 <= LL_IDLE < 6 (got $LL_SECONDS, $LL_RAMP, $LL_IDLE)" >&2
    exit 1
fi
PORTS="$(cut -f1,2 /proc/sys/net/ipv4/ip_local_port_range)"
if ((N + INGEST_FDS > ${PORTS#*$'\t'} - ${PORTS%$'\t'*} - 1000)); then
    echo "ll-wakeup: warning: $((N + INGEST_FDS)) connections from 127.0.0.1, ephemeral ports $PORTS" >&2
fi

if [ "${LL_SKIP_BUILD:-0}" != 1 ]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -q -p streampackd -p streampackctl -p streampack-benches)
fi
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
SPD="$BIN/streampackd" CTL="$BIN/streampackctl" LOAD="$BIN/streampack-load"

WORK="$(mktemp -d /tmp/streampack-ll-wakeup.XXXXXX)"
SP_PID="" FF_PID="" LOAD_PID=""
cleanup() {
    local p
    for p in "$LOAD_PID" "$FF_PID" "$SP_PID"; do
        [ -n "$p" ] && { kill -CONT "$p"; kill "$p"; } 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
    echo "ll-wakeup: $*" >&2
    echo "--- daemon log (tail)" >&2; tail -20 "$WORK/daemon.log" >&2 || true
    echo "--- encoder log (tail)" >&2; tail -20 "$WORK/encoder.log" >&2 || true
    exit 1
}

# The connection limits make room for every player from one address; the fd limit stays the bound.
cat >"$WORK/streampackd.toml" <<EOF
[limits]
max_connections = $MAX_CONNS
max_connections_per_ip = $MAX_CONNS
EOF
log "streampackd: $LL_CORES shards, io driver $IO_DRIVER, open-file limit $NOFILE"
SOCK="$WORK/streampackd.sock"
"${PIN_SERVER[@]}" "$SPD" --config "$WORK/streampackd.toml" --state-dir "$WORK/state" --admin-socket "$SOCK" \
    --cores "$LL_CORES" --io-driver "$IO_DRIVER" --metrics-listen off \
    --ingest-listen "127.0.0.1:$SP_INGEST" --pull-listen "127.0.0.1:$SP_PULL" 2>"$WORK/daemon.log" &
SP_PID=$!
for _ in $(seq 100); do
    "$CTL" --socket "$SOCK" status >/dev/null 2>&1 && break
    kill -0 "$SP_PID" 2>/dev/null || fail "streampackd did not start"
    sleep 0.05
done
ctl() { "$CTL" --socket "$SOCK" "$@"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# new_channel NAME: a dash channel with a low-latency cmaf endpoint; prints "INPUT_URL PLAYLIST_URL".
new_channel() {
    local ch id input ep
    ch="$(ctl --json channel create --name "$1" --protocol dash)"
    id="$(json '["id"]' <<<"$ch")"
    input="$(json '["inputs"][0]["url"]' <<<"$ch")"
    ep="$(ctl --json endpoint create "$id" --name ll --type cmaf --low-latency | json '["url"]')"
    case "$input ${ep%/*}/v0.m3u8" in
        *127.0.0.1*127.0.0.1*) ;;
        *) fail "expected loopback URLs, got $input and $ep" ;;
    esac
    echo "$input ${ep%/*}/v0.m3u8"
}

PUSH_SECS=$((LL_SECONDS + BASE_SECS + 40))
# The encoder: ffmpeg into one channel, or the capture's replay into LL_CHANNELS.
if ((LL_CHANNELS == 1)); then
    read -r INPUT PLAYLIST <<<"$(new_channel llwakeup)"
    [ -n "$PLAYLIST" ] || fail "could not create the channel"
    echo "$PLAYLIST" >"$WORK/playlists"
    PLAYERS_ON=("$PLAYLIST")
    log "ffmpeg: low-latency DASH into the primary input for up to ${PUSH_SECS}s"
    "${PIN_LOAD[@]}" ffmpeg -nostdin -loglevel error -re -f lavfi -i testsrc2=size=640x360:rate=25 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 -map 0:v -map 1:a \
        -c:v libx264 -preset veryfast -tune zerolatency -g 50 -keyint_min 50 -sc_threshold 0 -b:v 800k \
        -c:a aac -b:a 96k -t "$PUSH_SECS" -f dash -seg_duration 2 -window_size 6 -extra_window_size 2 \
        -use_template 1 -use_timeline 1 -adaptation_sets "id=0,streams=v id=1,streams=a" \
        -streaming 1 -ldash 1 -frag_type duration -frag_duration 0.5 -method PUT -http_persistent 1 \
        "$INPUT/main.mpd" 2>"$WORK/encoder.log" &
    FF_PID=$!
else
    CAPTURE="${LL_CAPTURE:-$WORK/capture}"
    if [ ! -s "$CAPTURE/main.mpd" ]; then
        log "ffmpeg: a 20 s low-latency DASH capture in $CAPTURE"
        mkdir -p "$CAPTURE"
        "${PIN_LOAD[@]}" ffmpeg -nostdin -loglevel error -f lavfi -i testsrc2=size=640x360:rate=25 \
            -f lavfi -i sine=frequency=440:sample_rate=48000 -map 0:v -map 1:a \
            -c:v libx264 -preset veryfast -tune zerolatency -g 50 -keyint_min 50 -sc_threshold 0 -b:v 800k \
            -c:a aac -b:a 96k -t 20 -f dash -seg_duration 2 -use_template 1 -use_timeline 1 \
            -adaptation_sets "id=0,streams=v id=1,streams=a" -streaming 1 -ldash 1 \
            -frag_type duration -frag_duration 0.5 "$CAPTURE/main.mpd" 2>"$WORK/encoder.log" ||
            fail "ffmpeg could not make the capture"
    fi
    log "$LL_CHANNELS dash channels with a low-latency cmaf endpoint"
    : >"$WORK/targets"
    : >"$WORK/playlists"
    for i in $(seq "$LL_CHANNELS"); do
        read -r input playlist <<<"$(new_channel "llwakeup$i")"
        [ -n "$playlist" ] || fail "could not create channel $i"
        echo "$input" >>"$WORK/targets"
        echo "$playlist" >>"$WORK/playlists"
    done
    PLAYERS_ON=(--urls-file "$WORK/playlists")
    log "streampack-load ll-encoders: the capture replayed into $LL_CHANNELS channels for up to ${PUSH_SECS}s"
    "${PIN_LOAD[@]}" "$LOAD" -d "$PUSH_SECS" ll-encoders --targets "$WORK/targets" \
        --capture "$CAPTURE/main.mpd" >"$WORK/encoder.log" 2>&1 &
    FF_PID=$!
fi

# On every playlist, two whole segments and parts of the next: players start from a settled
# live edge.
give_up=$((SECONDS + 30 + LL_CHANNELS / 10))
while read -r playlist; do
    while :; do
        body="$(curl -sf "$playlist" 2>/dev/null || true)"
        if [ "$(grep -c '^#EXTINF' <<<"$body")" -ge 2 ] && grep -q '^#EXT-X-PART:' <<<"$body"; then
            break
        fi
        kill -0 "$FF_PID" 2>/dev/null || fail "the encoder stopped"
        ((SECONDS < give_up)) || fail "no LL-HLS playlist at $playlist after 30 s"
        sleep 0.2
    done
done <"$WORK/playlists"

# CPU time of all the daemon's threads, in ns (schedstat: finer than the 10 ms of /proc/PID/stat).
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ t += $1 } END { printf "%.0f", t }'; }
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
now() { date +%s.%N; }
pct() { awk -v t="$1" -v s="$2" 'BEGIN { printf "%.2f", t / 1e9 / s * 100 }'; }

log "baseline: the encoder alone ($LL_CHANNELS channels), ${BASE_SECS}s"
t0="$(now)" c0="$(cpu_ns "$SP_PID")"
sleep "$BASE_SECS"
t1="$(now)" c1="$(cpu_ns "$SP_PID")"
BASE_CPU="$(pct $((c1 - c0)) "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")"
BASE_RSS="$(status_kib "$SP_PID" VmRSS)" BASE_THREADS="$(status_kib "$SP_PID" Threads)"
BASE_FDS="$(fds "$SP_PID")"

log "ll-players: $N players, $LOAD_THREADS threads, ${LL_SECONDS}s (starts spread over ${LL_RAMP}s, encoder paused for the last ${LL_IDLE}s) on $LL_CHANNELS playlists: $(head -1 "$WORK/playlists") …"
dump=()
[ -n "${LL_DUMP:-}" ] && dump=(--dump "$LL_DUMP")
T0="$(now)"
"${PIN_LOAD[@]}" "$LOAD" --threads "$LOAD_THREADS" -d "$LL_SECONDS" ll-players -n "$N" --ramp "$LL_RAMP" "${dump[@]}" \
    "${PLAYERS_ON[@]}" >"$WORK/load.out" 2>"$WORK/load.err" &
LOAD_PID=$!
# sleep_until SECONDS: until that long after the load generator started.
sleep_until() { sleep "$(awk -v t0="$T0" -v t="$1" -v n="$(now)" 'BEGIN { d = t0 + t - n; print (d > 0) ? d : 0 }')"; }
# Parts arriving: from 1 s after the ramp (every player connected) to 0.5 s before the pause.
STOP_AT="$(awk -v s="$LL_SECONDS" -v i="$LL_IDLE" 'BEGIN { print s - i }')"
sleep_until "$((LL_RAMP + 1))"
s0="$(now)" d0="$(cpu_ns "$SP_PID")"
sleep_until "$(awk -v a="$LL_RAMP" -v b="$STOP_AT" 'BEGIN { print (a + 1 + b - 0.5) / 2 }')"
RUN_RSS="$(status_kib "$SP_PID" VmRSS)" RUN_THREADS="$(status_kib "$SP_PID" Threads)"
RUN_FDS="$(fds "$SP_PID")"
sleep_until "$(awk -v b="$STOP_AT" 'BEGIN { print b - 0.5 }')"
s1="$(now)" d1="$(cpu_ns "$SP_PID")"
STEADY_SECS="$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.1f", b - a }')"
RUN_CPU="$(pct $((d1 - d0)) "$STEADY_SECS")"
# Nothing arriving: the last fan-out done (1 s), until just before the run ends.
sleep_until "$STOP_AT"
kill -STOP "$FF_PID"
sleep_until "$(awk -v b="$STOP_AT" 'BEGIN { print b + 1 }')"
i0="$(now)" e0="$(cpu_ns "$SP_PID")" PARKED_FDS="$(fds "$SP_PID")"
sleep_until "$(awk -v s="$LL_SECONDS" 'BEGIN { print s - 0.3 }')"
i1="$(now)" e1="$(cpu_ns "$SP_PID")"
IDLE_SECS="$(awk -v a="$i0" -v b="$i1" 'BEGIN { printf "%.1f", b - a }')"
IDLE_CPU="$(pct $((e1 - e0)) "$IDLE_SECS")"
load_rc=0
wait "$LOAD_PID" || load_rc=$?
LOAD_PID=""
cat "$WORK/load.out"
cat "$WORK/load.err" >&2
PEAK_RSS="$(status_kib "$SP_PID" VmHWM)"
kill -0 "$SP_PID" 2>/dev/null || fail "streampackd died during the run"
((load_rc == 0)) || fail "streampack-load failed ($load_rc)"

kv() { sed -n 's/^RESULT //p' "$WORK/load.out" | tr ' ' '\n' | sed -n "s/^$1=//p" | tail -1; }
ms() { awk -v a="$1" 'BEGIN { printf "%.2f ms", a / 1000 }'; }
answered="$(kv answered)" elapsed="$(kv elapsed_s)"
# What answering costs the daemon: its CPU above the baseline, per blocking request answered.
# Players ask again as soon as they are answered: every parked player is answered for each
# part while the encoder runs (after the ramp, before the pause).
US_PER_ANSWER="$(awk -v r="$RUN_CPU" -v b="$BASE_CPU" -v n="$(kv parked)" -v s="$LL_SECONDS" -v ramp="$LL_RAMP" -v i="$LL_IDLE" \
    'BEGIN { rate = n / (s - ramp - i); if (rate > 0) printf "%.1f", (r - b) / 100 * 1e6 / rate; else print "n/a" }')"
RSS_PER_PLAYER="$(awk -v r="$RUN_RSS" -v b="$BASE_RSS" -v n="$(kv max_in_flight)" \
    'BEGIN { if (n > 0) printf "%.1f", (r - b) * 1024 / n; else print "n/a" }')"

echo "RESULT mode=ll-wakeup requested=$REQUESTED players=$N channels=$LL_CHANNELS shards=$LL_CORES load_threads=$LOAD_THREADS parked_max=$(kv max_in_flight) max_fan_out=$(kv max_fan_out) parts=$(kv parts) answered=$answered errors=$(kv errors) errors_by=$(kv errors_by) spread_p50_us=$(kv spread_p50_us) spread_p99_us=$(kv spread_p99_us) spread_max_us=$(kv spread_max_us) spread_read_p99_us=$(kv spread_read_p99_us) stamped=$(kv stamped) daemon_cpu_pct=$RUN_CPU idle_parked_cpu_pct=$IDLE_CPU base_cpu_pct=$BASE_CPU us_per_answer=$US_PER_ANSWER rss_kib=$RUN_RSS base_rss_kib=$BASE_RSS peak_rss_kib=$PEAK_RSS threads=$RUN_THREADS base_threads=$BASE_THREADS fds=$RUN_FDS gen_cpu_s=$(kv gen_cpu_s)"
echo
where="on the same $(nproc) CPUs"
[ -n "${SERVER_CPUS:-}${LOAD_CPUS:-}" ] && where="on CPUs ${LOAD_CPUS:-any}, daemon on CPUs ${SERVER_CPUS:-any}"
on="one channel"
((LL_CHANNELS > 1)) && on="$LL_CHANNELS channels (~$((N / LL_CHANNELS)) a playlist)"
echo "| LL-HLS blocking reloads, $N players on $on ($LL_CORES shards, load generator: $LOAD_THREADS threads $where) | value | target |"
echo "| --- | ---: | --- |"
echo "| requests parked at once (most in flight) / most woken by one part | $(kv max_in_flight) / $(kv max_fan_out) | 10,000 per shard |"
echo "| wake-up spread, first answer -> each other parked answer of the same playlist and part (receive timestamps): p50 | $(ms "$(kv spread_p50_us)") | |"
echo "| same, p99 | $(ms "$(kv spread_p99_us)") | ≤ 2 ms |"
echo "| same, max | $(ms "$(kv spread_max_us)") | |"
echo "| same as read by the players (adds the generator's reading): p50 / p99 / max | $(ms "$(kv spread_read_p50_us)") / $(ms "$(kv spread_read_p99_us)") / $(ms "$(kv spread_read_max_us)") | |"
echo "| blocking requests answered ($(kv parts) parts in ${elapsed}s), errors | $answered, $(kv errors) ($(kv errors_by)) | |"
echo "| daemon CPU (% of one CPU): parts arriving, every player woken for each (${STEADY_SECS}s) / encoder alone | ${RUN_CPU}% / ${BASE_CPU}% | |"
echo "| daemon CPU: every request parked, encoder paused, nothing arriving (${IDLE_SECS}s, $((PARKED_FDS - BASE_FDS)) more descriptors than alone) | ${IDLE_CPU}% | ~0: waiting costs nothing |"
echo "| daemon CPU per blocking request answered (above the baseline) | ${US_PER_ANSWER} µs | |"
echo "| daemon RSS with the players / alone (peak) | $((RUN_RSS / 1024)) / $((BASE_RSS / 1024)) MiB ($((PEAK_RSS / 1024)) MiB) | |"
echo "| daemon RSS per parked request | ${RSS_PER_PLAYER} bytes | |"
echo "| daemon threads / descriptors, with the players vs alone | $RUN_THREADS / $RUN_FDS vs $BASE_THREADS / $BASE_FDS | no thread per request |"
echo "| load generator CPU | $(kv gen_cpu_s) s | |"
echo
echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs ($(uname -r)), io driver $IO_DRIVER; open-file limit $NOFILE; load average $(cut -d' ' -f1-3 /proc/loadavg)."
