#!/usr/bin/env bash
# The seed's BFL/BFR tunnel, end to end, in one command from a fresh Debian 12 machine:
#   1. installs what the lab needs (scripts/setup-host.sh; quick when already done),
#   2. builds the lab runner and iked/ikectl (BFL runs iked, BFR stock strongSwan, by default),
#   3. boots the lab VM once (TCG, 6.12 kernel with ESP), where two network namespaces BFL
#      (192.168.50.1) and BFR (192.168.50.2) are joined by a veth `p0`,
#   4. brings up the seed's swanctl.conf tunnel (`hw_offload = auto`: a veth has no offload),
#      initiating `bf-in` and `bf-out` from BFL, sends UDP/4789 both ways and one ICMP echo,
#   5. prints the daemons' SA lists, `ip xfrm state`/`policy` on both sides (keys redacted), the
#      first captured ESP packets, and a one-line VERDICT,
#   6. stops everything it started (daemons, namespaces, the VM).
# Exit status 0 only if the verdict is PASS. Logs stay in the printed output directory.
#
# `bash scripts/demo.sh ovs`: the seed's Open vSwitch PSK tunnel instead, with iked on both hosts:
# one OVS instance per host (bridge ovs-br, VXLAN port vxlanp0 with options:psk=swordfish, as the
# seed's OVS section adds it), each host's iked driven as NVIDIA's ovs-monitor-ipsec drives
# strongSwan (generated conf.d/ovs-swanctl.conf, swanctl --list-conns / -t --child / restart /
# --load-all through ikectl under the name swanctl); prints the switches, the generated files, the
# SAs, the kernel state and the ESP seen while pinging across the overlay, then changes the PSK and
# removes the port, and gives a VERDICT.
set -euo pipefail

VARIANT=${1:-seed}
case $VARIANT in
  seed | ovs) ;;
  *) echo "usage: bash scripts/demo.sh [ovs]" >&2; exit 2 ;;
esac

# What runs on BFL: our iked by default (BFR always runs stock strongSwan 5.9.8, the responder).
# BFL_IMPL=strongswan runs strongSwan on both sides (the lab's baseline), and the demo says so.
BFL_IMPL=${BFL_IMPL:-iked}
case $BFL_IMPL in
  iked | strongswan) ;;
  *) echo "BFL_IMPL must be iked or strongswan, not '$BFL_IMPL'" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
WORKSPACE=$PWD
START=$SECONDS

echo "== 1/3 host set-up"
bash scripts/setup-host.sh

echo "== 2/3 build"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$WORKSPACE/target}
cargo build -q -p interop-tests --bin lab-runner
if [ "$BFL_IMPL" = iked ] || [ "$VARIANT" = ovs ]; then
  cargo build -q -p iked --bins
fi
BIN=$CARGO_TARGET_DIR/debug

KERNEL=$(ls /var/lib/iked-lab/boot/vmlinuz-6.12.*-amd64 | sort -V | tail -n1)
OUT=$(mktemp -d /tmp/iked-demo.XXXXXX)

if [ "$VARIANT" = ovs ]; then WAIT="five to ten minutes"; else WAIT="one to two minutes"; fi
echo "== 3/3 lab VM ($(basename "$KERNEL"), TCG: expect $WAIT)"
# Through `cat`: qemu reopens its stdout by path, which would overwrite a redirected file.
set +e
vng --disable-kvm --memory 2G --run "$KERNEL" --rwdir "$OUT" --exec \
  "$BIN/lab-runner demo --out $OUT --workspace $WORKSPACE --iked $BIN/iked --ikectl $BIN/ikectl --ip /var/lib/iked-lab/iproute2/bin/ip --bfl $BFL_IMPL --variant $VARIANT" 2>&1 | cat
rc=${PIPESTATUS[0]}
set -e
echo
echo "demo finished in $((SECONDS - START)) s (exit $rc); logs and capture in $OUT"
exit $rc
