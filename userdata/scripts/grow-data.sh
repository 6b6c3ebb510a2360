#!/usr/bin/env bash
# Grow the data volume's filesystem to its device's size on the running host: EBS grows the device in place when
# dataVolumeGiB grows (ModifyVolume). Started by udev when the kernel reports a resized disk
# (weebeetalk-grow-data.service); data-volume.sh does the same on every boot. ext4 grows while mounted.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
# Settings only: growing needs no instance metadata (udev may start this before the network is up).
load_settings

mountpoint -q "$DATA_DIR" || die "${DATA_DIR} is not mounted"
grow_filesystem "$(findmnt -no SOURCE "$DATA_DIR")"
