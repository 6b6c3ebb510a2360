#!/usr/bin/env bash
# Shared helpers of the bootstrap steps and the apply tool; sourced, never run. Part of the user-data (it changes
# only with the bootstrap): what only the roles' scripts need is in config-lib.sh, which comes with the bundle.

WBT_ETC=/etc/weebeetalk

# A line with the time as `date -Is` prints it (by bash itself: the scripts log a lot, each date a process).
log() {
  local now
  printf -v now '%(%Y-%m-%dT%H:%M:%S%z)T' -1
  echo "[${now:0:-2}:${now: -2}] ${0##*/}: $*"
}
die() {
  log "ERROR: $*" >&2
  exit 1
}

# imds_tag KEY: an instance tag from instance metadata (IMDSv2).
imds_tag() {
  local token
  # Bounded: IMDS answers in milliseconds; a hung call must time out so that retry gets its turn.
  token=$(curl -fsS --connect-timeout 1 --max-time 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token) || return 1
  curl -fsS --connect-timeout 1 --max-time 2 -H "X-aws-ec2-metadata-token: ${token}" "http://169.254.169.254/latest/meta-data/tags/instance/$1"
}

# load_settings: the non-secret settings, without asking instance metadata: the host's own (host.env, from
# user-data), then its configuration's (config.env, from the applied bundle; absent before the first apply).
load_settings() {
  set -a
  # shellcheck source=/dev/null
  . "${WBT_ETC}/host.env"
  # shellcheck source=/dev/null
  if [[ -r "$WBT_CONFIG_ENV" ]]; then . "$WBT_CONFIG_ENV"; fi
  set +a
}

# Settings: the non-secret ones (load_settings), plus the Elastic IP and the data volume id from instance tags
# (they may change in place, so neither user-data nor the bundle carries them). Secrets come from SSM only.
load_env() {
  load_settings
  if [[ -z "${PUBLIC_IP:-}" ]]; then
    PUBLIC_IP=$(retry 10 3 imds_tag WeebeetalkPublicIp) || die "instance tag WeebeetalkPublicIp unreadable (instance metadata tags enabled?)"
    DATA_VOLUME_ID=$(retry 10 3 imds_tag WeebeetalkDataVolume) || die "instance tag WeebeetalkDataVolume unreadable"
    export PUBLIC_IP DATA_VOLUME_ID
  fi
}

