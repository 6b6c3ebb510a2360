#!/usr/bin/env bash
# SSM Session Manager replaces SSH: Debian's AMI has no agent, so install AWS's package for this region.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_env

if systemctl is-active --quiet amazon-ssm-agent; then
  log "amazon-ssm-agent already running"
  exit 0
fi
arch=$(dpkg --print-architecture)
deb=/var/cache/weebeetalk/amazon-ssm-agent.deb
install -d -m 0755 /var/cache/weebeetalk
retry 5 10 curl -fsSL --proto '=https' --tlsv1.2 -o "$deb" \
  "https://s3.${AWS_REGION}.amazonaws.com/amazon-ssm-${AWS_REGION}/latest/debian_${arch}/amazon-ssm-agent.deb"
apt_install "$deb"
systemctl enable --now amazon-ssm-agent
log "amazon-ssm-agent installed"
