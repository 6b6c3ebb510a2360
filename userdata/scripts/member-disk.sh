#!/usr/bin/env bash
# A pool member's state (Docker's data, a recording until its upload) is disposable and lives on its root disk,
# under DATA_DIR as a host's lives on its data volume. A bind mount of DATA_DIR on itself makes it a mount point
# like a host's: the docker step, the apply tool and the units that wait for DATA_DIR run as on a host.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_env

install -d -m 0755 "$DATA_DIR"
entry="${DATA_DIR} ${DATA_DIR} none bind 0 0"
if ! grep -qxF "$entry" /etc/fstab; then
  echo "$entry" >> /etc/fstab
  systemctl daemon-reload
fi
mountpoint -q "$DATA_DIR" || mount "$DATA_DIR"
log "pool member ${INSTANCE_ID}: ${DATA_DIR} on the root disk (its state goes with the instance)"
