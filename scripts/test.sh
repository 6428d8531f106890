#!/usr/bin/env bash
# The README's test command: installs what the tests need, then checks format, lints and runs
# every test tier (unit, in-process pair, netlink golden bytes, the lab VM with real strongSwan).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

log=$(mktemp /tmp/iked-test.XXXXXX.log)
trap 'rm -f "$log"' EXIT
set +e
# --no-fail-fast: one failing binary must not hide the rest (the lab runs last).
cargo test --no-fail-fast --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# The lab's scenario table (libtest captures the test's own output when it passes).
results=${CARGO_TARGET_DIR:-target}/tmp/lab/results.txt
if [ -f "$results" ]; then
  echo
  cat "$results"
fi
# One closing line for the whole run: cargo prints one summary per test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "workspace: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
