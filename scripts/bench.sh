#!/usr/bin/env bash
# IKE SA set-up cost and memory: iked against Debian's charon 5.9.8, same load, same host.
#
# Not a test (nothing here passes or fails on a number) and not part of `cargo test` or CI.
# Run as root after scripts/setup-host.sh:  bash scripts/bench.sh
#
# Two network namespaces on this host (named after this script's pid, so runs never collide):
# `ikbench-gen-<pid>` runs the load generator (iked-bench, built on iked's initiator engine),
# `ikbench-resp-<pid>` runs the responder under test. For each responder
# (iked, charon), each variant and each size N it starts a fresh responder, establishes N IKE
# SAs, holds them, and reads from /proc the responder's CPU time (user+sys) spent and its RSS
# growth; each cell is the median of RUNS runs. Variants:
#   childless  IKE SAs without CHILD_SA (RFC 6023): no kernel involved on either side.
#   child      IKE SA + one tunnel-mode CHILD_SA (aes128-sha256, no ESN): charon on its
#              userspace ESP backend (kernel-libipsec), iked with `--kernel record` (the host
#              kernel has no ESP: iked negotiates and records its kernel requests, installs nothing).
#   rekey      (not in the default VARIANTS; issue 21 §1) as child, but the responder's
#              connection has short lifetimes (CHILD_SA rekey_time CHILD_REKEY, IKE rekey_time
#              IKE_REKEY, each with its rand_time) and the N SAs are held until every one has
#              rekeyed its CHILD_SA and its IKE SA at least once (IKE_REKEY + REKEY_MARGIN seconds
#              after the set-up ends); the responder starts the rekeys, the generator answers
#              them. Reported: rekeys seen, SAs lost or refused, SAs held at the end, CPU per
#              CHILD rekey and per IKE rekey (from the generator's time line of the responder's
#              CPU, the seconds that saw only one kind, less the idle rate), RSS at the end of
#              the set-up and of the hold, and iked's event-loop lag (the largest gap between a
#              due timer and its handling, from `stats`). Table: scripts/bench-rekey-table.py.
# Fairness: charon with dos_protection = no (no cookies, no per-IP limit), ikesa_table_size
# 65536, logging off; iked logging off, cookies at its default threshold (30 half-open) which a
# concurrency of 16 never reaches, per-source limits off (all clients share one address). A last step floods iked with spoofed IKE_SA_INIT requests
# (FLOOD_RATE per second) while measuring the legitimate rate.
# Clients behave like strongSwan's initiators: every SAS_PER_IDENTITY SAs (default 1, as
# strongSwan's load-tester, which gives each IKE SA its own identity) share one client identity,
# and the first SA of each identity carries INITIAL_CONTACT, which the responder must check
# against what it holds. During each run the generator also samples the responder's CPU time and
# RSS every SLICE SAs, so the table shows the CPU each slice of SAs cost as the held count grows
# (flat = no per-SA walk over the SAs held).
#
# Environment knobs (defaults in brackets): QUICK [0; 1 = a smoke run: SIZES/CHILD_SIZES "1000
# 5000", RUNS 1, no flood, no crypto floor, iked only, unless set explicitly], RUNS [3],
# SIZES ["1000 10000 50000"], CHILD_SIZES for the child variant ["1000 10000"; charon's
# libipsec keeps SAs in lists and slows down with every SA held; "1000 10000 50000 100000"
# for the held-SA scaling table], CONCURRENCY [16], VARIANTS ["childless child"],
# RESPONDERS ["iked charon"; "iked" skips charon], SAS_PER_IDENTITY [1], SLICE [1000: SAs
# between two samples of the responder; the slice table groups them by 10,000],
# FLOOD_RATE [3000, 0 = skip], FLOOD_COUNT [10000: legitimate SAs set up during the flood],
# REKEY_SIZES for the rekey variant ["10000"], CHILD_REKEY [60] CHILD_RAND [10] IKE_REKEY [90]
# IKE_RAND [10] (seconds), REKEY_MARGIN [15 s], FLOOR [1; 0 = skip]: first measure the crypto floor of one responder IKE_SA + CHILD_SA
# (criterion bench `responder crypto floor` in crypto/benches/crypto.rs) to compare against,
# OUT [bench/RESULTS.md], MARKER [bench.sh: the table replaces what OUT holds between
# `<!-- $MARKER begin -->` and `<!-- $MARKER end -->`, appended if absent], IKED_BIN and
# GEN_BIN (prebuilt binaries; default: cargo build --release into CARGO_TARGET_DIR), BUILD_NOTE
# (what the binaries were built from, for the table; default: the commit plus working tree).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ "${QUICK:-0}" = 1 ]; then
    : "${RUNS:=1}" "${SIZES:=1000 5000}" "${CHILD_SIZES:=1000 5000}" "${FLOOD_RATE:=0}"
    : "${FLOOR:=0}" "${RESPONDERS:=iked}" "${REKEY_SIZES:=1000}"
    : "${CHILD_REKEY:=20}" "${CHILD_RAND:=5}" "${IKE_REKEY:=35}" "${IKE_RAND:=5}" "${REKEY_MARGIN:=8}"
