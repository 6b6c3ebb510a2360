#!/usr/bin/env bash
# Mount the host's data volume (every byte of state lives there) by UUID at DATA_DIR.
# The volume is found by its EBS volume id: NVMe device names are not stable across boots.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_env

serial=${DATA_VOLUME_ID//-/}
dev=""
# The attachment is created after the instance: wait for it (up to 10 minutes).
for _ in $(seq 1 120); do
  for candidate in "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${serial}" /dev/xvdf /dev/sdf; do
    if [[ -b "$candidate" ]]; then
      dev=$(readlink -f "$candidate")
      break 2
    fi
  done
  sleep 5
done
[[ -n "$dev" ]] || die "data volume ${DATA_VOLUME_ID} never appeared"

ensure_filesystem "$dev" wbt-data
# Grown while no instance had it mounted (a replacement after dataVolumeGiB grew): grow it before the mount.
if ! findmnt -rno TARGET "$dev" > /dev/null; then grow_filesystem "$dev"; fi
uuid=$(blkid -o value -s UUID "$dev")
install -d -m 0755 "$DATA_DIR"
entry="UUID=${uuid} ${DATA_DIR} ext4 defaults,nofail,x-systemd.device-timeout=5min 0 2"
if ! grep -qxF "$entry" /etc/fstab; then
  # Drop any older line for the mount point (a replaced volume), then add ours.
  sed -i "\\|[[:space:]]${DATA_DIR}[[:space:]]|d" /etc/fstab
  echo "$entry" >> /etc/fstab
  systemctl daemon-reload
fi
mountpoint -q "$DATA_DIR" || mount "$DATA_DIR"
# Grown under a running host: udev starts weebeetalk-grow-data.service; it also runs on every boot (a reboot after
# the volume grew while the instance was stopped), and so does this.
grow_filesystem "$dev"
systemctl enable "$WBT_GROW_DATA_UNIT"
log "data volume ${DATA_VOLUME_ID} (${dev}, UUID ${uuid}) mounted at ${DATA_DIR}"
