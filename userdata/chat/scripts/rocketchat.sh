#!/usr/bin/env bash
# The chat host's hook, run by weebeetalk-apply after it wrote the bundle's files (WBT_CHANGED: the services whose
# files changed): Rocket.Chat from rocketchat-compose at a pinned commit, with WeeBeeTalk's override
# (userdata/chat/index.ts). First apply: start the stack once the name resolves. Later: `docker compose up`,
# which recreates only the services whose settings or images changed; Traefik reloads its dynamic file itself.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
# shellcheck source=config-lib.sh
. /usr/local/lib/weebeetalk/config-lib.sh
load_env
if has_changed systemd; then systemctl daemon-reload; fi
# The CloudWatch agent and publishers first: a hook that fails below still has its logs and outcome shipped.
monitoring_up
dir=$WBT_RC_DIR

# The metadata guard before the stack starts: only Rocket.Chat's container reaches instance metadata. Its unit
# runs it again after every start of Docker; here on the first apply and whenever its script or unit changed.
if has_changed imds-guard; then
  systemctl enable "$WBT_IMDS_GUARD_UNIT"
  systemctl start "$WBT_IMDS_GUARD_UNIT"
fi

fetch_release "$RC_COMPOSE_URL" "$dir" "$WBT_RC_MANIFEST"

# .env = the bundle's settings + the initial admin password from SSM, root-only. Rocket.Chat uses ADMIN_PASS only
# while no admin exists: SSM keeps the initial password; change it later in Rocket.Chat itself.
admin_pass=$(ssm_secret admin-password)
draft=$(secret_draft "${dir}/.env")
{
  cat "$WBT_RC_SETTINGS"
  printf 'RC_ADMIN_PASS="%s"\n' "$admin_pass"
} > "$draft"
env_changed=0
if update_secret_file "$draft" "${dir}/.env"; then env_changed=1; fi

if ! systemctl is-active --quiet "$WBT_RC_UNIT"; then
  systemctl daemon-reload
  # Traefik asks Let's Encrypt once per start (no retry loop): not before the name resolves to this host. Enabled
  # only after that, so that a reboot of a host whose DNS never worked does not start it unchecked.
  wait_for_public_dns || die "not starting Rocket.Chat (Traefik would request a certificate that cannot validate); run ${WBT_BOOTSTRAP} once DNS works"
  systemctl enable "$WBT_RC_UNIT" "$WBT_RC_BACKUP_TIMER"
  systemctl restart "$WBT_RC_UNIT"
  systemctl start "$WBT_RC_BACKUP_TIMER"
  log "Rocket.Chat starting at https://${FQDN} (first start pulls images and initialises MongoDB: a few minutes)"
elif ((env_changed)) || has_changed rocketchat; then
  compose_up "$dir"
  log "Rocket.Chat: compose recreated the services whose settings or images changed"
fi
if has_changed traefik; then log "Traefik reloads its dynamic configuration itself (file watch)"; fi
