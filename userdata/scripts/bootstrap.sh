#!/usr/bin/env bash
# WeeBeeTalk bootstrap: runs each step under /usr/local/lib/weebeetalk/steps in order, the last one the first
# apply of the host's configuration bundle.
# cloud-init runs it once on first boot; every step is idempotent, so an operator may run it again
# (sudo weebeetalk-bootstrap) after fixing a failure. The log is /var/log/weebeetalk/bootstrap.log.
set -euo pipefail
# The host's paths (userdata/paths.ts), written by cloud-init before this part runs.
# shellcheck source=/dev/null
. /etc/weebeetalk/host.env

install -d -m 0750 "$WBT_LOG_DIR" "$WBT_STATE_DIR"
exec > >(tee -a "${WBT_LOG_DIR}/bootstrap.log") 2>&1

# Keep a copy on PATH so the same bootstrap can be re-run by hand.
if [[ "$(readlink -f "$0")" != "$WBT_BOOTSTRAP" ]]; then
  install -m 0755 "$0" "$WBT_BOOTSTRAP"
fi

# One apply at a time: an association State Manager runs while the host boots waits until the first apply is done.
exec 9> "$WBT_APPLY_LOCK"
flock -w 3300 9 || {
  echo "another apply holds ${WBT_APPLY_LOCK}" >&2
  exit 1
}
rm -f "${WBT_STATE_DIR}/bootstrap.done"
# The instance's tags (Elastic IP, data volume id) once for every step: each step's load_env finds them exported.
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_env
for step in "$WBT_STEPS"/*.sh; do
  echo "== $(date -Is) ${step##*/}"
  bash "$step"
done
date -Is > "${WBT_STATE_DIR}/bootstrap.done"
echo "== $(date -Is) bootstrap complete"