fi
REKEY_SIZES=${REKEY_SIZES:-10000}
CHILD_REKEY=${CHILD_REKEY:-60}
CHILD_RAND=${CHILD_RAND:-10}
IKE_REKEY=${IKE_REKEY:-90}
IKE_RAND=${IKE_RAND:-10}
REKEY_MARGIN=${REKEY_MARGIN:-15}
RUNS=${RUNS:-3}
SIZES=${SIZES:-"1000 10000 50000"}
CHILD_SIZES=${CHILD_SIZES:-"1000 10000"}
CONCURRENCY=${CONCURRENCY:-16}
VARIANTS=${VARIANTS:-"childless child"}
RESPONDERS=${RESPONDERS:-"iked charon"}
FLOOD_RATE=${FLOOD_RATE:-3000}
FLOOD_COUNT=${FLOOD_COUNT:-10000}
FLOOR=${FLOOR:-1}
SAS_PER_IDENTITY=${SAS_PER_IDENTITY:-1}
SLICE=${SLICE:-1000}
OUT=${OUT:-$ROOT/bench/RESULTS.md}
MARKER=${MARKER:-bench.sh}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CHARON=/usr/lib/ipsec/charon
GEN_NS=ikbench-gen-$$
RESP_NS=ikbench-resp-$$
GEN_IP=10.200.0.2
RESP_IP=10.200.0.1
FLOOD_SUBNET=10.99.0.0/16

die() { echo "bench.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, raw socket for the flood)"
for tool in ip swanctl python3 cargo; do
    command -v "$tool" >/dev/null || die "$tool missing: run scripts/setup-host.sh"
done
case " $RESPONDERS " in
*" charon "*)
    [ -x "$CHARON" ] || die "$CHARON missing: run scripts/setup-host.sh"
    [ -e /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ] ||
        die "charon's kernel-libipsec plugin missing (libcharon-extra-plugins): run scripts/setup-host.sh"
    ;;
esac

if [ -n "${IKED_BIN:-}" ] && [ -n "${GEN_BIN:-}" ]; then
    IKED=$IKED_BIN
    GEN=$GEN_BIN
else
    echo "bench.sh: building iked and iked-bench (release)" >&2
    (cd "$ROOT" && cargo build --release -q -p iked -p iked-bench)
    IKED=$CARGO_TARGET_DIR/release/iked
    GEN=$CARGO_TARGET_DIR/release/iked-bench
fi

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- crypto floor: every cryptographic operation of one responder set-up, nothing else --------
FLOOR_US=
if [ "$FLOOR" != 0 ]; then
    echo "bench.sh: measuring the crypto floor (criterion)" >&2
    FLOOR_US=$(cd "$ROOT" && cargo bench -q -p iked-crypto --bench crypto -- \
        "responder crypto floor" --warm-up-time 2 --measurement-time 10 2>/dev/null |
        python3 -c '
import re, sys
m = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+)", sys.stdin.read())
scale = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3}
print("%.1f" % (float(m.group(1)) * scale[m.group(2)]) if m else "")')
    [ -n "$FLOOR_US" ] || die "crypto floor benchmark gave no result"
