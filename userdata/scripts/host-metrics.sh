#!/usr/bin/env bash
# host-metrics (WBT_HOST_METRICS_TIMER, every minute): this host's application metrics and its certificate's days
# left to CloudWatch, in the environment's namespace with Host = the role (config/metrics.ts HOST_METRICS;
# userdata/cloudwatch-agent.ts). The probes this role runs (WBT_HOST_METRICS_PROBES):
#   rocketchat  UsersOnline: rocketchat_users_online from Rocket.Chat's Prometheus endpoint on loopback;
#   jvb         Conferences, Participants: JVB's colibri stats on loopback;
#   recordings  RecordingsInProgress (session folders Jibri still writes), UploadsPending (finished, not uploaded);
#   asterisk    ActiveCalls: `core show channels count` in Asterisk's container;
# and on every host CertificateDaysLeft, from a PEM file (certbot) or what a TLS port on loopback serves, and
# BootstrapFailed and ApplyFailed from the state the bootstrap and the apply tool leave (see probe_outcome). A probe
# that gets no answer publishes nothing (unknown is not zero: the alarms treat missing data). Log: its service's journal.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_settings
# The minute's start (UTC), so that a late datapoint still falls in its minute.
minute=$(TZ=UTC date +%Y-%m-%dT%H:%M:00Z)

# publish METRIC VALUE [UNIT]: one datapoint of this minute's batch (sent once, at the end: one AWS CLI process a
# minute instead of one per figure, which on a t3 host costs CPU credits).
batch=$(mktemp)
trap 'rm -f "$batch" "${batch}.json"' EXIT
publish() {
  jq -cn --arg name "$1" --argjson value "$2" --arg unit "${3:-Count}" --arg dimension "$WBT_HOST_DIMENSION" --arg role "$WBT_ROLE" --arg at "$minute" \
    '{MetricName: $name, Dimensions: [{Name: $dimension, Value: $role}], Value: $value, Unit: $unit, Timestamp: $at}' >> "$batch"
}

# send: the minute's datapoints in one call (CloudWatch takes up to 1,000 a request); a failure is logged.
send() {
  if [[ ! -s "$batch" ]]; then return 0; fi
  jq -s '.' "$batch" > "${batch}.json"
  if ! aws cloudwatch put-metric-data --region "$AWS_REGION" --namespace "$WBT_METRICS_NAMESPACE" --metric-data "file://${batch}.json"; then
    log "cannot publish $(jq -r '[.[] | "\(.MetricName)=\(.Value)"] | join(" ")' "${batch}.json")"
  fi
}

is_number() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?$ ]]; }

probe_rocketchat() {
  local body value
  body=$(curl -fsS --connect-timeout 2 --max-time 10 "$WBT_RC_METRICS_URL" 2> /dev/null) || {
    log "no answer from ${WBT_RC_METRICS_URL}"
    return 0
  }
  value=$(awk -v series="$WBT_RC_USERS_ONLINE_SERIES" '$1 == series || index($1, series "{") == 1 { print $2; exit }' <<< "$body")
  if is_number "$value"; then publish "$WBT_METRIC_USERS_ONLINE" "$value"; else log "no ${WBT_RC_USERS_ONLINE_SERIES} at ${WBT_RC_METRICS_URL}"; fi
}

probe_jvb() {
  local body words conferences participants
  body=$(curl -fsS --connect-timeout 2 --max-time 5 "${WBT_COLIBRI_API}/colibri/stats" 2> /dev/null) || {
    log "no answer from ${WBT_COLIBRI_API}/colibri/stats"
    return 0
  }
  words=$(jq -r '[.conferences, .participants] | select(all(type == "number")) | map(tostring) | join(" ")' <<< "$body" 2> /dev/null) || words=""
  if [[ -z "$words" ]]; then
    log "colibri stats without conferences and participants"
    return 0
  fi
  read -r conferences participants <<< "$words"
  publish "$WBT_METRIC_CONFERENCES" "$conferences"
  publish "$WBT_METRIC_PARTICIPANTS" "$participants"
}

