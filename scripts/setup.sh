#!/usr/bin/env bash
# One command for a newcomer on Debian 12 (and for CI): the test validators from Debian, the npm packages
# from the lockfile, then a synthesis of every environment into cdktf.out/ (no AWS account needed).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian 12's own cloud-init (22.4.2, what the AMI runs) validates user-data; shellcheck the scripts and
# shfmt their layout (npm run lint); e2fsprogs and openssl serve the bootstrap and smoke tests; iptables the chat
# host's metadata guard in network namespaces (test/chat-imds.test.ts); chromium the smoke check's browser mode
# (npm run smoke -- <env> --browser) and its loopback test (test/smoke-browser.test.ts), driven by playwright-core,
# which never downloads a browser of its own; gnupg (gpg, and gpgv with it) signs and checks a throwaway CloudWatch
# agent package (test/cloudwatch-agent-scripts.test.ts).
packages=(cloud-init shellcheck shfmt e2fsprogs openssl iptables chromium gnupg)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo=sudo; fi
  # This machine only uses cloud-init as a validator: keep it from acting at boot.
  $sudo install -d /etc/cloud
  $sudo touch /etc/cloud/cloud-init.disabled
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The first-boot harness's sandbox root (root only; cached).
bash scripts/setup-boot-root.sh
# The real-Asterisk tests' sid chroot (Asterisk 22, SIPp with TLS) and Debian 12's fail2ban (root only; cached).
bash scripts/setup-asterisk-root.sh
bash scripts/setup-coturn-root.sh # the real-coturn tests' Debian 12 chroot (coturn 4.6.1; root only; cached)

export CHECKPOINT_DISABLE=1
npm ci --no-audit --no-fund
npm run synth
ls -d cdktf.out/stacks/*