fi

# The generator opens one UDP socket per simulated client (1,000).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 2048 ] ||
    die "needs at least 2048 open files (ulimit -n is $(ulimit -n))"

WORK=$(mktemp -d /tmp/iked-bench.XXXXXX)
RESP_PID=
GEN_PID=
cleanup() {
    [ -n "$GEN_PID" ] && kill "$GEN_PID" 2>/dev/null || true
    [ -n "$RESP_PID" ] && kill "$RESP_PID" 2>/dev/null || true
    sleep 0.5
    ip netns del "$GEN_NS" 2>/dev/null || true
    ip netns del "$RESP_NS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- network namespaces ---------------------------------------------------------------------
ip netns add "$GEN_NS"
ip netns add "$RESP_NS"
# Created in the generator's namespace, so the names cannot collide with the host's links.
ip -n "$GEN_NS" link add ikbg0 type veth peer name ikbr0 netns "$RESP_NS"
ip -n "$GEN_NS" addr add "$GEN_IP/24" dev ikbg0
ip -n "$RESP_NS" addr add "$RESP_IP/24" dev ikbr0
for ns in "$GEN_NS" "$RESP_NS"; do
    ip -n "$ns" link set lo up
done
ip -n "$GEN_NS" link set ikbg0 up
ip -n "$RESP_NS" link set ikbr0 up
# Answers to spoofed flood sources go to the generator's namespace, which drops them.
ip -n "$RESP_NS" route add "$FLOOD_SUBNET" via "$GEN_IP"

# --- configurations -------------------------------------------------------------------------
PSK=0sYmVuY2htYXJrLXByZS1zaGFyZWQta2V5LTEyMzQ1Njc4
CHILD_BLOCK="children {
      c {
        mode = tunnel
        esp_proposals = aes128-sha256
        local_ts = 10.200.0.0/24
        remote_ts = 10.200.0.0/24
      }
    }"
cat >"$WORK/gen.conf" <<EOF
connections {
  bench {
    remote_addrs = $RESP_IP
    proposals = aes128-sha256-x25519
    local { auth = psk
      id = client.bench }
    remote { auth = psk
      id = responder.bench }
    $CHILD_BLOCK
  }
}
secrets { ike-bench { secret = $PSK } }
EOF
# Any client identity: each simulated client authenticates as client.bench-<n>.
resp_conf() { # $1 = extra IKE settings, $2 = the children block
    cat <<EOF
connections {
  bench {
    local_addrs = $RESP_IP
    proposals = aes128-sha256-x25519
    $1
    local { auth = psk
      id = responder.bench }
    remote { auth = psk }
    $2
  }
}
secrets { ike-bench { secret = $PSK } }
EOF
}
resp_conf "" "$CHILD_BLOCK" >"$WORK/resp.conf"
# The rekey variant: the responder's lifetimes are short (the generator keeps the defaults, so
# the responder starts every rekey); life_time stays strongSwan's default, rekey_time + 10 %.
resp_conf "rekey_time = ${IKE_REKEY}s
    rand_time = ${IKE_RAND}s" "${CHILD_BLOCK/esp_proposals/rekey_time = ${CHILD_REKEY}s
        rand_time = ${CHILD_RAND}s
        esp_proposals}" >"$WORK/resp-rekey.conf"