# render FILE: a generated file with the Elastic IP put in for its @PUBLIC_IP@ placeholder.
render() {
  [[ "$PUBLIC_IP" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "PUBLIC_IP '${PUBLIC_IP}' is not an IPv4 address"
  sed "s/@PUBLIC_IP@/${PUBLIC_IP}/g" "$1"
}

# retry ATTEMPTS DELAY COMMAND...: network calls at first boot may race the network or IAM.
retry() {
  local attempts=$1 delay=$2 i
  shift 2
  for ((i = 1; i <= attempts; i++)); do
    if "$@"; then return 0; fi
    # stderr: callers capture stdout (a secret, a tag value).
    log "attempt ${i}/${attempts} failed: $*" >&2
    sleep "$delay"
  done
  return 1
}

# ssm_get NAME: an SSM parameter (full name), decrypted, printed to stdout (never logged). Throttling and network
# errors are retried; a missing or forbidden name fails at once, naming it. Fails on an empty value: a silently
# empty password would break what it protects.
ssm_get() {
  local name=$1 value err i
  err=$(mktemp)
  for ((i = 1; i <= 10; i++)); do
    if value=$(aws ssm get-parameter --region "${AWS_REGION}" --with-decryption --name "$name" \
      --query Parameter.Value --output text 2> "$err"); then
      break
    fi
    if grep -qE 'ParameterNotFound|AccessDenied' "$err"; then
      log "ERROR: SSM parameter ${name}: $(tr -s '\n' ' ' < "$err")" >&2
      rm -f "$err"
      die "cannot read ${name} from SSM (the plan must create it and this host's role must grant it)"
    fi
    log "attempt ${i}/10 to read ${name} failed: $(tr -s '\n' ' ' < "$err")" >&2
    value=""
    sleep 6
  done
  rm -f "$err"
  [[ -n "$value" ]] || die "cannot read ${name} from SSM"
  [[ "$value" != None ]] || die "${name} is empty in SSM"
  printf '%s' "$value"
}

# install_if_changed SRC DEST MODE [UID:GID]: DEST becomes SRC's content (atomically, with MODE and owner) unless it
# holds it already. Exit 0 when DEST changed, 1 when it was already so: callers reload only what changed. Called as
# a condition, where set -e does not apply: every step that can fail dies on its own, so 1 means unchanged only.
install_if_changed() {
  local src=$1 dest=$2 mode=$3 owner=${4:-0:0} tmp
  if [[ -f "$dest" ]] && cmp -s "$src" "$dest" && [[ "$(stat -c '%a %u:%g' "$dest")" == "${mode#0} ${owner}" ]]; then return 1; fi
  tmp=$(mktemp "${dest}.XXXXXX") || die "cannot write beside ${dest}"
  { cat "$src" > "$tmp" && chmod "$mode" "$tmp" && chown "$owner" "$tmp" && mv -f "$tmp" "$dest"; } || {
    rm -f "$tmp"
    die "cannot install ${dest}"
  }
}

# ensure_filesystem DEVICE LABEL: make an ext4 filesystem only when the device has none.
# Never formats a volume that holds data: that is the whole point of the separate volume.
ensure_filesystem() {
  local dev=$1 label=$2 fstype rc=0
  # Low-level probe of the device itself (no cache). Exit 2 is "nothing found"; any other failure (an I/O
  # error, an ambivalent probe) must stop here rather than reach mkfs.
  fstype=$(blkid -p -o value -s TYPE "$dev") || rc=$?
  if ((rc == 2)); then
    log "no filesystem on ${dev}: creating ext4"
    mkfs.ext4 -q -L "$label" "$dev"
  elif ((rc == 0)) && [[ -n "$fstype" ]]; then
    log "${dev} already holds ${fstype}: keeping its data"
  else
    die "cannot tell what ${dev} holds (blkid exit ${rc}): not formatting it"
  fi
}

# grow_filesystem DEVICE: grow the ext4 on DEVICE to the device's size, when the device grew. Mounted: online
# (the kernel does it; needs CAP_SYS_RESOURCE, which root has on EC2). Not mounted: offline, after the forced
# check resize2fs requires.
grow_filesystem() {
  local dev=$1 device_bytes fs_bytes rc=0
  device_bytes=$(blockdev --getsize64 "$dev")
  fs_bytes=$(dumpe2fs -h "$dev" 2> /dev/null | awk -F: '/^Block count/ { c = $2 } /^Block size/ { s = $2 } END { printf "%d", c * s }')
  # Less than a MiB is the filesystem's rounding to whole blocks and groups, not growth.
  if ((device_bytes - fs_bytes < 1048576)); then return 0; fi
  log "${dev} has grown to ${device_bytes} bytes (filesystem: ${fs_bytes}): growing the filesystem"
  if ! findmnt -rno TARGET "$dev" > /dev/null; then
    # e2fsck's exit is a bit mask: 1 errors corrected, 2 "reboot" (meaningless unmounted); 4 and up must stop
    # before resize2fs touches it.
    e2fsck -f -p "$dev" || rc=$?
    (((rc & ~3) == 0)) || die "e2fsck found errors on ${dev} it could not correct (exit ${rc}): not growing it"
  fi
  resize2fs "$dev"
}

# apt_install PACKAGE...: waits for the dpkg lock (unattended-upgrades may hold it at first boot).
apt_install() {
  DEBIAN_FRONTEND=noninteractive retry 3 10 apt-get -o DPkg::Lock::Timeout=600 install -y -q "$@"
}
