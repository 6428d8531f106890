#!/bin/sh
# Re-captures the golden XFRM request bytes that iproute2 sends for the seed's
# commands (NVIDIA BlueField IPsec guide, packet-offload example).
# Usage (root): IP=/var/lib/iked-lab/iproute2/bin/ip sh capture.sh OUTDIR
# Runs inside a throw-away network namespace with a veth named p0 so that
# `dev p0` resolves; the host kernel may reject the SA (no ESP), but the bytes
# are sent first. The netlink sequence number and port id (message bytes 8..16)
# are masked as XX because they vary per run.
set -eu
IP=${IP:-/var/lib/iked-lab/iproute2/bin/ip}
OUT=${1:-.}
NS=xfrmcap$$
ip netns add "$NS"
trap 'ip netns del "$NS"' EXIT
ip -n "$NS" link add p0 type veth peer name p0peer
ip -n "$NS" link set p0 up

capture() {
    name=$1; shift
    {
        echo "# golden bytes: the XFRM request iproute2 $("$IP" -V | sed 's/.*iproute2-\([0-9.]*\).*/\1/') sends for"
        echo "#   ip $*"
        echo "# captured with strace -f -e trace=sendmsg -e write=all in a netns holding veth p0;"
        echo "# bytes 8..16 (nlmsg_seq, nlmsg_pid) masked as XX."
        ip netns exec "$NS" strace -f -e trace=sendmsg -e write=all -xx -s 4000 "$IP" "$@" 2>&1 \
            | python3 -c '
import re, sys
grab, data = False, []
for line in sys.stdin:
    if line.startswith("sendmsg("):
        grab = "XFRM_MSG_" in line
        continue
    m = re.match(r" \| [0-9a-f]{5}  (.{48})", line)
    if grab and m:
        data += m.group(1).split()
hexes = [b if not 8 <= i < 16 else "XX" for i, b in enumerate(data)]
for i in range(0, len(hexes), 16):
    print(" ".join(hexes[i:i + 16]))
'
    } > "$OUT/$name.hex"
}

capture seed_sa_out xfrm state add src 192.168.1.64/24 dst 192.168.1.65/24 proto esp spi 0x4834535d reqid 0x4834535d mode transport aead 'rfc4106(gcm(aes))' 0xc57f6f084ebf8c6a71dd9a053c2e03b94c658a9bf00dd25780e73948931d10d08058a27c 128 offload packet dev p0 dir out sel src 192.168.1.64 dst 192.168.1.65
capture seed_sa_in xfrm state add src 192.168.1.65/24 dst 192.168.1.64/24 proto esp spi 0x2be60844 reqid 0x2be60844 mode transport aead 'rfc4106(gcm(aes))' 0xacca06b66489011d3c1c21f1a36d925cf7449d3aeaa6fe534446c3a8f8bd5f5fdc266589 128 offload packet dev p0 dir in sel src 192.168.1.65 dst 192.168.1.64
capture seed_policy_out xfrm policy add src 192.168.1.64 dst 192.168.1.65 dir out tmpl src 192.168.1.64/24 dst 192.168.1.65/24 proto esp reqid 0x4834535d mode transport
capture seed_policy_in xfrm policy add src 192.168.1.65 dst 192.168.1.64 dir in tmpl src 192.168.1.65/24 dst 192.168.1.64/24 proto esp reqid 0x2be60844 mode transport
# Not in the seed: the same outbound policy with packet offload and a udp/4789
# selector, as `hw_offload = packet` installs it for the seed's bf-out child.
capture policy_out_udp4789_offload xfrm policy add src 192.168.1.64/32 dst 192.168.1.65/32 proto udp dport 4789 dir out priority 366911 tmpl proto esp reqid 1 mode transport offload packet dev p0
# Not in the seed: a tunnel-mode inbound SA with separate cipher and integrity, NAT-T
# encapsulation, mark and if_id (other ESP transforms and attributes than the seed's).
capture sa_in_tunnel_cbc_hmac_natt xfrm state add src 10.1.0.1 dst 10.1.0.2 proto esp spi 0xc0000401 reqid 5 mode tunnel replay-window 32 auth-trunc 'hmac(sha256)' 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f 128 enc 'cbc(aes)' 0x202122232425262728292a2b2c2d2e2f encap espinudp 4500 4501 0.0.0.0 mark 0x10 mask 0xff if_id 4 dir in
