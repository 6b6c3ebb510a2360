#!/usr/bin/env bash
# Helpers of the roles' scripts (their steps, timers and hooks); sourced after lib.sh, never run. It comes with
# the configuration bundle, like the scripts that use it: a change here reaches the hosts in place.

# wait_for_public_dns: until DNS gives this host's Elastic IP, and only it, for FQDN (bounded and logged: 120
# tries 10 s apart, each lookup at most 5 s). Every ACME client (Traefik, the Jitsi web container, certbot) must
# wait for it: Let's Encrypt checks the name in public DNS, and each failed validation counts against its limit
# (5 per name per hour). The VPC resolver recurses through public DNS, so it sees what Let's Encrypt sees; the
# 20 minutes outlast Route53's default negative-caching time (the SOA's 900 s) of a name asked for too early.
wait_for_public_dns() {
  local i answer addr
  local -A seen
  for ((i = 1; i <= 120; i++)); do
    # The distinct addresses of getent's answer, space-separated (parsed by bash: this runs every 10 s).
    answer="" seen=()
    while read -r addr _; do
      if [[ -n "$addr" && -z "${seen[$addr]:-}" ]]; then
        seen[$addr]=1
        answer+="${answer:+ }${addr}"
      fi
    done < <(timeout 5 getent ahostsv4 "$FQDN" || true)
    if [[ "$answer" == "$PUBLIC_IP" ]]; then
      log "${FQDN} resolves to ${PUBLIC_IP}"
      return 0
    fi
    log "waiting for ${FQDN} to resolve to ${PUBLIC_IP} (DNS answers: ${answer:-nothing}), ${i}/120"
    sleep 10
  done
  log "${FQDN} does not resolve to ${PUBLIC_IP} after 20 minutes: is the zone delegated to Route53?"
  return 1
}

