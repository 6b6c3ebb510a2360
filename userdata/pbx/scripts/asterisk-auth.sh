#!/usr/bin/env bash
# asterisk-auth.sh FILE: the digest credentials of pjsip.auth.conf from SSM, written to FILE for Asterisk (uid
# 1000) only. Prints "changed" or "unchanged" (asterisk.sh reloads PJSIP only when it changed); fails otherwise.
# Names are relative to the host's own SSM_PREFIX (its role policy grants only that path). Run by asterisk.sh
# with the host's settings in the environment (load_env exports them); the tests run it with an SSM stand-in.
# Reads every secret before writing: a failed read must not leave a truncated file.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=config-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/config-lib.sh"
out=${1:?usage: asterisk-auth.sh FILE}
: "${SSM_PREFIX:?}" "${AWS_REGION:?}" "${JIGASI_ENABLED:?}" "${SIP_WSS:?}"

auth=""
add_auth() { # SECTION USERNAME PASSWORD
  local section
  printf -v section '[%s]\ntype=auth\nauth_type=digest\nusername=%s\npassword=%s\n\n' "$1" "$2" "$3"
  auth+=$section
}
if [[ "$JIGASI_ENABLED" == 1 ]]; then
  jigasi_password=$(ssm_shared meet/jigasi-sip-password)
  add_auth jigasi-auth jigasi "$jigasi_password"
fi
for ext in ${SIP_USERS:-}; do
  password=$(ssm_secret "sip-users/${ext}")
  add_auth "${ext}-auth" "$ext" "$password"
  if [[ "$SIP_WSS" == 1 ]]; then add_auth "webrtc-${ext}-auth" "webrtc-${ext}" "$password"; fi
done
# Asterisk (uid 1000 in its container) reads it; nobody else.
draft=$(secret_draft "$out")
printf '%s' "$auth" > "$draft"
if update_secret_file "$draft" "$out" 1000:1000; then echo changed; else echo unchanged; fi
