#!/usr/bin/env bash
# The cached test roots' shared steps (setup-boot-root.sh, setup-asterisk-root.sh, setup-coturn-root.sh); sourced.
# A root is a Debian minbase chroot built once under /var/cache/weebeetalk-test, stamped with what it was built from,
# and rebuilt only when that changes.

# host_packages PACKAGE...: install on this machine those of PACKAGE that are missing.
host_packages() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]} > 0)); then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

# root_current ROOT STAMP: whether ROOT exists, built from STAMP.
root_current() {
  [[ -f "$1/.weebeetalk-stamp" && "$(cat "$1/.weebeetalk-stamp")" == "$2" ]]
}

# build_root SUITE ROOT STAMP PREPARE PACKAGE...: debootstrap a minbase SUITE with PACKAGE... in a scratch folder of
# the cache, without the downloaded archives, its resolver pointed at loopback (the tests' namespaces reach nothing
# else), then PREPARE ROOT (a function of the caller, `:` for none; it fails the build by failing), then stamp it
# and put it in ROOT's place. debootstrap installs with a policy-rc.d that starts no service.
build_root() {
  local suite=$1 root=$2 stamp=$3 prepare=$4 include tmp
  shift 4
  include=$(
    IFS=,
    echo "$*"
  )
  tmp=$(mktemp -d "$(dirname "$root")/build.XXXXXX")
  # debootstrap verifies the Release signature, not its Valid-Until (sid's may be expired).
  if ! debootstrap --variant=minbase --include="$include" "$suite" "${tmp}/root" http://deb.debian.org/debian; then
    rm -rf "$tmp"
    return 1
  fi
  rm -rf "${tmp}/root/var/cache/apt/archives/"*.deb
  echo 'nameserver 127.0.0.1' > "${tmp}/root/etc/resolv.conf"
  if ! "$prepare" "${tmp}/root"; then
    rm -rf "$tmp"
    return 1
  fi
  echo "$stamp" > "${tmp}/root/.weebeetalk-stamp"
  rm -rf "$root"
  mv "${tmp}/root" "$root"
  rm -rf "$tmp"
}
