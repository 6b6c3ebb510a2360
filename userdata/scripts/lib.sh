#!/usr/bin/env bash
# Shared helpers for the bootstrap steps; sourced, never run.

WBT_ETC=/etc/weebeetalk

log() { echo "[$(date -Is)] ${0##*/}: $*"; }
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

# load_settings: the non-secret settings cloud-init wrote (user-data), without asking instance metadata.
load_settings() {
  set -a
  # shellcheck source=/dev/null
  . "${WBT_ETC}/host.env"
  set +a
}

# Settings: non-secret ones written by cloud-init (user-data), plus the Elastic IP and the data volume id from
# instance tags (they may change in place, so user-data does not carry them). Secrets come from SSM only.
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

# wait_for_public_dns: until DNS gives this host's Elastic IP, and only it, for FQDN (bounded and logged: 120
# tries 10 s apart, each lookup at most 5 s). Every ACME client (Traefik, the Jitsi web container, certbot) must
# wait for it: Let's Encrypt checks the name in public DNS, and each failed validation counts against its limit
# (5 per name per hour). The VPC resolver recurses through public DNS, so it sees what Let's Encrypt sees; the
# 20 minutes outlast Route53's default negative-caching time (the SOA's 900 s) of a name asked for too early.
wait_for_public_dns() {
  local i answer
  for ((i = 1; i <= 120; i++)); do
    answer=$(timeout 5 getent ahostsv4 "$FQDN" | awk '{ print $1 }' | sort -u | paste -sd ' ' || true)
    if [[ "$answer" == "$PUBLIC_IP" ]]; then
      log "${FQDN} resolves to ${PUBLIC_IP}"
      return 0
    fi
    log "waiting for ${FQDN} to resolve to ${PUBLIC_IP} (DNS answers: ${answer:-nothing}), ${i}/120"
    sleep 10
  done
  log "${FQDN} does not resolve to ${PUBLIC_IP} after 20 minutes: is the zone delegated to Route53?"
  return 1
}

# ssm_secret NAME: the parameter SSM_PREFIX/NAME (NAME relative to this host's own path, the only one its role
# may read, e.g. `ssm_secret admin-password` on chat), decrypted, printed to stdout (never logged).
# Throttling and network errors are retried; a missing or forbidden name fails at once, naming it. Fails on an
# empty value: a silently empty password would break what it protects. Call it as a plain assignment
# (v=$(ssm_secret x)) so that set -e stops the step when it fails.
ssm_secret() {
  local name="${SSM_PREFIX}/$1" value err i
  [[ "$1" != /* && "$1" != "${WBT_ROLE:-}/"* ]] || die "ssm_secret takes a name relative to ${SSM_PREFIX}, got $1"
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
  # The files these go into (.env in double quotes, pjsip.auth.conf where ";" starts a comment) carry these
  # characters as they are; anything else (a hand-rotated value) must fail here, not truncate a password.
  [[ "$value" =~ ^[A-Za-z0-9._~+/=-]+$ ]] || die "${name} holds characters outside A-Z a-z 0-9 . _ ~ + / = -: set a value without them (README, \"Secrets and state\")"
  printf '%s' "$value"
}

# write_secret_file PATH: stdin to a root-only file, replaced atomically.
write_secret_file() {
  local path=$1 tmp
  tmp=$(mktemp "${path}.XXXXXX")
  chmod 0600 "$tmp"
  cat > "$tmp"
  mv -f "$tmp" "$path"
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

# fetch_release URL DIR MANIFEST: unpack an upstream release archive into DIR, then check every file we use
# against MANIFEST (sha256sum format, kept in this repository, written by cloud-init). Nothing unverified is kept.
fetch_release() {
  local url=$1 dir=$2 manifest=$3 tmp
  if [[ -d "$dir" ]] && (cd "$dir" && sha256sum -c --status "$manifest"); then return 0; fi
  tmp=$(mktemp -d)
  retry 5 10 curl -fsSL --proto '=https' --tlsv1.2 -o "${tmp}/release.tar.gz" "$url" || {
    rm -rf "$tmp"
    die "cannot download ${url}"
  }
  mkdir -p "${tmp}/tree"
  tar -xzf "${tmp}/release.tar.gz" -C "${tmp}/tree" --strip-components=1 --no-same-owner
  (cd "${tmp}/tree" && sha256sum -c --quiet "$manifest") || {
    rm -rf "$tmp"
    die "upstream files of ${url} do not match ${manifest}"
  }
  install -d -m 0755 "$(dirname "$dir")"
  rm -rf "$dir"
  mv "${tmp}/tree" "$dir"
  rm -rf "$tmp"
}

# apt_install PACKAGE...: waits for the dpkg lock (unattended-upgrades may hold it at first boot).
apt_install() {
  DEBIAN_FRONTEND=noninteractive retry 3 10 apt-get -o DPkg::Lock::Timeout=600 install -y -q "$@"
}

# generate_internal_passwords GEN_PASSWORDS_SH FILE: run upstream's gen-passwords.sh once and keep its six
# internal XMPP passwords in FILE on the data volume. Never again: Prosody keeps the accounts it created with
# the first ones, so new passwords would lock jicofo, jvb, jigasi and jibri out of a running install.
generate_internal_passwords() {
  local script=$1 file=$2 tmp name
  if [[ -s "$file" ]]; then
    log "internal passwords already generated: keeping them"
    return 0
  fi
  tmp=$(mktemp -d)
  install -m 0700 "$script" "${tmp}/gen-passwords.sh"
  for name in JICOFO_AUTH_PASSWORD JVB_AUTH_PASSWORD JIGASI_XMPP_PASSWORD JIBRI_RECORDER_PASSWORD JIBRI_XMPP_PASSWORD JIGASI_TRANSCRIBER_PASSWORD; do
    echo "${name}=" >> "${tmp}/.env"
  done
  bash "${tmp}/gen-passwords.sh"
  grep -E '^[A-Z_]+_PASSWORD=[0-9a-f]{16,}$' "${tmp}/.env" | write_secret_file "$file"
  rm -rf "$tmp"
  [[ $(wc -l < "$file") -eq 6 ]] || die "gen-passwords.sh did not produce six passwords"
  log "internal passwords generated once into ${file}"
}