# A session folder is Jibri's until its finalize marks it complete; complete ones wait for the uploader.
probe_recordings() {
  local dir=${JITSI_CONFIG}/storage/jibri/recordings writing=0 waiting=0 d
  if [[ -d "$dir" ]]; then
    for d in "$dir"/*/; do
      if [[ ! -d "$d" ]]; then continue; fi
      if [[ -e "${d}.weebeetalk-complete" ]]; then waiting=$((waiting + 1)); else writing=$((writing + 1)); fi
    done
  fi
  publish "$WBT_METRIC_RECORDINGS_IN_PROGRESS" "$writing"
  publish "$WBT_METRIC_UPLOADS_PENDING" "$waiting"
}

probe_asterisk() {
  local out calls
  out=$(docker exec "$WBT_CALLS_CONTAINER" asterisk -rx 'core show channels count' 2> /dev/null) || {
    log "Asterisk did not answer core show channels count"
    return 0
  }
  calls=$(awk '/active call/ { print $1; exit }' <<< "$out")
  if is_number "$calls"; then publish "$WBT_METRIC_ACTIVE_CALLS" "$calls"; else log "no active calls in: ${out//$'\n'/ }"; fi
}

# The certificate's notAfter, as openssl prints it (notAfter=...), from the file or the TLS port.
certificate_end() {
  if [[ -n "$WBT_CERT_FILE" ]]; then
    [[ -r "$WBT_CERT_FILE" ]] || return 1
    openssl x509 -noout -enddate -in "$WBT_CERT_FILE"
  else
    # Verified against the system's CAs for the host's name: Traefik's or Jitsi's fallback self-signed certificate
    # (Let's Encrypt never issued one) counts as expired, not as a year left.
    local pem
    pem=$(openssl s_client -connect "$WBT_CERT_TLS" -servername "$WBT_CERT_SERVER_NAME" -verify_hostname "$WBT_CERT_SERVER_NAME" -verify_return_error < /dev/null 2> /dev/null) || {
      if openssl s_client -connect "$WBT_CERT_TLS" -servername "$WBT_CERT_SERVER_NAME" < /dev/null > /dev/null 2>&1; then echo "notAfter=untrusted"; fi
      return 0
    }
    openssl x509 -noout -enddate <<< "$pem"
  fi
}

probe_certificate() {
  local end expires now
  end=$(certificate_end 2> /dev/null) || end=""
  end=${end#notAfter=}
  if [[ "$end" == untrusted ]]; then
    log "the certificate served at ${WBT_CERT_TLS} is not trusted for ${WBT_CERT_SERVER_NAME}: counted as expired"
    publish "$WBT_METRIC_CERTIFICATE_DAYS_LEFT" 0 None
    return 0
  fi
  if [[ -z "$end" ]] || ! expires=$(date -u -d "$end" +%s 2> /dev/null); then
    log "no certificate at ${WBT_CERT_FILE:-${WBT_CERT_TLS} (${WBT_CERT_SERVER_NAME})}"
    return 0
  fi
  now=$(date -u +%s)
  # Whole days left; an expired certificate counts as 0.
  local days=$(((expires - now) / 86400))
  if ((days < 0)); then days=0; fi
  publish "$WBT_METRIC_CERTIFICATE_DAYS_LEFT" "$days" None
}

# BootstrapFailed: 1 while the bootstrap has not completed (bootstrap.done). ApplyFailed: 1 when the last apply left
# services to reload (its hook failed) or, 15 minutes after the plan named a new bundle, this host still runs
# another (the apply stopped before writing it). Read from their state, so the bootstrap and the apply tool (the
# user-data) stay as they are; nothing while either holds the apply lock (it runs now: its outcome is not known yet).
probe_outcome() {
  local pointer named modified applied failed=0
  # Held while the state is read (an apply starting meanwhile waits for it: it waits up to 55 minutes for the lock).
  exec 8> "$WBT_APPLY_LOCK"
  if ! flock -n 8; then
    exec 8>&-
    log "an apply or the bootstrap is running: no outcome this minute"
    return 0
  fi
  if [[ -e "${WBT_STATE_DIR}/bootstrap.done" ]]; then publish "$WBT_METRIC_BOOTSTRAP_FAILED" 0; else publish "$WBT_METRIC_BOOTSTRAP_FAILED" 1; fi
  if [[ -s "${WBT_BUNDLES}/pending" ]]; then
    failed=1
  elif pointer=$(aws ssm get-parameter --region "$AWS_REGION" --name "$WBT_BUNDLE_PARAMETER" --query 'Parameter.[Value,LastModifiedDate]' --output text 2> /dev/null); then
    read -r named modified <<< "$pointer"
    named=${named##*/}
    # The AWS CLI prints the date as ISO 8601 (v2's default) or as epoch seconds (cli_timestamp_format = none).
    if [[ "$modified" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then modified=${modified%.*}; else modified=$(date -u -d "$modified" +%s 2> /dev/null || echo 0); fi
    applied=$(cat "${WBT_BUNDLES}/current.sha256" 2> /dev/null || true)
    if [[ "${named%.json}" == "$(cat "${WBT_BUNDLES}/previous.sha256" 2> /dev/null || true)" && "${named%.json}" != "$applied" ]]; then
      # weebeetalk-apply --rollback: the plan's bundle is the one before the current, on purpose.
      log "rolled back from the bundle the plan names: not a failed apply"
    elif [[ "${named%.json}" != "$applied" ]] && (($(date -u +%s) - modified > 900)); then
      failed=1
    fi
  else
    log "cannot read ${WBT_BUNDLE_PARAMETER}: ApplyFailed from the pending services only"
  fi
  exec 8>&-
  publish "$WBT_METRIC_APPLY_FAILED" "$failed"
}

probe_outcome
for probe in $WBT_HOST_METRICS_PROBES; do
  "probe_${probe}"
done
probe_certificate
send
