#!/usr/bin/env bash
# SSM Session Manager replaces SSH: Debian's AMI has no agent, so install AWS's package for this region.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_env

# The containers run as uid 1000 and own their files (Asterisk's TLS key among them) by that uid. Keep it for a
# locked system account before the agent exists: the agent creates its login user ssm-user on the first session,
# with the first free uid, which must not be 1000.
owner=$(getent passwd 1000 | cut -d: -f1 || true)
if [[ -z "$owner" ]]; then
  useradd --uid 1000 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    --comment 'WeeBeeTalk containers (not a login)' "$WBT_CONTAINER_ACCOUNT"
elif [[ "$owner" != "$WBT_CONTAINER_ACCOUNT" ]]; then
  die "uid 1000 belongs to ${owner}: that login user could read the containers' files (Asterisk's TLS key); boot an image without it"
fi

if systemctl is-active --quiet amazon-ssm-agent; then
  log "amazon-ssm-agent already running"
  exit 0
fi
arch=$(dpkg --print-architecture)
deb="${WBT_CACHE_DIR}/amazon-ssm-agent.deb"
install -d -m 0755 "$WBT_CACHE_DIR"
retry 5 10 curl -fsSL --proto '=https' --tlsv1.2 -o "$deb" \
  "https://s3.${AWS_REGION}.amazonaws.com/amazon-ssm-${AWS_REGION}/latest/debian_${arch}/amazon-ssm-agent.deb"
apt_install "$deb"
systemctl enable --now amazon-ssm-agent
log "amazon-ssm-agent installed"
