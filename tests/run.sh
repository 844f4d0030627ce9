#!/usr/bin/env bash
# README's test command: installs the real peers (tests/setup.sh), builds the binaries the
# integration tests start, runs every test of the workspace, and ends with one line naming
# anything that was skipped (outside CI a test whose peer is missing skips loudly; under
# CI=true it fails instead).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
{ cargo build --workspace --bins && cargo test --workspace --no-fail-fast; } 2>&1 | tee "$log" || status=$?

# Each skip notice carries a line `!!! SKIPPED: <test>: <what is missing>`.
skipped=$(grep -a '^!!! SKIPPED: ' "$log" | sed 's/^!!! SKIPPED: //' | sort -u || true)
if [ -n "$skipped" ]; then
    printf '\nSKIPPED (checked nothing; run tests/setup.sh): %s\n' "$(echo "$skipped" | paste -sd ';' -)"
else
    printf '\nskipped: none\n'
fi
exit "$status"
