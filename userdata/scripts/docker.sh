#!/usr/bin/env bash
# Docker Engine and the compose plugin from Docker's apt repository, key checked by fingerprint.
# daemon.json (data root on the data volume, log rotation) and the mount dependency come from cloud-init.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_env

mountpoint -q "$DATA_DIR" || die "${DATA_DIR} is not mounted: Docker must keep its data on the data volume"
# Docker's release key (https://docs.docker.com/engine/install/debian/).
fingerprint=9DC858229FC7DD38854AE2D88D81803C0EBFCD88
key=/etc/apt/keyrings/docker.asc
install -d -m 0755 /etc/apt/keyrings
if [[ ! -s "$key" ]]; then
  tmp=$(mktemp)
  retry 5 10 curl -fsSL --proto '=https' --tlsv1.2 -o "$tmp" https://download.docker.com/linux/debian/gpg
  got=$(gpg --show-keys --with-colons "$tmp" | awk -F: '$1 == "fpr" { print $10; exit }')
  [[ "$got" == "$fingerprint" ]] || die "Docker's apt key has fingerprint ${got}, expected ${fingerprint}"
  install -m 0644 "$tmp" "$key"
  rm -f "$tmp"
fi
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
echo "deb [arch=$(dpkg --print-architecture) signed-by=${key}] https://download.docker.com/linux/debian ${codename} stable" \
  > /etc/apt/sources.list.d/docker.list
if ! dpkg-query -W -f='${Status}' docker-ce 2> /dev/null | grep -q 'install ok installed'; then
  retry 5 10 apt-get -o DPkg::Lock::Timeout=600 update -q
  apt_install docker-ce docker-ce-cli containerd.io docker-compose-plugin
fi
systemctl enable --now docker
docker info --format '{{.DockerRootDir}}' | grep -qx "$WBT_DOCKER_ROOT" || die "Docker's data root is not ${WBT_DOCKER_ROOT}"
log "docker $(docker version --format '{{.Server.Version}}') with compose $(docker compose version --short)"
