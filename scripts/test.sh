#!/usr/bin/env bash
# The README's test command: installs what the tests need, then checks format, lints and runs
# every test tier (unit, in-process pair, netlink golden bytes, the lab VM with real strongSwan).
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp /tmp/iked-test.XXXXXX.log)
setup_log=$(mktemp /tmp/iked-setup.XXXXXX.log)
setup_pid=
trap '[ -z "$setup_pid" ] || kill "$setup_pid" 2>/dev/null || true; rm -f "$log" "$setup_log"' EXIT

# The machine set-up (packages, the lab kernel, qemu, the trixie roots: mostly downloads and
# unpacking) runs in the background while the compiler, which needs none of it, keeps the CPUs
# busy with the format check, the lints and the build; on a fresh machine that overlap saves
# about as long as the set-up takes. The tests wait for it.
bash scripts/setup-host.sh >"$setup_log" 2>&1 &
setup_pid=$!
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --no-run
# The daemon's binaries as the hostile-peer and lab tests build them (`cargo build -p iked
# --bins`: without the test build's dev-dependency features, so it compiles tokio, ring and the
# crypto crate a second time): here, while the set-up may still run, not inside the test run.
cargo build -p iked --bins
set +e
wait "$setup_pid"
setup_status=$?
set -e
setup_pid=
cat "$setup_log"
[ "$setup_status" -eq 0 ] || { echo "scripts/setup-host.sh failed (exit $setup_status)" >&2; exit "$setup_status"; }
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
