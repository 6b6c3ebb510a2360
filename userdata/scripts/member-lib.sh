# shellcheck shell=bash
# (lib.sh continued.) A pool member's part of lib.sh, appended to it in a member's user-data only
# (userdata/host-user-data.ts): the hosts' lib.sh stays as it was, and so do their instances. A member has no
# Elastic IP and no data volume tag.

# imds PATH: an instance metadata item (IMDSv2), PATH under latest/, e.g. meta-data/instance-id.
imds() {
  local token
  token=$(curl -fsS --connect-timeout 1 --max-time 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token) || return 1
  curl -fsS --connect-timeout 1 --max-time 2 -H "X-aws-ec2-metadata-token: ${token}" "http://169.254.169.254/latest/$1"
}

# load_env of a member (replaces the one above): the settings, then its addresses and instance id from instance
# metadata, once per process tree (the apply tool starts the hook with PUBLIC_IP only, so INSTANCE_ID decides).
load_env() {
  load_settings
  if [[ -z "${INSTANCE_ID:-}" ]]; then
    PUBLIC_IP=$(retry 10 3 imds meta-data/public-ipv4) || die "no public address in instance metadata (the launch template must give one)"
    PRIVATE_IP=$(retry 10 3 imds meta-data/local-ipv4) || die "no private address in instance metadata"
    INSTANCE_ID=$(retry 10 3 imds meta-data/instance-id) || die "no instance id in instance metadata"
    DATA_VOLUME_ID=""
    export PUBLIC_IP PRIVATE_IP INSTANCE_ID DATA_VOLUME_ID
  fi
}
