#!/usr/bin/env bash
# WeeBeeTalk bootstrap: runs each step under /usr/local/lib/weebeetalk/steps in order.
# cloud-init runs it once on first boot; every step is idempotent, so an operator may run it again
# (sudo weebeetalk-bootstrap) after fixing a failure. The log is /var/log/weebeetalk/bootstrap.log.
set -euo pipefail

install -d -m 0750 /var/log/weebeetalk /var/lib/weebeetalk
exec > >(tee -a /var/log/weebeetalk/bootstrap.log) 2>&1

# Keep a copy on PATH so the same bootstrap can be re-run by hand.
if [[ "$(readlink -f "$0")" != /usr/local/sbin/weebeetalk-bootstrap ]]; then
  install -m 0755 "$0" /usr/local/sbin/weebeetalk-bootstrap
fi

rm -f /var/lib/weebeetalk/bootstrap.done
for step in /usr/local/lib/weebeetalk/steps/*.sh; do
  echo "== $(date -Is) ${step##*/}"
  bash "$step"
done
date -Is > /var/lib/weebeetalk/bootstrap.done
echo "== $(date -Is) bootstrap complete"
