#!/usr/bin/env bash
# Nightly MongoDB dump of Rocket.Chat to the backups bucket (run by weebeetalk-rocketchat-backup.timer).
# Restore: README, "Backups and restore".
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_env

stamp=$(date -u +%Y%m%dT%H%M%SZ)
key="chat/mongodump/$(date -u +%Y/%m/%d)/rocketchat-${stamp}.archive.gz"
tmp="${DATA_DIR}/backups/rocketchat-${stamp}.archive.gz"
install -d -m 0700 "${DATA_DIR}/backups"
trap 'rm -f "$tmp"' EXIT
# The official mongo image carries mongodump of the server's major version; it joins the compose network, without
# raw frames like the stack's containers (the metadata guard). --oplog makes the dump consistent to one point in
# time (the database is a one-node replica set).
docker run --rm --cap-drop NET_RAW --network rocketchat_default "$MONGO_TOOLS_IMAGE" \
  mongodump --uri 'mongodb://mongodb:27017/?directConnection=true' --oplog --archive --gzip > "$tmp"
# Only a complete dump is uploaded.
aws s3 cp --region "$AWS_REGION" --only-show-errors "$tmp" "s3://${BACKUPS_BUCKET}/${key}"
log "dump uploaded to s3://${BACKUPS_BUCKET}/${key} ($(stat -c %s "$tmp") bytes)"