charon_conf() { # $1 = kernel plugins
    cat <<EOF
charon {
  load = random nonce aes sha1 sha2 hmac kdf gmp curve25519 socket-default vici $1
  ikesa_table_size = 65536
  ikesa_table_segments = 16
  dos_protection = no
  reuse_ikesa = no
  install_routes = no
  install_virtual_ip = no
  syslog { daemon { default = -1 } }
  filelog { stderr { path = /dev/null
      default = -1 } }
  plugins { vici { socket = unix://$WORK/charon.vici } }
}
EOF
}

wait_for_socket() { # $1 = path, $2 = pid
    for _ in $(seq 1 300); do
        [ -S "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

start_responder() { # $1 = iked|charon, $2 = variant; sets RESP_PID
    rm -f "$WORK"/*.vici
    local conf=$WORK/resp.conf
    [ "$2" = rekey ] && conf=$WORK/resp-rekey.conf
    case "$1" in
    iked)
        # Every client comes from the generator's one address: the per-source limits
        # (cookie_threshold_ip 3, block_threshold 5 by default) would throttle it as one host.
        printf 'charon {\n  cookie_threshold_ip = 0\n  block_threshold = 0\n}\n' >"$WORK/iked-strongswan.conf"
        ip netns exec "$RESP_NS" "$IKED" --config "$conf" \
            --strongswan-conf "$WORK/iked-strongswan.conf" \
            --vici-socket "$WORK/iked.vici" --kernel record --debug default=-1 \
            </dev/null >"$WORK/resp.log" 2>&1 &
        RESP_PID=$!
        wait_for_socket "$WORK/iked.vici" "$RESP_PID" || die "iked did not start: $(cat "$WORK/resp.log")"
        ;;
    charon)
        # charon needs a kernel-ipsec plugin even for childless SAs.
        local plugins="kernel-netlink"
        [ "$2" != childless ] && plugins="kernel-libipsec kernel-netlink"
        charon_conf "$plugins" >"$WORK/strongswan.conf"
        ip netns exec "$RESP_NS" unshare -m sh -c \
            "mount -t tmpfs none /run && STRONGSWAN_CONF=$WORK/strongswan.conf exec $CHARON" \
            </dev/null >"$WORK/resp.log" 2>&1 &
        RESP_PID=$!
        wait_for_socket "$WORK/charon.vici" "$RESP_PID" || die "charon did not start: $(cat "$WORK/resp.log")"
        # The socket file appears a moment before charon accepts on it.
        local tries=0
        until swanctl --load-all --noprompt --uri "unix://$WORK/charon.vici" \
            --file "$conf" >"$WORK/swanctl.log" 2>&1; do
            tries=$((tries + 1))
            [ "$tries" -lt 50 ] || die "swanctl --load-all: $(cat "$WORK/swanctl.log")"
            sleep 0.2
        done
        ;;
    esac
}

stop_pid() {
    local pid=$1
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
TICK=$(getconf CLK_TCK)

# One measurement: fresh responder, N SAs established and held, /proc before and after.
# Appends a JSON line to $WORK/raw.jsonl.
measure() { # $1 responder, $2 variant, $3 N, $4 run, $5 flood rate, $6 section (main|flood)
    local responder=$1 variant=$2 n=$3 run=$4 flood=$5 section=$6
    start_responder "$responder" "$variant"
    sleep 1
    local cpu0 rss0 cpu1 rss1
    cpu0=$(cpu_ticks "$RESP_PID")
    rss0=$(rss_kb "$RESP_PID")
    local child_arg=()
    [ "$variant" != childless ] && child_arg=(--child c)
    rm -f "$WORK/hold" "$WORK/gen.json"
    mkfifo "$WORK/hold"
    ip netns exec "$GEN_NS" "$GEN" --config "$WORK/gen.conf" "${child_arg[@]}" \
        --count "$n" --concurrency "$CONCURRENCY" --local "$GEN_IP" --hold \
        --sas-per-identity "$SAS_PER_IDENTITY" --sample-pid "$RESP_PID" --slice "$SLICE" \
        --flood-rate "$flood" --flood-subnet "$FLOOD_SUBNET" --timeout-secs 1800 \
        <"$WORK/hold" >"$WORK/gen.json" 2>"$WORK/gen.err" &
    GEN_PID=$!
    exec 7>"$WORK/hold"
    while [ ! -s "$WORK/gen.json" ]; do
        kill -0 "$GEN_PID" 2>/dev/null || die "generator failed: $(cat "$WORK/gen.err")"
        sleep 0.2
    done
    cpu1=$(cpu_ticks "$RESP_PID")
    rss1=$(rss_kb "$RESP_PID")
    if [ "$variant" = rekey ]; then
        hold_rekeys "$responder" "$n" "$run"
        return
    fi
    exec 7>&-
    wait "$GEN_PID" || true
    GEN_PID=
    stop_pid "$RESP_PID"
    RESP_PID=
    python3 - "$WORK/gen.json" "$responder" "$variant" "$n" "$run" "$flood" \
        "$cpu0" "$cpu1" "$rss0" "$rss1" "$TICK" "$section" >>"$WORK/raw.jsonl" <<'EOF'
import json, sys
gen = json.loads(open(sys.argv[1]).read().splitlines()[0])
resp, variant, n, run, flood = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
cpu0, cpu1, rss0, rss1, tick = (float(x) for x in sys.argv[7:12])
up = max(gen["established"], 1)
gen.update(responder=resp, variant=variant, n=n, run=run, flood=flood, section=sys.argv[12],
           cpu_ms_per_sa=(cpu1 - cpu0) / tick * 1e3 / up,
           rss_kb_per_sa=(rss1 - rss0) / up, rss_kb=rss1, rss0_kb=rss0)
print(json.dumps(gen))
EOF
    tail -n1 "$WORK/raw.jsonl" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("bench.sh: %(responder)s %(variant)s n=%(n)d run %(run)d: %(established)d up, %(failed)d failed, "
      "%(initial_contacts)d with INITIAL_CONTACT, "
      "%(cpu_ms_per_sa).3f ms CPU/SA, %(sas_per_s).0f SAs/s, %(rss_kb_per_sa).2f KB/SA, "
      "p50 %(latency_p50_ms).2f ms, p99 %(latency_p99_ms).2f ms, %(retransmits)d retransmits" % r)' >&2
}

# The rekey variant, after measure's set-up: holds the SAs while the responder rekeys them all,
# then closes the generator's stdin for its second report line. Appends a "rekey" JSON line.
hold_rekeys() { # $1 responder, $2 N, $3 run (RESP_PID, GEN_PID, rss0, cpu1, rss1 set by measure)
    local responder=$1 n=$2 run=$3 setup_s
    setup_s=$(python3 -c 'import json,sys; print(int(json.loads(open(sys.argv[1]).readline())["elapsed_s"]) + 1)' "$WORK/gen.json")
    local hold=$((IKE_REKEY + setup_s + REKEY_MARGIN))
    echo "bench.sh: $responder rekey n=$n: set-up took ${setup_s} s, holding ${hold} s for the rekeys" >&2
    sleep "$hold"
    local cpu2 rss2 vici=$WORK/charon.vici
    cpu2=$(cpu_ticks "$RESP_PID")
    rss2=$(rss_kb "$RESP_PID")
    [ "$responder" = iked ] && vici=$WORK/iked.vici
    swanctl --stats --raw --uri "unix://$vici" >"$WORK/stats.txt" 2>&1 || true
    exec 7>&-
    wait "$GEN_PID" || true
    GEN_PID=
    stop_pid "$RESP_PID"
    RESP_PID=
    python3 - "$WORK/gen.json" "$responder" "$n" "$run" "$cpu1" "$cpu2" "$rss1" "$rss2" \
        "$WORK/stats.txt" "$hold" "$rss0" >>"$WORK/raw.jsonl" <<'EOF'
import json, re, sys
setup, hold = (json.loads(l) for l in open(sys.argv[1]).read().splitlines()[:2])
resp, n, run = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cpu1, cpu2, rss1, rss2 = (float(x) for x in sys.argv[5:9])
stats = open(sys.argv[9]).read()
def stat(key, prefix=""):
    # `swanctl --stats --raw` prints "ikesas {total=N half-open=M}" and "iked {... key=N}":
    # `prefix` is the section's opening ("ikesas {") for keys that are not unique.
    m = re.search(re.escape(prefix) + r"[^}]*?\b" + re.escape(key) + r"=(\d+)", stats)
    return int(m.group(1)) if m else None
print(json.dumps(dict(section="rekey", responder=resp, variant="rekey", n=n, run=run,
    established=setup["established"], setup_failed=setup["failed"], hold_wait_s=float(sys.argv[10]),
    rss_start_kb=float(sys.argv[11]), rss_setup_kb=rss1, rss_end_kb=rss2, hold_cpu_ticks=cpu2 - cpu1,
    timer_lag_max_us=stat("timer-lag-max-us"), timer_lag_mean_us=stat("timer-lag-mean-us"),
    timer_runs=stat("timer-runs"), responder_ike_sas=stat("total", "ikesas {"), **hold)))
EOF
    tail -n1 "$WORK/raw.jsonl" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("bench.sh: %(responder)s rekey n=%(n)d run %(run)d: %(established)d up, %(child_rekeys)d CHILD and "
      "%(ike_rekeys)d IKE rekeys, %(failed_exchanges)d failed exchanges, %(ike_down)d IKE down, %(child_down)d CHILD down, %(child_failed)d CHILD "
      "failed, held %(ike_sas_held)d/%(child_sas_held)d, responder says %(responder_ike_sas)s, RSS %(rss_setup_kb).0f -> "
      "%(rss_end_kb).0f KB, timer lag max %(timer_lag_max_us)s us" % r)' >&2
}

: >"$WORK/raw.jsonl"
for variant in $VARIANTS; do
    for responder in $RESPONDERS; do
        sizes=$SIZES
        [ "$variant" = child ] && sizes=$CHILD_SIZES
        [ "$variant" = rekey ] && sizes=$REKEY_SIZES
        for n in $sizes; do
            for run in $(seq 1 "$RUNS"); do
                measure "$responder" "$variant" "$n" "$run" 0 main
            done
        done
    done
done
if [ "$FLOOD_RATE" != 0 ]; then
    for run in $(seq 1 "$RUNS"); do
        measure iked childless "$FLOOD_COUNT" "$run" 0 flood
        measure iked childless "$FLOOD_COUNT" "$run" "$FLOOD_RATE" flood
    done
fi
cp "$WORK/raw.jsonl" "$ROOT/bench/last-run.jsonl"
if grep -q '"section": "rekey"' "$WORK/raw.jsonl"; then
    python3 "$ROOT/scripts/bench-rekey-table.py" "$WORK/raw.jsonl" "$OUT" "${MARKER}-rekey" \
        "$(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), Linux $(uname -r); load average at start $LOAD_AT_START, at end $(cut -d' ' -f1-3 /proc/loadavg); iked ${BUILD_NOTE:-commit $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown) plus working tree}" \
        "CHILD_SA rekey_time ${CHILD_REKEY}s rand_time ${CHILD_RAND}s, IKE rekey_time ${IKE_REKEY}s rand_time ${IKE_RAND}s, held IKE_REKEY + set-up + ${REKEY_MARGIN}s"
fi

# --- table ----------------------------------------------------------------------------------
if ! grep -q '"section": "\(main\|flood\)"' "$WORK/raw.jsonl"; then
    echo "bench.sh: raw results in bench/last-run.jsonl" >&2
    exit 0
fi
MACHINE="$(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(free -g | awk '/^Mem:/ {print $2}') GB, Linux $(uname -r)"
CHARON_VERSION=$(dpkg-query -W -f '${Version}' strongswan-charon 2>/dev/null || echo unknown)
python3 - "$WORK/raw.jsonl" "$OUT" "$MACHINE" "$CHARON_VERSION" "$RUNS" "$CONCURRENCY" \
    "$FLOOD_RATE" "$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "${BUILD_NOTE:-commit $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown) plus working tree}" \
    "$FLOOR_US" "$LOAD_AT_START" "$TICK" "$SAS_PER_IDENTITY" "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$MARKER" <<'EOF'
import json, statistics, sys, re
raw, out, machine, charon_version, runs, conc, flood_rate, date, commit, floor_us, load = sys.argv[1:12]
tick, per_identity, load_end, marker = float(sys.argv[12]), int(sys.argv[13]), sys.argv[14], sys.argv[15]
everything = [json.loads(l) for l in open(raw) if l.strip()]
rows = [r for r in everything if r["section"] == "main"]
flood_rows = [r for r in everything if r["section"] == "flood"]
def med(rs, key):
    return statistics.median(r[key] for r in rs) if rs else None
def cell(v, fmt):
    return "—" if v is None else fmt % v
lines = []
lines.append(f"Measured {date} on {machine}; iked {commit}, "
             f"Debian charon {charon_version}. Medians of {runs} runs, concurrency {conc}, "
             "one fresh responder per run; CPU = responder user+sys from /proc over the set-up of "
             "all N SAs, divided by N (/proc counts 10 ms ticks: ±0.01 ms at N = 1,000); RSS = responder VmRSS growth while holding the N SAs, "
             f"divided by N. Load average (1/5/15 min) when the run started: {load}; at the end: {load_end}. "
             f"Clients: one identity per {per_identity} IKE SA(s), INITIAL_CONTACT on each identity's first SA "
             "(column IC: IKE_AUTH requests that carried it, median).")
lines.append("")
lines.append("| variant | N | responder | CPU/SA (ms) | SAs/s | p50 / p99 set-up (ms) | RSS/SA (KB) | IC | failed | retransmits |")
lines.append("|---|---|---|---|---|---|---|---|---|---|")
ratios = []
variants = sorted({r["variant"] for r in rows}, key=lambda v: v != "childless")
for variant in variants:
    sizes = sorted({r["n"] for r in rows if r["variant"] == variant})
    for n in sizes:
        cpu = {}
        rss = {}
        for resp in ("iked", "charon"):
            rs = [r for r in rows if r["variant"] == variant and r["n"] == n and r["responder"] == resp]
            if not rs:
                continue
            label = resp if resp == "iked" else f"charon {charon_version.split('-')[0]}"
            if variant == "child":
                label += " (record-only kernel)" if resp == "iked" else " (kernel-libipsec)"
            cpu[resp], rss[resp] = med(rs, "cpu_ms_per_sa"), med(rs, "rss_kb_per_sa")
            lines.append("| %s | %d | %s | %s | %s | %s / %s | %s | %s | %d | %d |" % (
                variant, n, label, cell(cpu[resp], "%.3f"), cell(med(rs, "sas_per_s"), "%.0f"),
                cell(med(rs, "latency_p50_ms"), "%.2f"), cell(med(rs, "latency_p99_ms"), "%.2f"),
                cell(rss[resp], "%.2f"), cell(med(rs, "initial_contacts"), "%.0f"),
                sum(r["failed"] for r in rs), sum(r["retransmits"] for r in rs)))
        if "iked" in cpu and "charon" in cpu:
            ratios.append((variant, n, cpu["iked"] / cpu["charon"], rss["iked"] / rss["charon"] if rss["charon"] > 0 else float("nan"), cpu["iked"]))
lines.append("")
# --- CPU per SA by slice of the largest run: does each new SA cost more as more are held? ---
def slices(r):
    pts = {x["established"]: x for x in r.get("samples") or []}
    if 0 not in pts:
        return {}
    top = r["established"]
    bounds = sorted({b for b in [0, 1000, top, *range(10000, top + 1, 10000)] if b in pts})
    out = {}
    for a, b in zip(bounds, bounds[1:]):
        # ns of the threads' run time where the kernel reports it, else 10 ms ticks.
        if pts[b].get("cpu_ns") and pts[a].get("cpu_ns") is not None:
            ms = (pts[b]["cpu_ns"] - pts[a]["cpu_ns"]) / 1e6
        else:
            ms = (pts[b]["cpu_ticks"] - pts[a]["cpu_ticks"]) / tick * 1e3
        out[(a, b)] = (ms / (b - a), (pts[b]["rss_kb"] - pts[0]["rss_kb"]) / b)
    return out
for variant in variants:
    for resp in ("iked", "charon"):
        rs = [r for r in rows if r["variant"] == variant and r["responder"] == resp]
        if not rs:
            continue
        top = max(r["n"] for r in rs)
        per_run = [slices(r) for r in rs if r["n"] == top]
        keys = sorted(set().union(*per_run))
        if len(keys) < 2:
            continue
        cells = {k: (statistics.median(s[k][0] for s in per_run if k in s),
                     statistics.median(s[k][1] for s in per_run if k in s)) for k in keys}
        mid = statistics.median(c[0] for c in cells.values())
        label = resp if resp == "iked" else f"charon {charon_version.split('-')[0]}"
        lines.append(f"CPU per SA by slice while {label} ({variant}) goes from 0 to {top:,} held SAs "
                     f"(the N = {top:,} run{'s' if len(per_run) > 1 else ''}, median per slice; responder CPU "
                     "time (threads' run time in ns from /proc/<pid>/task/*/schedstat) sampled by the generator; RSS/SA = RSS growth since the start ÷ SAs held at the slice's end):")
        lines.append("")
        lines.append("| SAs held (slice) | CPU/SA in the slice (ms) | ÷ median of slices | RSS/SA held (KB) |")
        lines.append("|---|---|---|---|")
        for (a, b), (c, kb) in cells.items():
            lines.append("| %s–%s | %.3f | %.2f | %.2f |" % (f"{a:,}", f"{b:,}", c, c / mid if mid else float("nan"), kb))
        spread = max(abs(c[0] / mid - 1) for c in cells.values()) if mid else float("nan")
        lines.append("")
        lines.append(f"Largest deviation of a slice from the median ({mid:.3f} ms): ±{spread * 100:.0f} %.")
        lines.append("")
floor_ms = float(floor_us) / 1e3 if floor_us else None
if ratios:
    floor_head = " CPU/SA iked ÷ crypto floor |" if floor_ms else ""
    lines.append("| variant | N | CPU/SA iked ÷ charon | RSS/SA iked ÷ charon |" + floor_head)
    lines.append("|---|---|---|---|" + ("---|" if floor_ms else ""))
    for variant, n, c, m, ik in ratios:
        floor_cell = " %.2f |" % (ik / floor_ms) if floor_ms else ""
        lines.append("| %s | %d | %.3f (1/%.1f) | %.3f (1/%.1f) |" % (variant, n, c, 1 / c, m, 1 / m if m > 0 else float("nan")) + floor_cell)
    lines.append("")
if floor_ms:
    lines.append(f"Crypto floor: {floor_us} µs per responder IKE_SA + CHILD_SA (criterion median of "
                 "`responder crypto floor` in crypto/benches/crypto.rs, measured at the start of this run: "
                 "X25519 key generation and shared secret, NAT_DETECTION hashes, SKEYSEED and key set, "
                 "IKE_AUTH decryption and encryption, both AUTH values, CHILD_SA KEYMAT).")
    lines.append("")
storm = [r for r in flood_rows if r["flood"] > 0]
if storm:
    calm = [r for r in flood_rows if r["flood"] == 0]
    a, b = med(calm, "sas_per_s"), med(storm, "sas_per_s")
    lines.append(f"Flood: {storm[0]['n']} legitimate childless IKE SAs against iked, without and with "
                 f"{flood_rate} spoofed IKE_SA_INIT/s from {len(storm)} runs (flood packets sent, median: "
                 f"{statistics.median(r['flood_sent'] for r in storm):.0f}).")
    lines.append("")
    lines.append("| load | legitimate SAs/s | p50 / p99 set-up (ms) | iked CPU per legitimate SA (ms) | COOKIE challenges answered | failed | retransmits |")
    lines.append("|---|---|---|---|---|---|---|")
    for name, rs in (("no flood", calm), (f"{flood_rate} spoofed IKE_SA_INIT/s", storm)):
        lines.append("| %s | %.0f | %.2f / %.2f | %.3f | %.0f | %d | %d |" % (name, med(rs, "sas_per_s"), med(rs, "latency_p50_ms"),
                     med(rs, "latency_p99_ms"), med(rs, "cpu_ms_per_sa"), med(rs, "cookies_received"),
                     sum(r["failed"] for r in rs), sum(r["retransmits"] for r in rs)))
    lines.append("")
    lines.append(f"Legitimate rate under flood ÷ unloaded: {b / a:.2f}.")
    lines.append("")
table = "\n".join(lines)
begin, end = f"<!-- {marker} begin -->", f"<!-- {marker} end -->"
try:
    doc = open(out).read()
except FileNotFoundError:
    doc = f"# Benchmark results\n\n{begin}\n{end}\n"
if begin not in doc:
    doc += f"\n{begin}\n{end}\n"
doc = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: f"{begin}\n{table}\n{end}", doc, flags=re.S)
open(out, "w").write(doc)
print(table)
EOF
echo "bench.sh: raw results in bench/last-run.jsonl, table in ${OUT#"$ROOT"/}" >&2
