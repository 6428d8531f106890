#!/bin/bash
# usage: run.sh SCENARIO  (A: seed, child in IKE_AUTH; B: childless + CREATE_CHILD_SA; F: fragmented IKE_AUTH)
set -u
S=$1
D=/tmp/wire/lab/out-$S
rm -rf $D /tmp/wire/lab/left /tmp/wire/lab/right; mkdir -p $D /tmp/wire/lab/left /tmp/wire/lab/right
cd /tmp/wire/lab
KERNEL="kernel-netlink"; EXTRA_L=""; EXTRA_R=""; CHARON_EXTRA=""
case $S in
  A) ;;
  B) EXTRA_L="childless = force" ;;
  F) EXTRA_L="fragmentation = force"; EXTRA_R="fragmentation = yes"; CHARON_EXTRA="fragment_size = 180" ;;
  L) KERNEL="kernel-libipsec kernel-netlink" ;;
  K) CHARON_EXTRA="cookie_threshold = 1" ;;
esac
for h in left right; do
  sed -e "s/#KERNEL#/$KERNEL/" -e "s/^charon {/charon {\n  $CHARON_EXTRA/" strongswan-$h.conf > $h/strongswan.conf
done
sed "s/#EXTRA#/$EXTRA_L/" swanctl-left.conf > left/swanctl.conf
sed "s/#EXTRA#/$EXTRA_R/" swanctl-right.conf > right/swanctl.conf
if [ $S = L ]; then
  # kernel-libipsec: userspace ESP, tunnel mode only, no ESN, no AES-GCM plugin on this host
  sed -i -e 's/mode = transport/mode = tunnel/' -e 's/esp_proposals = aes128gcm128-x25519-esn/esp_proposals = aes128-sha256-x25519/' left/swanctl.conf right/swanctl.conf
fi
if [ $S = K ]; then
  # initiator's first KE guess (modp2048) is not what the responder accepts: INVALID_KE_PAYLOAD
  sed -i -e 's/proposals = aes128-sha256-x25519/proposals = aes128-sha256-modp2048-x25519/' left/swanctl.conf
  sed -i -e 's/^  load = random/  load = gmp random/' left/strongswan.conf
fi

ip netns add wire-left; ip netns add wire-right
ip link add wl0 netns wire-left type veth peer name wr0 netns wire-right
ip -n wire-left addr add 192.168.50.1/24 dev wl0; ip -n wire-left link set wl0 up; ip -n wire-left link set lo up
ip -n wire-right addr add 192.168.50.2/24 dev wr0; ip -n wire-right link set wr0 up; ip -n wire-right link set lo up

ip netns exec wire-right tcpdump -i wr0 -U -w $D/ike.pcap udp port 500 or udp port 4500 2>$D/tcpdump.err &
TCPDUMP=$!
for h in left right; do
  ip netns exec wire-$h unshare -m sh -c "mount -t tmpfs none /run; STRONGSWAN_CONF=/tmp/wire/lab/$h/strongswan.conf exec /usr/lib/ipsec/charon" >$D/charon-$h.out 2>&1 &
  echo $! > $h/charon.wrapper.pid
done
for h in left right; do
  for i in $(seq 1 50); do [ -S /tmp/wire/lab/$h/charon.vici ] && break; sleep 0.2; done
  swanctl --load-all --uri unix:///tmp/wire/lab/$h/charon.vici --file /tmp/wire/lab/$h/swanctl.conf > $D/load-$h.out 2>&1
done
sleep 1
U="--uri unix:///tmp/wire/lab/left/charon.vici"
case $S in
  A) swanctl -i $U --child bf-in > $D/initiate.out 2>&1 ;;
  B) swanctl -i $U --ike BFL-BFR > $D/initiate.out 2>&1; sleep 1; swanctl -i $U --child bf-in --ike BFL-BFR > $D/child.out 2>&1 ;;
  F) swanctl -i $U --child bf-in > $D/initiate.out 2>&1 ;;
  L) swanctl -i $U --child bf-in > $D/initiate.out 2>&1; sleep 1; swanctl --rekey $U --child bf-in > $D/rekey-child.out 2>&1; sleep 1; swanctl --rekey $U --ike BFL-BFR > $D/rekey-ike.out 2>&1; sleep 1 ;;
  K) swanctl -i $U --ike BFL-BFR > $D/initiate.out 2>&1 ;;
esac
sleep 1
swanctl --list-sas $U > $D/list-sas.out 2>&1
swanctl -t $U --ike BFL-BFR > $D/terminate.out 2>&1
sleep 1
# stop what we started, by pid
for h in left right; do
  pid=$(ip netns pids wire-$h | while read p; do [ "$(cat /proc/$p/comm)" = charon ] && echo $p; done)
  [ -n "$pid" ] && kill $pid
done
sleep 1
kill $TCPDUMP; wait $TCPDUMP 2>/dev/null
cp left/charon.log $D/charon-left.log; cp right/charon.log $D/charon-right.log
ip netns del wire-left; ip netns del wire-right
echo done $S
