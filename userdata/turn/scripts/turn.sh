#!/usr/bin/env bash
# The turn host's hook, run by weebeetalk-apply after it wrote the bundle's files (WBT_CHANGED: the services whose
# files changed): coturn from Debian 12 with the generated configuration plus the shared secret from SSM, its
# certificate from Let's Encrypt (turn-certificate.sh). coturn reads its configuration only when it starts: a
# changed one restarts it (relayed participants reconnect within seconds).
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
# shellcheck source=config-lib.sh
. /usr/local/lib/weebeetalk/config-lib.sh
load_env
if has_changed systemd; then systemctl daemon-reload; fi
# The CloudWatch agent and publishers first: a hook that fails below still has its logs and outcome shipped.
monitoring_up

# Debian's package starts coturn on installation with its own configuration, which has no authentication: an
# open relay for as long as it ran. Masked first, it starts only with ours.
if ! dpkg-query -W -f='${Status}' coturn 2> /dev/null | grep -q 'install ok installed'; then
  systemctl mask coturn
  apt_install coturn
fi

# Secret first: a failed read stops here, before anything is written. Root and the turnserver group (coturn runs as
# turnserver) read the file, nobody else; our drop-in points coturn at it (not the package's conffile).
secret=$(ssm_secret static-auth-secret)
install -d -m 0755 "${WBT_TURNSERVER_CONF%/*}"
draft=$(secret_draft "$WBT_TURNSERVER_CONF")
{
  cat "$WBT_TURN_CONF_SOURCE"
  printf 'static-auth-secret=%s\n' "$secret"
} > "$draft"
conf_changed=0
if install_if_changed "$draft" "$WBT_TURNSERVER_CONF" 0640 "0:$(getent group turnserver | cut -d: -f3)"; then conf_changed=1; fi
rm -f "$draft"
# Its unit's drop-in too (capabilities, restart policy): a running coturn gets either only by a restart.
if has_changed coturn; then conf_changed=1; fi

letsencrypt_on_data_volume
ln -sfn "$WBT_HELPER_TURN_CERT_DEPLOY" "$WBT_TURN_CERT_HOOK"
systemctl enable --now certbot.timer
# The certificate, then coturn (the helper starts it once the certificate is in place, now or from its timer): a
# coturn that ran before this apply restarts when its configuration changed.
was_running=0
if systemctl is-active --quiet coturn; then was_running=1; fi
if "$WBT_HELPER_TURN_CERTIFICATE"; then
  if ((conf_changed && was_running)); then
    systemctl restart coturn
    log "coturn restarted with its new configuration (relayed participants reconnect)"
  fi
else
  log "WARNING: coturn stays stopped until its certificate exists (${WBT_TURN_CERT_TIMER} tries every 2 hours)"
fi
