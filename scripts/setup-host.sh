#!/usr/bin/env bash
# Installs everything the tests and the lab need on a fresh Debian 12 machine.
# Idempotent: a second run only checks. Needs root and the Debian package mirrors.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }

export DEBIAN_FRONTEND=noninteractive

# bookworm-backports carries the 6.12 kernel (with ESP), qemu 10 and iproute2 6.15.
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  log "adding the bookworm-backports suite"
  cat > /etc/apt/sources.list.d/bookworm-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  rm -f /var/lib/iked-setup.apt-updated
fi

need_pkgs=()
for p in iproute2 tcpdump tshark strace kmod python3-pip \
         strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-extra-plugins \
         openssl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
qemu_ok=0
if dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null | grep -q '^1:10'; then qemu_ok=1; fi

if (( ${#need_pkgs[@]} )) || (( ! qemu_ok )) || [ ! -e /var/lib/iked-setup.apt-updated ]; then
  log "apt-get update"
  apt-get update -qq
  touch /var/lib/iked-setup.apt-updated
fi
if (( ${#need_pkgs[@]} )); then
  log "installing ${need_pkgs[*]}"
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
# charon must not run as a host service: the tests start their own instances.
systemctl disable --now strongswan.service strongswan-starter.service >/dev/null 2>&1 || true
if (( ! qemu_ok )); then
  log "installing qemu-system-x86 from bookworm-backports"
  apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86 >/dev/null
fi

# The lab kernel: unpacked, not installed, so the host's boot set-up is untouched.
LAB=/var/lib/iked-lab
mkdir -p "$LAB"
if ! ls "$LAB"/boot/vmlinuz-6.12.*-amd64 >/dev/null 2>&1; then
  log "fetching the lab kernel (linux-image-6.12 amd64-unsigned from bookworm-backports)"
  pkg=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9.]+\+deb12-amd64-unsigned$' | awk '{print $1}' | sort -V | tail -n1)
  [ -n "$pkg" ] || { log "no linux-image-6.12 *-amd64-unsigned package found"; exit 1; }
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq "$pkg")
  dpkg -x "$tmp"/*.deb "$LAB"
  rm -rf "$tmp"
fi
kver=$(basename "$(ls -d "$LAB"/lib/modules/6.12.*-amd64 | sort -V | tail -n1)")
if [ ! -d "/lib/modules/$kver" ]; then
  log "installing modules of $kver under /lib/modules"
  cp -a "$LAB/lib/modules/$kver" /lib/modules/
  depmod "$kver"
fi

# iproute2 6.15 (bookworm-backports), unpacked beside the system's: it knows `offload packet`.
if [ ! -x "$LAB/iproute2/bin/ip" ]; then
  log "fetching iproute2 from bookworm-backports"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq iproute2/bookworm-backports)
  mkdir -p "$LAB/iproute2"
  dpkg -x "$tmp"/iproute2_*.deb "$LAB/iproute2"
  rm -rf "$tmp"
fi

if ! command -v vng >/dev/null 2>&1; then
  log "installing virtme-ng from PyPI"
  pip install -q virtme-ng
fi
log "ready: kernel $kver, $(qemu-system-x86_64 --version | head -n1), $(vng --version 2>&1 | head -n1)"
