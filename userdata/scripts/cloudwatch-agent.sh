#!/usr/bin/env bash
# cloudwatch-agent (WBT_CWAGENT_SERVICE: after an apply that changes the agent's configuration, and hourly by its
# timer): AWS's CloudWatch agent (userdata/cloudwatch-agent.ts), installed like the SSM agent from AWS's regional bucket
# for this host's architecture, but only once its signature checks: gpgv, with AWS's key as its only keyring, must
# report a good signature by the primary key WBT_CWAGENT_FINGERPRINT (the fingerprint AWS publishes); anything else is
# refused and nothing is installed. Then the agent runs with the bundle's configuration (WBT_CWAGENT_CONFIG).
# Idempotent: an installed agent this script verified is not downloaded again; an unchanged configuration is not
# loaded again while the agent runs. Log: the journal of its service.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_settings

pkg=amazon-cloudwatch-agent
installed() { [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null || true)" == "install ok installed" ]]; }

# dearmor FILE: the key in OpenPGP's binary form on stdout (gpgv reads no ASCII armour): the armoured block's
# base64 without its header lines and checksum, or the file as it is.
dearmor() {
  if grep -q -- '^-----BEGIN PGP PUBLIC KEY BLOCK-----' "$1"; then
    sed -n '/^-----BEGIN PGP PUBLIC KEY BLOCK-----/,/^-----END PGP PUBLIC KEY BLOCK-----/p' "$1" | tr -d '\r' |
      sed '1d;$d' | sed '/^[A-Za-z0-9-]*: /d; /^$/d; /^=/d' | base64 -d
  else
    cat "$1"
  fi
}

# verify DEB SIG KEY: whether SIG is a good signature of DEB by the key with the pinned primary fingerprint. gpgv in a
# throwaway home with KEY as its one keyring: no other key counts, and a key of another fingerprint (a substituted
# download) signs nothing we accept.
verify() {
  local home status signer
  home=$(mktemp -d)
  if ! dearmor "$3" > "${home}/pinned.gpg" 2> "${home}/err"; then
    log "the key is not an OpenPGP key: $(tr '\n' ' ' < "${home}/err")"
    rm -rf "$home"
    return 1
  fi
  if ! status=$(gpgv --homedir "$home" --keyring "${home}/pinned.gpg" --status-fd 1 "$2" "$1" 2> "${home}/err"); then
    log "gpgv: $(tr '\n' ' ' < "${home}/err")"
    rm -rf "$home"
    return 1
  fi
  rm -rf "$home"
  # VALIDSIG's last field is the primary key's fingerprint (GnuPG doc/DETAILS).
  signer=$(awk '$1 == "[GNUPG:]" && $2 == "VALIDSIG" { print $NF }' <<< "$status")
  if [[ "$signer" != "$WBT_CWAGENT_FINGERPRINT" ]]; then
    log "the signature is by ${signer:-no valid key}, not AWS's ${WBT_CWAGENT_FINGERPRINT}"
    return 1
  fi
}

download() {
  retry 5 10 curl -fsSL --proto '=https' --tlsv1.2 -o "$1" "$2"
}

if installed && [[ -s "$WBT_CWAGENT_VERIFIED" ]]; then
  log "${pkg} installed and verified ($(cat "$WBT_CWAGENT_VERIFIED")): not downloaded again"
else
  arch=$(dpkg --print-architecture)
  path=""
  for pair in $WBT_CWAGENT_PACKAGES; do
    if [[ "${pair%%:*}" == "$arch" ]]; then path=${pair#*:}; fi
  done
  [[ -n "$path" ]] || die "AWS publishes no CloudWatch agent package for ${arch}"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  url="${WBT_CWAGENT_BASE_URL}/${path}/latest/${pkg}.deb"
  download "${work}/${pkg}.deb" "$url" || die "cannot download ${url}"
  download "${work}/${pkg}.deb.sig" "${url}.sig" || die "cannot download ${url}.sig"
  key=${WBT_CWAGENT_KEY_FILE:-}
  if [[ -z "$key" ]]; then
    key=${work}/${pkg}.gpg
    download "$key" "$WBT_CWAGENT_KEY_URL" || die "cannot download ${WBT_CWAGENT_KEY_URL}"
  fi
  verify "${work}/${pkg}.deb" "${work}/${pkg}.deb.sig" "$key" ||
    die "refused: ${url} is not signed by AWS's CloudWatch agent key ${WBT_CWAGENT_FINGERPRINT}; nothing installed"
  apt_install "${work}/${pkg}.deb"
  install -d -m 0755 "${WBT_CWAGENT_VERIFIED%/*}"
  echo "$(sha256sum < "${work}/${pkg}.deb" | cut -d' ' -f1) signed by ${WBT_CWAGENT_FINGERPRINT}" > "$WBT_CWAGENT_VERIFIED"
  log "${pkg} installed from ${url} (signature verified)"
fi

# The bundle's configuration: loaded (and the agent started) when it changed or the agent is not running.
want=$(sha256sum < "$WBT_CWAGENT_CONFIG" | cut -d' ' -f1)
if [[ "$(cat "$WBT_CWAGENT_APPLIED" 2> /dev/null || true)" == "$want" ]] && systemctl is-active --quiet "$WBT_CWAGENT_AGENT_SERVICE"; then
  log "the CloudWatch agent runs with ${WBT_CWAGENT_CONFIG} already"
  exit 0
fi
"$WBT_CWAGENT_CTL" -a fetch-config -m ec2 -s -c "file:${WBT_CWAGENT_CONFIG}"
echo "$want" > "$WBT_CWAGENT_APPLIED"
log "the CloudWatch agent runs with ${WBT_CWAGENT_CONFIG} (${want})"
