#!/usr/bin/env bash
# pool-member (WBT_POOL_MEMBER_TIMER, every 30 s): one pass of a recorder's and a bridge's duties towards the
# pools (userdata/pool-member.ts):
#   probe    the local Jibri's health (busy or idle) and the local JVB's stats (stress, conferences), on 127.0.0.1;
#   publish  IdleRecorders (1 idle, 0 not) and BridgeStress (a pool bridge: its Conferences and Participants too) to
#            CloudWatch, dimension Pool=<group>, once a minute
#            (the scaling alarms sum one datapoint per recorder and minute);
#   protect  a Jibri member from scale-in while it records, released when it is idle: one call per change only;
#   drain    a member whose target lifecycle state is Terminated (its termination lifecycle hook): graceful
#            shutdown, a heartbeat each pass while a recording, its upload or a conference goes on, then
#            complete-lifecycle-action CONTINUE.
# On the meet host it only publishes (no WBT_POOL_GROUP). State between passes is under WBT_POOL_STATE (/run: a
# reboot starts over, and the first pass sets protection again). Log: the journal of its service.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
# shellcheck source=config-lib.sh
. /usr/local/lib/weebeetalk/config-lib.sh
load_env
state=$WBT_POOL_STATE
install -d -m 0700 "$state"
# The Auto Scaling group this host is a member of (none on the meet host).
member=${WBT_POOL_GROUP:-}
if [[ -n "$member" && -e "${state}/drained" ]]; then exit 0; fi

# publish GROUP METRIC VALUE: one datapoint, at most one per metric and minute (the pass runs twice a minute), stamped
# with the minute's start (UTC), so that it falls in that minute's period however late it arrives: the alarms' Sum
# counts each recorder once a minute. A failure is logged and the pass goes on: protection and drain must not wait
# for CloudWatch.
publish() {
  local group=$1 metric=$2 value=$3 minute stamp="${state}/published-${2}"
  minute=$(TZ=UTC date +%Y-%m-%dT%H:%M:00Z)
  if [[ "$(cat "$stamp" 2> /dev/null || true)" == "$minute" ]]; then return 0; fi
  if aws cloudwatch put-metric-data --region "$AWS_REGION" --namespace "$WBT_METRICS_NAMESPACE" --metric-name "$metric" \
    --dimensions "${WBT_METRIC_DIMENSION}=${group}" --value "$value" --unit None --timestamp "$minute"; then
    echo "$minute" > "$stamp"
  else
    log "cannot publish ${metric}=${value} for ${group} (the next pass tries again)"
  fi
}

# lifecycle ACTION...: a call about this member's termination lifecycle hook (heartbeat, complete).
lifecycle() {
  local action=$1
  shift
  aws autoscaling "$action" --region "$AWS_REGION" --auto-scaling-group-name "$member" --lifecycle-hook-name "$WBT_DRAIN_HOOK" \
    --instance-id "$INSTANCE_ID" "$@"
}

# heartbeat WHY: the member still needs time; keeps the hook from timing out (heartbeat_timeout) for one more pass.
heartbeat() {
  log "draining: $1; lifecycle heartbeat"
  lifecycle record-lifecycle-action-heartbeat || log "lifecycle heartbeat failed (the next pass tries again)"
}

# stop_restarts: the member's container must not come back when its graceful shutdown ends it (restart:
# unless-stopped in upstream's compose files).
stop_restarts() {
  local id
  id=$(cd "$WBT_MEMBER_DIR" && docker compose ps --quiet "$WBT_MEMBER_SERVICE" 2> /dev/null) || id=""
  if [[ -n "$id" ]]; then docker update --restart no "$id" > /dev/null || log "cannot clear the restart policy of ${WBT_MEMBER_SERVICE}"; fi
}

# recordings_left: the session folders still on this disk (each removed after its verified upload).
recordings_left() {
  local dir=${JITSI_CONFIG}/storage/jibri/recordings n=0 d
  if [[ -d "$dir" ]]; then
    for d in "$dir"/*/; do if [[ -d "$d" ]]; then n=$((n + 1)); fi; done
  fi
  echo "$n"
}

# drain_jibri: graceful shutdown (Jibri finishes its recording, then exits), then the recordings uploaded.
# Returns 0 when the member may go.
drain_jibri() {
  local busy d left
  if [[ ! -e "${state}/shutdown-requested" ]]; then
    stop_restarts
    if curl -fsS --connect-timeout 2 --max-time 10 -X POST "${WBT_JIBRI_INTERNAL_API}/jibri/api/internal/v1.0/gracefulShutdown" > /dev/null 2>&1; then
      log "draining: Jibri asked for a graceful shutdown (it finishes a recording in progress, then exits)"
    else
      log "draining: Jibri did not take the graceful shutdown (not running?)"
    fi
    touch "${state}/shutdown-requested"
  fi
  read -r busy _ <<< "$(jibri_health "$WBT_JIBRI_API")"
  if [[ "$busy" == BUSY ]]; then
    heartbeat "a recording is in progress"
    return 1
  fi
  # Idle or gone: nothing records any more. Stopped for good, every session left is complete (its finalize may not
  # have run), and the uploader runs now (systemd runs one at a time: a run of its timer is waited for).
  systemctl stop "$WBT_MEMBER_UNIT" || log "cannot stop ${WBT_MEMBER_UNIT}"
  if [[ -d "${JITSI_CONFIG}/storage/jibri/recordings" ]]; then
    for d in "${JITSI_CONFIG}/storage/jibri/recordings"/*/; do
      if [[ -d "$d" ]]; then touch "${d}.weebeetalk-complete"; fi
    done
  fi
  left=$(recordings_left)
  if ((left > 0)); then
    # The upload runs as its own unit, not in this pass: a large recording takes longer than the hook's heartbeat
    # timeout, and the passes must keep sending heartbeats meanwhile. Started again if a run failed.
    if [[ "$(systemctl show -p ActiveState --value "$WBT_RECORDINGS_UPLOAD_SERVICE" 2> /dev/null || true)" != activating ]]; then
      systemctl start --no-block "$WBT_RECORDINGS_UPLOAD_SERVICE" || log "cannot start the recordings upload (the next pass tries again)"
    fi
    heartbeat "${left} recordings not uploaded yet"
    return 1
  fi
  return 0
}

