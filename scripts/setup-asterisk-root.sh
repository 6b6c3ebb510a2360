#!/usr/bin/env bash
# One-time build for the real-Asterisk tests (test/asterisk-*.test.ts): a Debian sid minbase chroot with
# Asterisk 22 (Debian 12 and 13 have none) and SIPp 3.8 (bookworm's sip-tester 3.6 is built without TLS),
# plus Debian 12's fail2ban unpacked (not installed: no daemon on this machine) for fail2ban-regex.
# Cached under /var/cache/weebeetalk-test; rebuilt only when the package list changes. Its Asterisk must have
# the major version of production's image pin (userdata/upstream.ts), checked at every run.
set -euo pipefail
# shellcheck source=test-root.sh
. "$(dirname "$0")/test-root.sh"

cache=/var/cache/weebeetalk-test
root="${cache}/sid-asterisk"
f2b="${cache}/fail2ban-bookworm"
packages=(asterisk sip-tester)
stamp="sid minbase ${packages[*]} resolv-loopback"

if [[ $(id -u) -ne 0 ]]; then
  echo "asterisk test root: needs root (debootstrap, network namespaces); the real-Asterisk tests are skipped without it" >&2
  exit 0
fi
host_packages debootstrap iproute2 util-linux openssl python3
install -d -m 0755 "$cache"

# The version production runs, from its image pin (andrius/asterisk:<version>_debian-trixie).
pin=$(sed -n "s/^export const ASTERISK_IMAGE = 'andrius\/asterisk:\([0-9][0-9.]*\)_.*';$/\1/p" "$(dirname "$0")/../userdata/upstream.ts")
if [[ ! $pin =~ ^([0-9]+)\.([0-9]+)\. ]]; then
  echo "asterisk test root: cannot read the Asterisk version from ASTERISK_IMAGE in userdata/upstream.ts (got '${pin}')" >&2
  exit 1
fi
pin_major=${BASH_REMATCH[1]}
pin_minor=${BASH_REMATCH[2]}

# The tests stand for production only with the same Asterisk major: sid moves on, and snapshot.debian.org
# (to pin an older sid) may not be reachable, so a chroot with another major is refused, not used.
check_asterisk_version() {
  local out version
  out=$(chroot "$1" asterisk -V) || {
    echo "asterisk test root: 'asterisk -V' failed in $1" >&2
    return 1
  }
  echo "$out"
  if [[ ! $out =~ ^Asterisk\ (([0-9]+)\.([0-9]+)\.[0-9]+) ]]; then
    echo "asterisk test root: cannot read a version from '${out}'" >&2
    return 1
  fi
  version=${BASH_REMATCH[1]}
  if [[ ${BASH_REMATCH[2]} != "$pin_major" ]]; then
    echo "asterisk test root: sid has Asterisk ${version}, production runs ${pin} (andrius/asterisk): the tests need Asterisk ${pin_major}.x." >&2
    echo "  Build the chroot from a Debian snapshot with Asterisk ${pin_major}.x (snapshot.debian.org), or change the pin on purpose." >&2
    return 1
  fi
  if [[ ${BASH_REMATCH[3]} != "$pin_minor" ]]; then
    echo "asterisk test root: WARNING: sid has Asterisk ${version}, production runs ${pin}: same major, another minor" >&2
  fi
}

# The dial-in's prompts as the pbx host gets them (Debian's asterisk-core-sounds-en-gsm, userdata/pbx/index.ts):
# asterisk depends on asterisk-core-sounds-en, whose first alternative is the GSM package.
check_prompts() {
  if [[ ! -f "$1/usr/share/asterisk/sounds/en_US_f_Allison/conf-getpin.gsm" ]]; then
    echo "asterisk test root: no GSM prompts (asterisk-core-sounds-en-gsm) in $1: delete it to rebuild" >&2
    return 1
  fi
}

# The tests bind their own configuration over the samples: they must never be what Asterisk loads. SIPp must have
# TLS (sipp -v exits non-zero by design: its text is checked).
prepare() {
  check_asterisk_version "$1"
  check_prompts "$1"
  [[ $(chroot "$1" sipp -v || true) == *TLS* ]]
}
if root_current "$root" "$stamp"; then
  check_asterisk_version "$root"
  check_prompts "$root"
  echo "asterisk test root up to date: ${root}"
else
  build_root sid "$root" "$stamp" prepare "${packages[@]}"
  echo "asterisk test root built: ${root}"
fi

# fail2ban as Debian 12 ships it (its filter.d/asterisk.conf is what the pbx host runs).
f2b_version=$(apt-cache policy fail2ban | sed -n 's/^  Candidate: //p')
if [[ -f "${f2b}/.weebeetalk-stamp" && "$(cat "${f2b}/.weebeetalk-stamp")" == "$f2b_version" ]]; then
  echo "fail2ban ${f2b_version} unpacked: ${f2b}"
else
  tmp=$(mktemp -d "${cache}/build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  if ! (cd "$tmp" && apt-get download "fail2ban=${f2b_version}"); then
    apt-get update -q
    f2b_version=$(apt-cache policy fail2ban | sed -n 's/^  Candidate: //p')
    (cd "$tmp" && apt-get download "fail2ban=${f2b_version}")
  fi
  dpkg-deb -x "$tmp"/fail2ban_*.deb "${tmp}/tree"
  echo "$f2b_version" > "${tmp}/tree/.weebeetalk-stamp"
  rm -rf "$f2b"
  mv "${tmp}/tree" "$f2b"
  rm -rf "$tmp"
  trap - EXIT
  echo "fail2ban ${f2b_version} unpacked: ${f2b}"
fi
