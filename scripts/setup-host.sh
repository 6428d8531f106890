#!/usr/bin/env bash
# Installs everything the tests and the lab VM need on a fresh Debian 12 (bookworm) machine:
#   - Debian packages: strongSwan 5.9.8 (charon + swanctl + plugins), tcpdump, tshark, strace, kmod,
#     busybox-static (virtme-ng builds its initramfs with it), iputils-ping,
#     python3-venv, openvswitch-pki (`ovs-pki`: the lab's CA for the certificate rows, as the seed's
#     OVS section makes it), openvswitch-switch (ovsdb-server, ovs-vswitchd, ovs-vsctl and the `ovs`
#     Python package: the lab VM runs one OVS instance per host namespace for the OVS rows, and the
#     upstream ovs-monitor-ipsec test runs its own ovsdb-server; the host's services are left stopped);
#   - openvswitch-ipsec (upstream ovs-monitor-ipsec 3.1), unpacked under /var/lib/iked-lab/
#     openvswitch-ipsec, not installed: the package depends on strongSwan's starter;
#   - from bookworm-backports: qemu-system-x86 10 (bookworm's 7.2 oopses the guest under TCG), the
#     6.12 kernel (unpacked under /var/lib/iked-lab, never installed as a host kernel; its modules go
#     to /lib/modules/<version> because virtme-ng loads them from there) and iproute2 6.15 (unpacked
#     to /var/lib/iked-lab/iproute2/bin/ip: the first to parse `offload packet`);
#   - two Debian 13 (trixie) root file systems built with mmdebstrap under /var/lib/iked-lab
#     (trixie-strongswan: strongSwan 6; trixie-libreswan: Libreswan 5): the lab's other peers,
#     run chrooted in the VM (interop-tests/src/peer_root.rs); about 4 minutes each, once, both at
#     once in the background while the other steps run;
#   - virtme-ng (`vng`) from PyPI, in its own venv (Debian 12's pip refuses system-wide installs),
#     run through a wrapper /usr/local/bin/vng.
# Idempotent: every step checks first, so a second run makes no network access and takes well under
# a second. Needs root and the Debian package mirrors (plus PyPI for virtme-ng).
# Prints `ready: ...` on success; `IKED_LAB=/other/dir` moves the lab directory (the lab test reads
# the same variable).
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (installs packages)"
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || log "warning: written for Debian 12 (bookworm), found ${PRETTY_NAME:-unknown}"

export DEBIAN_FRONTEND=noninteractive
LAB=${IKED_LAB:-/var/lib/iked-lab}
APT_STAMP=$LAB/.apt-updated
mkdir -p "$LAB"

apt_updated=0
apt_update_once() {
  if (( ! apt_updated )); then
    log "apt-get update"
    apt-get update -qq
    touch "$APT_STAMP"
    apt_updated=1
  fi
}

# `apt-get download` as root drops to the _apt user, which must be able to write the target
# directory; a directory made by mktemp is 0700 root, hence the warning seen without this.
download_pkg() { # download_pkg DIR PACKAGE[/SUITE]
  chown _apt "$1" 2>/dev/null || chmod 0777 "$1"
  (cd "$1" && apt-get download -qq "$2")
}

