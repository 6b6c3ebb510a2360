#!/usr/bin/env bash
# One-time build of the first-boot harness's sandbox root (test/boot.test.ts): a Debian 12 minbase with what
# the AMI and cloud-init's `packages` give the bootstrap scripts to run. Cached; rebuilt when the list changes.
set -euo pipefail
# shellcheck source=test-root.sh
. "$(dirname "$0")/test-root.sh"

cache=/var/cache/weebeetalk-test
root="${cache}/bookworm-root"
# What the scripts really execute: blkid/mount/mountpoint (util-linux, mount), mkfs.ext4/resize2fs (e2fsprogs),
# curl against instance metadata, jq, gpg (the apt key's fingerprint), openssl (the certbot stand-in), tar/gzip,
# iptables (the chat host's metadata guard runs for real in the sandbox's own network namespace; Docker's
# packages depend on it on a host).
packages=(bash coreutils util-linux mount e2fsprogs curl jq gnupg openssl ca-certificates iproute2 procps tar gzip sed gawk findutils iptables)
stamp="bookworm minbase ${packages[*]}"
key="${cache}/docker-ce.asc"

# Docker's apt key for the stand-in download.docker.com, from Debian's own copy (extrepo-offline-data).
docker_key() {
  [[ -s "$key" ]] && return 0
  local tmp
  tmp=$(mktemp -d)
  chmod 0755 "$tmp" # apt downloads as _apt
  (cd "$tmp" && { apt-get download -q extrepo-offline-data || { apt-get update -q && apt-get download -q extrepo-offline-data; }; })
  dpkg-deb -x "$tmp"/extrepo-offline-data_*.deb "${tmp}/x"
  install -m 0644 "${tmp}/x/usr/share/extrepo/offline-data/debian/bookworm/docker-ce.asc" "$key"
  rm -rf "$tmp"
}

if [[ $(id -u) -ne 0 ]]; then
  echo "boot sandbox root: needs root (debootstrap); the first-boot tests are skipped without it" >&2
  exit 0
fi
# The harness itself (test/support/boot/sandbox.sh) needs ip in its namespaces; debootstrap builds the root.
host_packages debootstrap iproute2
install -d -m 0755 "$cache"
docker_key
if root_current "$root" "$stamp"; then
  echo "boot sandbox root up to date: ${root}"
  exit 0
fi
build_root bookworm "$root" "$stamp" : "${packages[@]}"
echo "boot sandbox root built: ${root}"
