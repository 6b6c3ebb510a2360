#!/usr/bin/env bash
# One-time build for the real-coturn tests (test/coturn.test.ts): a Debian 12 minbase chroot with coturn as
# the turn host installs it (bookworm's 4.6.1: turnserver, turnutils_uclient, turnutils_peer), openssl (the
# tests' TLS client) and busybox (its syslogd receives coturn's log: the configuration says `syslog`). Cached under /var/cache/weebeetalk-test; rebuilt only when the package list changes.
# Its coturn must be 4.6.x, what userdata/turn writes its configuration for: checked at build and at every run.
set -euo pipefail

cache=/var/cache/weebeetalk-test
root="${cache}/coturn-bookworm"
packages=(coturn openssl busybox)
stamp="bookworm minbase ${packages[*]} resolv-loopback certs-mountpoint"

if [[ $(id -u) -ne 0 ]]; then
  echo "coturn test root: needs root (debootstrap, network namespaces); the real-coturn tests are skipped without it" >&2
  exit 0
fi
host_missing=()
for p in debootstrap iproute2 util-linux openssl; do
  dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q 'install ok installed' || host_missing+=("$p")
done
if ((${#host_missing[@]} > 0)); then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${host_missing[@]}"
fi
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

if [[ -f "${root}/.weebeetalk-stamp" && "$(cat "${root}/.weebeetalk-stamp")" == "$stamp" ]]; then
  check_coturn_version "$root"
  echo "coturn test root up to date: ${root}"
  exit 0
fi
tmp=$(mktemp -d "${cache}/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
include=$(
  IFS=,
  echo "${packages[*]}"
)
# debootstrap installs with a policy-rc.d that forbids starting services: the package's coturn (which would
# run with Debian's sample configuration, unauthenticated) never starts here.
debootstrap --variant=minbase --include="$include" bookworm "${tmp}/root" http://deb.debian.org/debian
rm -rf "${tmp}/root/var/cache/apt/archives/"*.deb
# debootstrap copied this machine's resolver: the tests' namespaces have none, and nothing may leave them.
echo 'nameserver 127.0.0.1' > "${tmp}/root/etc/resolv.conf"
# Where the turn host's deploy hook puts the certificate (turn-cert-deploy.sh): empty here, the tests bind their
# own over it in a private mount namespace.
install -d -m 0755 "${tmp}/root/etc/coturn/certs"
check_coturn_version "${tmp}/root"
echo "$stamp" > "${tmp}/root/.weebeetalk-stamp"
rm -rf "$root"
mv "${tmp}/root" "$root"
rm -rf "$tmp"
trap - EXIT
echo "coturn test root built: ${root}"