# bookworm-backports carries the 6.12 kernel (with ESP), qemu 10 and iproute2 6.15. Reuse the URI
# and keyring of the machine's own Debian source so mirrors configured by the operator still apply.
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  uri=$(grep -rhs '^URIs:.*debian' /etc/apt/sources.list.d/*.sources | head -n1 | awk '{print $2}')
  [ -n "$uri" ] || uri=$(grep -hs '^deb .*debian' /etc/apt/sources.list | grep -v security | head -n1 | awk '{print $2}')
  [ -n "$uri" ] || uri=http://deb.debian.org/debian
  log "adding the bookworm-backports suite ($uri)"
  cat > /etc/apt/sources.list.d/bookworm-backports.sources <<SRC
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  rm -f "$APT_STAMP"
fi
# apt-cache look-ups below need lists that include backports.
[ -e "$APT_STAMP" ] || apt_update_once

# Debian 13 (trixie)'s strongSwan 6 and Libreswan 5: the lab's second and third peer families
# (interop-tests/src/peer_root.rs). Their binaries need trixie's C library, so they run chrooted
# in trixie root file systems built here with mmdebstrap from the same Debian mirror as the
# machine's own sources; the lab VM sees them through the shared root file system. One root per
# family: Debian's libreswan and strongswan packages conflict. Each is built into a temporary
# directory and renamed at the end, so a directory present under its final name is complete.
trixie_root_complete() { [ -e "$1/.complete" ] && [ "$(cat "$1/.complete")" = "$2" ]; }
build_trixie_root() { # build_trixie_root DIR PACKAGE,PACKAGE...
  local dir=$1 pkgs=$2 uri
  trixie_root_complete "$dir" "$pkgs" && return
  uri=$(grep -rhs '^URIs:.*debian' /etc/apt/sources.list.d/*.sources | grep -v security | head -n1 | awk '{print $2}')
  [ -n "$uri" ] || uri=$(grep -hs '^deb .*debian' /etc/apt/sources.list | grep -v security | head -n1 | awk '{print $2}')
  [ -n "$uri" ] || uri=http://deb.debian.org/debian
  log "building the trixie root file system $dir ($uri)"
  rm -rf "$dir.tmp"
  mmdebstrap --quiet --variant=minbase --include="$pkgs" \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    --dpkgopt='path-exclude=/usr/share/{doc,man,locale}/*' \
    trixie "$dir.tmp" "deb $uri trixie main" >&2
  printf '%s\n' "$pkgs" > "$dir.tmp/.complete"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
}
# netbase: /etc/protocols and /etc/services, through which charon and pluto parse `[udp/4789]`.
SWAN_ROOT_PKGS=strongswan-charon,strongswan-swanctl,libcharon-extra-plugins,libstrongswan-extra-plugins,netbase,iproute2,tcpdump,openssl
LSW_ROOT_PKGS=libreswan,libnss3-tools,netbase,iproute2,tcpdump,openssl
# Both roots build in the background, at once and while the steps below install packages: they
# are mostly downloads and unpacking (mmdebstrap runs its own apt in the new root, so it takes no
# lock of this machine's dpkg). The script waits for them before it says `ready`.
root_pids=()
if ! trixie_root_complete "$LAB/trixie-strongswan" "$SWAN_ROOT_PKGS" ||
   ! trixie_root_complete "$LAB/trixie-libreswan" "$LSW_ROOT_PKGS"; then
  if ! command -v mmdebstrap >/dev/null; then
    apt_update_once
    log "installing mmdebstrap"
    apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
  fi
  build_trixie_root "$LAB/trixie-strongswan" "$SWAN_ROOT_PKGS" & root_pids+=($!)
  build_trixie_root "$LAB/trixie-libreswan" "$LSW_ROOT_PKGS" & root_pids+=($!)
fi
wait_trixie_roots() {
  local pid
  for pid in "${root_pids[@]}"; do
    wait "$pid" || die "building a trixie root file system failed (see the mmdebstrap output above)"
  done
  root_pids=()
}
# A failure below must not leave an mmdebstrap running.
trap '[ ${#root_pids[@]} -eq 0 ] || kill "${root_pids[@]}" 2>/dev/null || true' EXIT


need_pkgs=()
for p in iproute2 tcpdump tshark strace kmod python3-venv iputils-ping busybox-static \
         strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-extra-plugins \
         openssl openvswitch-pki openvswitch-switch; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if (( ${#need_pkgs[@]} )); then
  apt_update_once
  log "installing ${need_pkgs[*]}"
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  # charon must not run as a host service: the lab starts its own instances in namespaces.
  systemctl disable --now strongswan.service strongswan-starter.service >/dev/null 2>&1 || true
  # Nor Open vSwitch: the tests and the lab VM run their own instances.
  systemctl disable --now openvswitch-switch.service ovsdb-server.service ovs-vswitchd.service \
    >/dev/null 2>&1 || true
fi
# Upstream ovs-monitor-ipsec, run unmodified by iked/tests/ovs_monitor_ipsec.rs.
if [ ! -x "$LAB/openvswitch-ipsec/usr/share/openvswitch/scripts/ovs-monitor-ipsec" ]; then
  apt_update_once
  log "unpacking openvswitch-ipsec (ovs-monitor-ipsec) under $LAB/openvswitch-ipsec"
  tmp=$(mktemp -d)
  download_pkg "$tmp" openvswitch-ipsec
  dpkg -x "$tmp"/openvswitch-ipsec_*.deb "$LAB/openvswitch-ipsec"
  rm -rf "$tmp"
fi
if ! dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null | grep -q '^1:1[0-9]'; then
  apt_update_once
  log "installing qemu-system-x86 from bookworm-backports"
  apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86 >/dev/null
fi

# The lab kernel: unpacked, not installed, so the host's boot set-up is untouched.
if ! ls "$LAB"/boot/vmlinuz-6.12.*-amd64 >/dev/null 2>&1; then
  apt_update_once
  log "fetching the lab kernel (linux-image-6.12 amd64-unsigned from bookworm-backports)"
  # The plain -amd64 flavour: -cloud-amd64 has no 9p and cannot boot virtme-ng.
  pkg=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9.]+\+deb12-amd64-unsigned$' | awk '{print $1}' | sort -V | tail -n1)
  [ -n "$pkg" ] || die "no linux-image-6.12 *-amd64-unsigned package found in bookworm-backports"
  tmp=$(mktemp -d)
  download_pkg "$tmp" "$pkg"
  dpkg -x "$tmp"/*.deb "$LAB"
  rm -rf "$tmp"
fi
kver=$(basename "$(ls -d "$LAB"/lib/modules/6.12.*-amd64 | sort -V | tail -n1)")
if [ ! -e "/lib/modules/$kver/modules.dep" ]; then
  log "installing modules of $kver under /lib/modules/$kver"
  # mkdir first: copying into a missing /lib/modules would create it *as* the version directory.
  mkdir -p /lib/modules
  rm -rf "/lib/modules/$kver"
  cp -a "$LAB/lib/modules/$kver" "/lib/modules/$kver"
  depmod "$kver"
fi

# iproute2 6.15 (bookworm-backports), unpacked beside the system's: it knows `offload packet`
# and prints `ip -j xfrm` JSON for states and policies.
if [ ! -x "$LAB/iproute2/bin/ip" ]; then
  apt_update_once
  log "fetching iproute2 from bookworm-backports"
  tmp=$(mktemp -d)
  download_pkg "$tmp" iproute2/bookworm-backports
  rm -rf "$LAB/iproute2"
  mkdir -p "$LAB/iproute2"
  dpkg -x "$tmp"/iproute2_*.deb "$LAB/iproute2"
  rm -rf "$tmp"
  # Newer packages ship usr/bin/ip (merged /usr); keep the documented path working.
  if [ ! -e "$LAB/iproute2/bin/ip" ] && [ -x "$LAB/iproute2/usr/bin/ip" ]; then
    mkdir -p "$LAB/iproute2/bin"
    ln -s ../usr/bin/ip "$LAB/iproute2/bin/ip"
  fi
  [ -x "$LAB/iproute2/bin/ip" ] || die "iproute2 package has no ip binary"
fi

wait_trixie_roots
trixie_version() { chroot "$LAB/trixie-$1" dpkg-query -W -f='${Version}' "$2"; }

# virtme-ng in a venv of Debian's python3, so pyenv or PEP 668 do not matter.
VENV=$LAB/venv
if [ ! -x "$VENV/bin/vng" ]; then
  log "installing virtme-ng from PyPI into $VENV"
  rm -rf "$VENV"
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check virtme-ng
fi
# strongSwan's Python VICI client, for the tests that drive iked with it (a missing client fails
# those tests under CI=true). In the same venv; the tests find it through $LAB/venv/bin/python3.
if ! "$VENV/bin/python3" -c 'import vici' 2>/dev/null; then
  log "installing the Python vici package from PyPI into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check vici
fi
# vng runs its helpers (virtme-run, ...) by name, so the venv's bin must lead PATH: a wrapper, not
# a symlink.
wrapper="#!/bin/sh
# written by iked's scripts/setup-host.sh: virtme-ng from $VENV
PATH=$VENV/bin:\$PATH exec $VENV/bin/vng \"\$@\""
if [ "$(cat /usr/local/bin/vng 2>/dev/null)" != "$wrapper" ]; then
  rm -f /usr/local/bin/vng
  printf '%s\n' "$wrapper" > /usr/local/bin/vng
  chmod 0755 /usr/local/bin/vng
fi

log "ready: kernel $kver, $(qemu-system-x86_64 --version | head -n1), $(vng --version 2>&1 | head -n1), $("$LAB/iproute2/bin/ip" -V), strongSwan $(dpkg-query -W -f='${Version}' strongswan-charon), trixie peers: strongSwan $(trixie_version strongswan strongswan-charon), Libreswan $(trixie_version libreswan libreswan)"
