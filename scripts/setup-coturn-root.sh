#!/usr/bin/env bash
# One-time build for the real-coturn tests (test/coturn.test.ts): a Debian 12 minbase chroot with coturn as
# the turn host installs it (bookworm's 4.6.1: turnserver, turnutils_uclient, turnutils_peer), openssl (the
# tests' TLS client) and busybox (its syslogd receives coturn's log: the configuration says `syslog`). Cached under /var/cache/weebeetalk-test; rebuilt only when the package list changes.
# Its coturn must be 4.6.x, what userdata/turn writes its configuration for: checked at build and at every run.
set -euo pipefail
# shellcheck source=test-root.sh
. "$(dirname "$0")/test-root.sh"

cache=/var/cache/weebeetalk-test
root="${cache}/coturn-bookworm"
packages=(coturn openssl busybox)
stamp="bookworm minbase ${packages[*]} resolv-loopback certs-mountpoint"

if [[ $(id -u) -ne 0 ]]; then
  echo "coturn test root: needs root (debootstrap, network namespaces); the real-coturn tests are skipped without it" >&2
  exit 0
fi
host_packages debootstrap iproute2 util-linux openssl
install -d -m 0755 "$cache"

# The version the turn host runs (Debian 12's coturn), from the package database of the chroot: the tests
# stand for production only with the same 4.6 series, whatever a point release of bookworm brings.
check_coturn_version() {
  local version
  # shellcheck disable=SC2016 # dpkg-query's format, not the shell's
  version=$(chroot "$1" dpkg-query -W -f='${Version}' coturn) || {
    echo "coturn test root: no coturn package in $1" >&2
    return 1
  }
  if [[ ! $version =~ ^4\.6\.[0-9]+- ]]; then
    echo "coturn test root: $1 has coturn ${version}; the turn host's configuration is written for Debian 12's 4.6.x" >&2
    return 1
  fi
  [[ -x "$1/usr/bin/turnserver" && -x "$1/usr/bin/turnutils_uclient" && -x "$1/usr/bin/turnutils_peer" ]] || {
    echo "coturn test root: turnserver, turnutils_uclient or turnutils_peer missing in $1" >&2
    return 1
  }
  echo "coturn ${version}"
}

if root_current "$root" "$stamp"; then
  check_coturn_version "$root"
  echo "coturn test root up to date: ${root}"
  exit 0
fi
# Where the turn host's deploy hook puts the certificate (turn-cert-deploy.sh): empty here, the tests bind their
# own over it in a private mount namespace. The package's coturn never starts here (debootstrap's policy-rc.d): it
# would run with Debian's sample configuration, unauthenticated.
prepare() {
  install -d -m 0755 "$1/etc/coturn/certs"
  check_coturn_version "$1"
}
build_root bookworm "$root" "$stamp" prepare "${packages[@]}"
echo "coturn test root built: ${root}"
