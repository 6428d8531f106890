#!/usr/bin/env bash
# The README's test command: installs what the tests need, then checks format, lints and runs
# every test tier (unit, in-process pair, netlink golden bytes, the lab VM with real strongSwan).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
