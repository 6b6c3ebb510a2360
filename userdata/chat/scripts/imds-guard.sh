#!/usr/bin/env bash
# Only Rocket.Chat reaches instance metadata on the chat host. The host's hop limit is 2 so that Rocket.Chat's
# container can use the instance role (S3 uploads); without this guard every other container (MongoDB, NATS,
# Traefik, a backup job, anything compromised) could read the role's credentials from IMDS too.
# Rules in Docker's DOCKER-USER chain, which FORWARD jumps to before Docker's own rules (a container's traffic to
# IMDS is forwarded; DOCKER-USER sees it before masquerading, with the container's own address):
#   1. Rocket.Chat's fixed address, from its compose network's bridge, to IMDS tcp/80: back to Docker's rules;
#   2. anything else forwarded to IMDS: dropped. In ip6tables: IMDS's IPv6 address, dropped for every container.
# Nothing else is touched. Idempotent: a run leaves exactly one copy of each rule, in that order, and changes
# nothing when they are in place. Run by weebeetalk-imds-guard.service before every start of Docker (boot, restart,
# a crash's automatic restart: rules are kernel state, gone at a reboot) and by the hook when its files change.
# Before Docker's first start at boot the chain is not there yet: this makes it and FORWARD's jump to it as dockerd
# does; dockerd keeps both, and "does not delete or modify any pre-existing rules" of DOCKER-USER (moby
# libnetwork setupUserChain), so no container runs without the rules.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_settings

chain=DOCKER-USER
tag=wbt-imds-guard
ipv4='^[0-9]{1,3}(\.[0-9]{1,3}){3}$'
[[ "$WBT_IMDS_ALLOWED" =~ $ipv4 && "$WBT_IMDS_ADDRESS" =~ $ipv4 ]] || die "WBT_IMDS_ALLOWED and WBT_IMDS_ADDRESS must be IPv4 addresses"
[[ "$WBT_IMDS_BRIDGE" =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || die "WBT_IMDS_BRIDGE '${WBT_IMDS_BRIDGE}' is not an interface name"
[[ "$WBT_IMDS_ADDRESS_SIX" =~ ^[0-9a-f:]+$ ]] || die "WBT_IMDS_ADDRESS_SIX '${WBT_IMDS_ADDRESS_SIX}' is not an IPv6 address"

# shellcheck disable=SC2034 # read through namerefs (guard)
allow=(-s "${WBT_IMDS_ALLOWED}/32" -d "${WBT_IMDS_ADDRESS}/32" -i "$WBT_IMDS_BRIDGE" -p tcp -m tcp --dport 80
  -m comment --comment "${tag}: Rocket.Chat may reach instance metadata" -j RETURN)
# shellcheck disable=SC2034
drop=(-d "${WBT_IMDS_ADDRESS}/32" -m comment --comment "${tag}: no other container may" -j DROP)
# shellcheck disable=SC2034
drop6=(-d "${WBT_IMDS_ADDRESS_SIX}/128" -m comment --comment "${tag}: no container may (IPv6)" -j DROP)

# ours TOOL: the chain's rules that carry our tag, as "POSITION:RULE" (POSITION counts the chain's rules from 1).
ours() {
  "$1" -w 10 -S "$chain" | grep -e '^-A ' | grep -n -F -e "--comment \"${tag}:" || true
}

# comment_of RULE...: the comment of a rule given as arguments.
comment_of() {
  while (($# > 1)); do
    if [[ "$1" == --comment ]]; then
      echo "$2"
      return 0
    fi
    shift
  done
  return 1
}

# in_place TOOL NAME...: whether the chain holds exactly the named rules of ours, one copy each, in that order.
in_place() {
  local tool=$1 lines i=0 line
  shift
  mapfile -t lines < <(ours "$tool")
  ((${#lines[@]} == $#)) || return 1
  local name
  for name in "$@"; do
    local -n rule=$name
    line=${lines[i]}
    [[ "$line" == *"--comment \"$(comment_of "${rule[@]}")\""* ]] || return 1
    "$tool" -w 10 -C "$chain" "${rule[@]}" 2> /dev/null || return 1
    i=$((i + 1))
  done
}

# guard TOOL NAME...: the named rules (arrays; the last one a DROP) at the top of the chain, in that order, and no
# other rule of ours (a stale or doubled one). The DROP goes in first, so metadata is never open while this runs.
guard() {
  local tool=$1 pos i
  shift
  local names=("$@")
  if in_place "$tool" "${names[@]}"; then
    log "${tool} ${chain}: the metadata guard is in place"
    return 0
  fi
  local -n last=${names[-1]}
  "$tool" -w 10 -I "$chain" 1 "${last[@]}"
  # Every other rule of ours goes, from the bottom up (so that the positions read stay right), the new one kept.
  for pos in $(ours "$tool" | cut -d: -f1 | sort -rn); do
    ((pos == 1)) || "$tool" -w 10 -D "$chain" "$pos"
  done
  for ((i = ${#names[@]} - 2; i >= 0; i--)); do
    local -n rule=${names[i]}
    "$tool" -w 10 -I "$chain" 1 "${rule[@]}"
  done
  in_place "$tool" "${names[@]}" || die "${tool} ${chain}: the metadata guard did not take"
  log "${tool} ${chain}: metadata guard set ($(ours "$tool" | wc -l) rules)"
}

# chain_ready TOOL: the chain, and FORWARD's jump to it, as dockerd makes them (when Docker has not yet).
chain_ready() {
  local tool=$1
  if ! "$tool" -w 10 -S "$chain" > /dev/null 2>&1; then
    "$tool" -w 10 -N "$chain"
    log "${tool}: made ${chain} (Docker keeps it and its rules)"
  fi
  "$tool" -w 10 -C FORWARD -j "$chain" 2> /dev/null || "$tool" -w 10 -I FORWARD 1 -j "$chain"
}

chain_ready iptables
guard iptables allow drop
log "instance metadata (${WBT_IMDS_ADDRESS}): only ${WBT_IMDS_ALLOWED} on ${WBT_IMDS_BRIDGE} (Rocket.Chat) reaches it"
if ip6tables -w 10 -S FORWARD > /dev/null 2>&1; then
  chain_ready ip6tables
  guard ip6tables drop6
else
  log "ip6tables unusable (no IPv6 in this kernel): no container can reach ${WBT_IMDS_ADDRESS_SIX} either"
fi
