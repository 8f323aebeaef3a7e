#!/usr/bin/env bash
# Installs the Debian packages the project needs on the controller, only those missing.
# Idempotent: a machine that has them all runs no apt command at all.
set -euo pipefail
packages=(
  podman runc debootstrap uidmap slirp4netns fuse-overlayfs containernetworking-plugins
  netavark aardvark-dns iptables
  python3 python3-venv python3-dev gcc openssh-client sqlite3 git make ca-certificates
  chromium
  # the web console's browser tests drive Debian's Chromium through its own driver (Selenium)
  chromium-driver
  # decodes the QR code of an enrolment bundle in the lab test (zbarimg)
  zbar-tools
  # the lab's package cache (provisioner starts it itself: adapters/aptcache.py)
  apt-cacher-ng
  # the job queue's Redis in the tests and benchmarks (started privately: adapters/redis_server.py)
  redis-server
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-host-deps: missing ${missing[*]}; run as root (apt-get install)" >&2
    exit 1
  fi
  echo "install-host-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
