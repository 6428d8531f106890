#!/usr/bin/env bash
# Runs every cargo-fuzz target of the workspace for FUZZ_SECONDS (default 1800) each,
# FUZZ_JOBS (default 2) at a time, from seed corpora made of the repository's own data, and
# prints one line per target: wall seconds, executions, coverage, and whether it found anything.
#
#   bash scripts/fuzz.sh                       # all targets, 30 min each
#   FUZZ_SECONDS=60 bash scripts/fuzz.sh parse # one target, one minute
#
# Needs a nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`,
# `cargo install cargo-fuzz`). All five fuzz crates share one target directory, so AWS-LC and the
# other dependencies are built with the sanitizer once. Logs, corpora and any crash artifacts
# stay under $FUZZ_DIR (default target/fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${FUZZ_SECONDS:-1800}
jobs=${FUZZ_JOBS:-2}
out=${FUZZ_DIR:-$root/target/fuzz}
export CARGO_TARGET_DIR=$out/build
mkdir -p "$out/logs" "$out/corpus"

# crate:target, in the order they run.
all=(ike:established ike:responder ike:decode_message ike:decode_inner
  xfrm:parse_reply iked:vici_codec conf:parse crypto:load_credentials)
if [ $# -gt 0 ]; then
  want=()
  for t in "$@"; do
    for ct in "${all[@]}"; do [ "${ct#*:}" = "$t" ] && want+=("$ct"); done
  done
  [ ${#want[@]} -eq "$#" ] || { echo "fuzz.sh: unknown target in: $*" >&2; exit 2; }
else
  want=("${all[@]}")
fi

for ct in "${want[@]}"; do
  crate=${ct%%:*} target=${ct#*:}
  echo "building $target ($crate/fuzz)"
  (cd "$crate" && cargo +nightly fuzz build -O "$target" >"$out/logs/$target.build.log" 2>&1) ||
    { echo "fuzz.sh: building $target failed, see $out/logs/$target.build.log" >&2; exit 1; }
done
bin_dir=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release

seed() {
  local target=$1 dir=$out/corpus/$1
  mkdir -p "$dir"
  case $target in
  decode_message)
    find ike/tests/captures -name '*.bin' ! -name '*.inner.bin' -exec cp {} "$dir/" \; ;;
  decode_inner)
    # The SK/SKF payload's Next Payload octet (offset 28 of the outer message), then the plaintext.
    for inner in ike/tests/captures/*/*.inner.bin; do
      outer=${inner%.inner.bin}.bin
      [ -f "$outer" ] || continue
      { head -c 29 "$outer" | tail -c 1; cat "$inner"; } >"$dir/$(basename "$(dirname "$inner")")-$(basename "$inner")"
    done ;;
  established)
    # The seed mode writes the real exchanges and exits, which libFuzzer reports as a crash of
    # the empty input: keep that artifact out of the working tree.
    if [ -z "$(ls -A "$dir")" ]; then
      (cd "$out" && IKED_FUZZ_SEEDS=$dir "$bin_dir/established" -runs=1 \
        -artifact_prefix="$out/seed-mode-" >/dev/null 2>&1) || true
      rm -f "$out"/seed-mode-*
    fi ;;
  parse) cp examples/*.conf "$dir/" ;;
  load_credentials) find crypto/tests/data -type f -exec cp {} "$dir/" \; ;;
  esac
}

run() {
  local ct=$1 crate=${1%%:*} target=${1#*:}
  seed "$target"
  local art=$out/artifacts/$target/
  mkdir -p "$art"
  local start=$SECONDS
  set +e
  (cd "$crate/fuzz" && "$bin_dir/$target" "$out/corpus/$target" -max_total_time="$seconds" \
    -timeout=25 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$art" \
    >"$out/logs/$target.log" 2>&1)
  local status=$?
  set -e
  local wall=$((SECONDS - start))
  local execs cov
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$out/logs/$target.log")
  cov=$(grep -o 'cov: [0-9]*' "$out/logs/$target.log" | tail -1 | awk '{print $2}')
  local found=none
  [ "$status" -eq 0 ] || found="exit $status: $(ls "$art" | head -3 | tr '\n' ' ')"
  printf '%-18s %6s s %12s execs %6s edges  %s\n' "$target" "$wall" "${execs:-?}" "${cov:-?}" "$found" |
    tee -a "$out/summary.txt"
}

: >"$out/summary.txt"
running=0
for ct in "${want[@]}"; do
  run "$ct" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait
echo "summary in $out/summary.txt; logs in $out/logs"
! grep -q 'exit ' "$out/summary.txt"