# drain_jvb: graceful shutdown (JVB takes no new conference and exits once its last one ends).
drain_jvb() {
  local conferences
  if [[ ! -e "${state}/shutdown-requested" ]]; then
    stop_restarts
    if curl -fsS --connect-timeout 2 --max-time 10 -X POST -H 'Content-Type: application/json' --data '{"graceful-shutdown": true}' \
      "${WBT_JVB_API}/colibri/shutdown" > /dev/null 2>&1; then
      log "draining: JVB asked for a graceful shutdown (it exits once its last conference ends)"
    else
      log "draining: JVB did not take the graceful shutdown (not running?)"
    fi
    touch "${state}/shutdown-requested"
  fi
  read -r _ conferences _ <<< "$(jvb_stats "$WBT_JVB_API")"
  if [[ "$conferences" != DOWN && "$conferences" != 0 ]]; then
    heartbeat "${conferences} conferences still on this bridge"
    return 1
  fi
  systemctl stop "$WBT_MEMBER_UNIT" || log "cannot stop ${WBT_MEMBER_UNIT}"
  return 0
}

# A member about to be terminated drains, and publishes nothing more: it is no longer a recorder or bridge to count.
if [[ -n "$member" ]]; then
  if [[ ! -e "${state}/draining" ]]; then
    target=$(imds meta-data/autoscaling/target-lifecycle-state 2> /dev/null) || target=""
    if [[ "$target" == Terminated ]]; then
      touch "${state}/draining"
      log "draining: ${INSTANCE_ID} is leaving ${member} (lifecycle hook ${WBT_DRAIN_HOOK})"
    fi
  fi
  if [[ -e "${state}/draining" ]]; then
    if "drain_${WBT_MEMBER_SERVICE}"; then
      if lifecycle complete-lifecycle-action --lifecycle-action-result CONTINUE; then
        touch "${state}/drained"
        log "drained: lifecycle action completed (CONTINUE); Auto Scaling terminates ${INSTANCE_ID}"
      else
        log "complete-lifecycle-action failed (the next pass tries again)"
      fi
    fi
    exit 0
  fi
fi

# New settings an apply held back while the member was at work (member_up): now that it is idle.
if [[ -n "$member" && -e "${state}/recreate-pending" ]]; then
  api=$WBT_JVB_API
  if [[ "$WBT_MEMBER_SERVICE" == jibri ]]; then api=$WBT_JIBRI_API; fi
  if ! member_busy "$WBT_MEMBER_SERVICE" "$api"; then
    mapfile -t args < "${state}/recreate-pending"
    member_up "$WBT_MEMBER_DIR" "$WBT_MEMBER_SERVICE" "$api" "$state" "${args[@]}" || log "recreating ${WBT_MEMBER_SERVICE} failed (the next pass tries again)"
  fi
fi

if [[ -n "$WBT_PUBLISH_JIBRI_GROUP" ]]; then
  read -r busy health <<< "$(jibri_health "$WBT_JIBRI_API")"
  idle=0
  if [[ "$busy" == IDLE && "$health" == HEALTHY ]]; then idle=1; fi
  publish "$WBT_PUBLISH_JIBRI_GROUP" "$WBT_IDLE_RECORDERS_METRIC" "$idle"
  # A recording member is protected from scale-in, an idle one released; no call while neither (starting, down).
  if [[ -n "$member" && "$WBT_MEMBER_SERVICE" == jibri ]]; then
    want=""
    case $busy in
      BUSY) want=protected ;;
      IDLE) want=unprotected ;;
    esac
    if [[ -n "$want" && "$(cat "${state}/protection" 2> /dev/null || true)" != "$want" ]]; then
      flag=--protected-from-scale-in
      if [[ "$want" == unprotected ]]; then flag=--no-protected-from-scale-in; fi
      if aws autoscaling set-instance-protection --region "$AWS_REGION" --auto-scaling-group-name "$member" \
        --instance-ids "$INSTANCE_ID" "$flag"; then
        echo "$want" > "${state}/protection"
        log "Jibri is ${busy}: ${INSTANCE_ID} ${want} from scale-in"
      else
        log "cannot set scale-in protection (${want}); the next pass tries again"
      fi
    fi
  fi
fi

if [[ -n "$WBT_PUBLISH_JVB_GROUP" ]]; then
  read -r stress conferences participants <<< "$(jvb_stats "$WBT_JVB_API")"
  # A bridge that does not answer publishes nothing: its stress is unknown, not zero.
  if [[ "$stress" != DOWN ]]; then publish "$WBT_PUBLISH_JVB_GROUP" "$WBT_BRIDGE_STRESS_METRIC" "$stress"; fi
  # A pool bridge's meetings and participants too (the dashboard sums the members; the meet host's own bridge is
  # host-metrics.sh's, with Host=meet).
  if [[ -n "$WBT_MEMBER_SERVICE" && "$conferences" != DOWN ]]; then
    publish "$WBT_PUBLISH_JVB_GROUP" "$WBT_CONFERENCES_METRIC" "$conferences"
    publish "$WBT_PUBLISH_JVB_GROUP" "$WBT_PARTICIPANTS_METRIC" "$participants"
  fi
fi
