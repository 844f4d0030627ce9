#!/usr/bin/env bash
# Installs the real peers the tests drive, on a fresh Debian machine: ffmpeg/ffprobe, Debian's
# chromium, node + npm with the pinned packages of tests/browser (playwright-core, hls.js,
# dash.js, Shaka, mp4box, mpd-parser), nginx, curl, prometheus/promtool, etcd, systemd-analyze,
# openssl, h2load/nghttp and Python's h2.
# Idempotent: installs only what is missing. Fails, saying what is missing, when it cannot install.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        echo "tests/setup.sh: need root (or sudo) to run: $*" >&2
        return 1
    fi
}

# package name -> a file or command that proves it is there
missing=()
need() { # need PACKAGE PROBE...
    local pkg=$1; shift
    for probe in "$@"; do
        if [ "${probe#/}" != "$probe" ]; then [ -x "$probe" ] || { missing+=("$pkg"); return; }
        else command -v "$probe" >/dev/null 2>&1 || { missing+=("$pkg"); return; }; fi
    done
}
need ffmpeg ffmpeg ffprobe
need systemd systemd-analyze
need chromium /usr/bin/chromium
need nodejs node
need npm npm
need nginx nginx
need curl curl
need prometheus prometheus promtool
# Cluster mode: a multi-member etcd started by the cluster tests (Debian's etcd 3.4).
need etcd-server etcd
# TLS and HTTP/2: certificates for the tests, h2load/nghttp, a Python HTTP/2 client that crafts
# hostile frames (Debian's python3, not a pyenv one: the module is installed for it).
need openssl openssl
need nghttp2-client h2load nghttp
[ -f /usr/lib/python3/dist-packages/h2/__init__.py ] || missing+=(python3-h2)
need python3 /usr/bin/python3
# threefive (SCTE-35, PyPI) goes into a venv of Debian's python3: the ad-marker tests' decoder.
/usr/bin/python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)

if [ "${#missing[@]}" -gt 0 ]; then
    echo "tests/setup.sh: installing ${missing[*]} (apt-get)"
    if ! { as_root apt-get update -qq &&
        as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
        echo "tests/setup.sh: could not install ${missing[*]}; install them and run again" >&2
        exit 1
    fi
fi

# The browser harness and fMP4/MPD validators: exact versions from the committed lockfile.
# (The packages bring their own player builds; chromium is Debian's.)
# node_modules/.streampack-lock is the lockfile the last `npm ci` installed.
stamp=tests/browser/node_modules/.streampack-lock
if ! cmp -s tests/browser/package-lock.json "$stamp"; then
    echo "tests/setup.sh: npm ci --prefix tests/browser"
    npm ci --prefix tests/browser --prefer-offline --no-audit --no-fund --loglevel=error
    cp tests/browser/package-lock.json "$stamp"
fi

# Python packages of the tests (tests/python/requirements.txt, exact versions) in their venv.
venv=tests/python/.venv
pystamp=$venv/.streampack-requirements
if ! cmp -s tests/python/requirements.txt "$pystamp"; then
    echo "tests/setup.sh: python venv $venv (tests/python/requirements.txt)"
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r tests/python/requirements.txt
    cp tests/python/requirements.txt "$pystamp"
fi

printf 'tests/setup.sh: peers ready: %s; %s; node %s\n' \
    "$(ffmpeg -hide_banner -version | head -n 1)" \
    "$(/usr/bin/chromium --version 2>/dev/null | head -n 1)" "$(node --version)"