# ssm_secret NAME: the parameter SSM_PREFIX/NAME (NAME relative to this host's own path, e.g. `ssm_secret
# admin-password` on chat), decrypted, printed to stdout (never logged); see ssm_get.
# Call it as a plain assignment (v=$(ssm_secret x)) so that set -e stops the step when it fails.
ssm_secret() {
  [[ "$1" != /* && "$1" != "${WBT_ROLE:-}/"* ]] || die "ssm_secret takes a name relative to ${SSM_PREFIX}, got $1"
  secret_value "${SSM_PREFIX}/$1"
}

# ssm_shared OWNER/NAME: a secret another role owns and this one's role is granted (one parameter per shared
# secret, e.g. `ssm_shared meet/jigasi-sip-password` on pbx), from the environment's path; as ssm_secret.
ssm_shared() {
  [[ "$1" =~ ^[a-z]+/[a-z0-9][a-z0-9/-]*$ ]] || die "ssm_shared takes OWNER/NAME (e.g. meet/jigasi-sip-password), got $1"
  secret_value "${SSM_PREFIX%/*}/$1"
}

# secret_value NAME: the parameter NAME (full), decrypted, to stdout.
secret_value() {
  local name=$1 value
  value=$(ssm_get "$name") || exit 1
  # The files these go into (.env in double quotes, pjsip.auth.conf where ";" starts a comment) carry these
  # characters as they are; anything else (a hand-rotated value) must fail here, not truncate a password.
  [[ "$value" =~ ^[A-Za-z0-9._~+/=-]+$ ]] || die "${name} holds characters outside A-Z a-z 0-9 . _ ~ + / = -: set a value without them (README, \"Secrets and state\")"
  printf '%s' "$value"
}

# write_secret_file PATH: stdin to a root-only file, replaced atomically (unconditionally; see update_secret_file).
write_secret_file() {
  local path=$1 tmp
  tmp=$(mktemp "${path}.XXXXXX")
  chmod 0600 "$tmp"
  cat > "$tmp"
  mv -f "$tmp" "$path"
}

# fetch_release URL DIR MANIFEST: unpack an upstream release archive into DIR, then check every file we use
# against MANIFEST (sha256sum format, kept in this repository, written by cloud-init). Nothing unverified is kept.
fetch_release() {
  local url=$1 dir=$2 manifest=$3 tmp
  if [[ -d "$dir" ]] && (cd "$dir" && sha256sum -c --status "$manifest"); then return 0; fi
  tmp=$(mktemp -d)
  retry 5 10 curl -fsSL --proto '=https' --tlsv1.2 -o "${tmp}/release.tar.gz" "$url" || {
    rm -rf "$tmp"
    die "cannot download ${url}"
  }
  mkdir -p "${tmp}/tree"
  tar -xzf "${tmp}/release.tar.gz" -C "${tmp}/tree" --strip-components=1 --no-same-owner
  (cd "${tmp}/tree" && sha256sum -c --quiet "$manifest") || {
    rm -rf "$tmp"
    die "upstream files of ${url} do not match ${manifest}"
  }
  install -d -m 0755 "$(dirname "$dir")"
  # The settings written beside the release (.env, with its secrets) go over to the new one: the folder is never
  # without them, even if the caller stops before it writes them again.
  if [[ -f "${dir}/.env" ]]; then cp -p "${dir}/.env" "${tmp}/tree/.env"; fi
  rm -rf "$dir"
  mv "${tmp}/tree" "$dir"
  rm -rf "$tmp"
}

# secret_draft PATH: a new, empty file beside PATH that only root can read, for update_secret_file (a secret is
# written to a file, never piped into a condition: a pipeline's failure would read as "unchanged").
secret_draft() {
  local draft
  draft=$(mktemp "${1}.XXXXXX") || die "cannot write beside ${1}"
  chmod 0600 "$draft" || die "cannot restrict ${draft}"
  printf '%s' "$draft"
}

# update_secret_file DRAFT PATH [UID:GID]: PATH becomes DRAFT (a secret_draft), 0600 with that owner (root by
# default), unless it holds that already (DRAFT is removed). Exit 0 when PATH changed, 1 when it did not (a
# rotated secret or a changed setting makes it differ); a failure dies.
update_secret_file() {
  install_if_changed "$1" "$2" 0600 "${3:-0:0}" || {
    rm -f "$1"
    return 1
  }
  rm -f "$1"
}

# letsencrypt_on_data_volume: /etc/letsencrypt becomes a link to the data volume's copy (moving what is there), and
# its deploy-hook folder exists. Certificates live on the data volume: a replaced instance must not ask again.
letsencrypt_on_data_volume() {
  if [[ ! -L /etc/letsencrypt ]]; then
    install -d -m 0755 "${DATA_DIR}/letsencrypt"
    if [[ -d /etc/letsencrypt ]]; then
      cp -a /etc/letsencrypt/. "${DATA_DIR}/letsencrypt/" || die "cannot move /etc/letsencrypt to the data volume"
      rm -rf /etc/letsencrypt
    fi
    ln -s "${DATA_DIR}/letsencrypt" /etc/letsencrypt
  fi
  [[ -L /etc/letsencrypt ]] || die "/etc/letsencrypt is not the data volume's: a replaced instance would ask Let's Encrypt again"
  install -d -m 0755 /etc/letsencrypt/renewal-hooks/deploy
}

# dns01_certificate HOOK TIMER: this host's certificate for FQDN from Let's Encrypt by DNS-01 through Route53
# (certbot's plugin; the instance role may only touch the _acme-challenge TXT record of FQDN), once public DNS gives
# this host's Elastic IP (a failed validation counts against Let's Encrypt's limits). HOOK runs on first issuance
# (--deploy-hook) and, linked into renewal-hooks/deploy by the caller, on renewals (certbot runs one path once).
# RSA: older desk phones fail TLS handshakes with ECDSA. When it fails, TIMER (the caller's unit) runs the caller
# again every 2 hours until a certificate exists: a transient failure must not leave TLS off for good; 12 tries a
# day stay far below 5 failed validations per name per hour. Exit 0 with a certificate in place, 1 without.
dns01_certificate() {
  local hook=$1 timer=$2 lineage="/etc/letsencrypt/live/${FQDN}"
  if [[ -s "${lineage}/fullchain.pem" ]]; then return 0; fi
  if wait_for_public_dns && certbot certonly --non-interactive --agree-tos --email "$LETSENCRYPT_EMAIL" --dns-route53 \
    --domain "$FQDN" --key-type rsa --keep-until-expiring --deploy-hook "$hook"; then
    return 0
  fi
  systemctl enable --now "$timer"
  log "no certificate for ${FQDN} yet (is the zone delegated?): ${timer} tries again every 2 hours"
  return 1
}

# dns01_certificate_done TIMER: a certificate exists: the retry timer is not needed anymore.
dns01_certificate_done() {
  if systemctl is-enabled --quiet "$1" 2> /dev/null; then systemctl disable --now "$1"; fi
}

# compose_up DIR: the compose project in DIR brought to what its files say. Compose recreates only the services
# whose configuration or image changed; the others (and their connections, meetings, calls) keep running.
compose_up() {
  (cd "$1" && docker compose up --detach --remove-orphans)
}

# has_changed SERVICE: whether this apply changed a file of SERVICE (WBT_CHANGED, from the apply tool).
has_changed() {
  [[ " ${WBT_CHANGED:-} " == *" $1 "* ]]
}

# monitoring_up: metrics and logs to CloudWatch (userdata/cloudwatch-agent.ts), at the end of every hook. The agent's
# install (its signature verified) and configuration run as a unit of their own (WBT_CWAGENT_SERVICE), started when
# this apply changed its configuration and hourly by its timer: a download that fails does not fail the apply, and
# the next run tries again. The host's application metrics run every minute by theirs (none on a pool member).
monitoring_up() {
  if [[ -z "${WBT_CWAGENT_TIMER:-}" ]]; then return 0; fi
  systemctl enable --now "$WBT_CWAGENT_TIMER"
  if [[ -n "${WBT_HOST_METRICS_TIMER:-}" ]]; then systemctl enable --now "$WBT_HOST_METRICS_TIMER"; fi
  if has_changed cloudwatch-agent; then
    systemctl start --no-block "$WBT_CWAGENT_SERVICE" || log "the CloudWatch agent's unit did not start (its timer tries again): journalctl -u ${WBT_CWAGENT_SERVICE}"
  fi
}

# generate_internal_passwords GEN_PASSWORDS_SH FILE: run upstream's gen-passwords.sh once and keep its six
# internal XMPP passwords in FILE on the data volume. Never again: Prosody keeps the accounts it created with
# the first ones, so new passwords would lock jicofo, jvb, jigasi and jibri out of a running install.
generate_internal_passwords() {
  local script=$1 file=$2 tmp name
  if [[ -s "$file" ]]; then
    log "internal passwords already generated: keeping them"
    return 0
  fi
  tmp=$(mktemp -d)
  install -m 0700 "$script" "${tmp}/gen-passwords.sh"
  for name in JICOFO_AUTH_PASSWORD JVB_AUTH_PASSWORD JIGASI_XMPP_PASSWORD JIBRI_RECORDER_PASSWORD JIBRI_XMPP_PASSWORD JIGASI_TRANSCRIBER_PASSWORD; do
    echo "${name}=" >> "${tmp}/.env"
  done
  bash "${tmp}/gen-passwords.sh"
  grep -E '^[A-Z_]+_PASSWORD=[0-9a-f]{16,}$' "${tmp}/.env" | write_secret_file "$file"
  rm -rf "$tmp"
  [[ $(wc -l < "$file") -eq 6 ]] || die "gen-passwords.sh did not produce six passwords"
  log "internal passwords generated once into ${file}"
}

# jibri_health API: the state of the Jibri whose HTTP API is at API (GET /jibri/api/v1.0/health, jitsi/jibri
# HttpApi.kt) as two words: busyStatus (BUSY, IDLE or EXPIRED) and healthStatus (HEALTHY or UNHEALTHY); "DOWN DOWN"
# when it does not answer (starting, stopped) or answers something else.
jibri_health() {
  local body words
  if body=$(curl -fsS --connect-timeout 2 --max-time 5 "$1/jibri/api/v1.0/health" 2> /dev/null) &&
    words=$(jq -r '[.status.busyStatus, .status.health.healthStatus] | map(select(type == "string" and test("^[A-Z]+$"))) | select(length == 2) | join(" ")' <<< "$body" 2> /dev/null) &&
    [[ -n "$words" ]]; then
    echo "$words"
  else
    echo "DOWN DOWN"
  fi
}

# jvb_stats API: the load of the bridge whose private REST API is at API (GET /colibri/stats) as three words:
# stress_level (1 is a full bridge), the number of conferences and of participants; "DOWN DOWN DOWN" when it does not
# answer.
jvb_stats() {
  local body words
  if body=$(curl -fsS --connect-timeout 2 --max-time 5 "$1/colibri/stats" 2> /dev/null) &&
    words=$(jq -r '[.stress_level, .conferences, .participants] | select(all(type == "number")) | map(tostring) | join(" ")' <<< "$body" 2> /dev/null) &&
    [[ -n "$words" ]]; then
    echo "$words"
  else
    echo "DOWN DOWN DOWN"
  fi
}

# pool_member_timer TIMER WANTED: pool-member.sh's timer runs where there is something to publish or a member to
# drain (WANTED non-empty: the groups it publishes for, its lifecycle hook), and is stopped elsewhere (a pool turned
# off on the meet host).
pool_member_timer() {
  if [[ -n "$2" ]]; then
    systemctl enable --now "$1"
  elif systemctl is-enabled --quiet "$1" 2> /dev/null; then
    systemctl disable --now "$1"
  fi
}

# member_busy SERVICE API: whether a pool member's service is at work, which recreating its container would end: a
# Jibri recording, a bridge hosting a conference (API: its HTTP API, as for jibri_health and jvb_stats).
member_busy() {
  local busy conferences
  case $1 in
    jibri)
      read -r busy _ <<< "$(jibri_health "$2")"
      [[ "$busy" == BUSY ]]
      ;;
    jvb)
      read -r _ conferences _ <<< "$(jvb_stats "$2")"
      [[ "$conferences" != 0 && "$conferences" != DOWN ]]
      ;;
    *) return 1 ;;
  esac
}

# member_up DIR SERVICE API STATE [ARG...]: a pool member's one service recreated with its new settings (`docker
# compose up --detach --no-deps ARG... SERVICE` in DIR) now, or, while it is at work (member_busy), as soon as it is
# idle: the pending recreation is kept in STATE and pool-member.sh's next idle pass runs it. An apply never ends a
# recording or a meeting, and never fails for one.
member_up() {
  local dir=$1 service=$2 api=$3 state=$4
  shift 4
  install -d -m 0700 "$state"
  # One at a time: the hook (under the apply lock) and pool-member.sh's pass may both come here.
  (
    flock 9
    if member_busy "$service" "$api"; then
      if (($# > 0)); then printf '%s\n' "$@"; fi > "${state}/recreate-pending"
      log "${service} is at work: its new settings apply once it is idle (pool-member.sh)"
      exit 0
    fi
    if ! (cd "$dir" && docker compose up --detach --no-deps "$@" "$service"); then
      log "ERROR: docker compose up ${service} failed" >&2
      exit 1
    fi
    rm -f "${state}/recreate-pending"
    log "${service} recreated with its new settings"
  ) 9> "${state}/recreate.lock"
}

# member_service UNIT DIR SERVICE API STATE CHANGED [ARG...]: a pool member's one service once its hook wrote the
# settings: left as the drain left it while the member drains (pool-member.sh); started by its UNIT on the first
# apply; recreated by member_up (ARG... for compose) when CHANGED is 1: never while it is at work.
member_service() {
  local unit=$1 dir=$2 service=$3 api=$4 state=$5 changed=$6
  shift 6
  if pool_member_draining "$state"; then
    log "this member is draining (its lifecycle hook): ${service} stays as pool-member.sh left it"
  elif ! systemctl is-active --quiet "$unit"; then
    systemctl daemon-reload
    systemctl enable "$unit"
    systemctl restart "$unit"
    log "${service} ${INSTANCE_ID} starting: it joins the meet host's Prosody"
  elif [[ "$changed" == 1 ]]; then
    member_up "$dir" "$service" "$api" "$state" "$@"
  fi
}

# pool_member_draining STATE: whether pool-member.sh (its state folder STATE) has begun draining this member under
# its termination lifecycle hook: nothing may start its service again.
pool_member_draining() {
  [[ -e "$1/draining" ]]
}
