#!/usr/bin/env bash
# Rocket.Chat from rocketchat-compose at a pinned commit, with WeeBeeTalk's override (see userdata/chat/index.ts).
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_env
dir=$WBT_RC_DIR

fetch_release "$RC_COMPOSE_URL" "$dir" "$WBT_RC_MANIFEST"

# .env = the settings from user-data + the initial admin password from SSM, root-only. Rewritten on every run
# so a changed setting takes effect. Rocket.Chat uses ADMIN_PASS only while no admin exists: SSM keeps the
# initial password; change it later in Rocket.Chat itself.
admin_pass=$(ssm_secret admin-password)
{
  cat "$WBT_RC_SETTINGS"
  printf 'RC_ADMIN_PASS="%s"\n' "$admin_pass"
} | write_secret_file "${dir}/.env"

systemctl daemon-reload
# Traefik asks Let's Encrypt once per start (no retry loop): not before the name resolves to this host. Enabled
# only after that, so that a reboot of a host whose DNS never worked does not start it unchecked.
wait_for_public_dns || die "not starting Rocket.Chat (Traefik would request a certificate that cannot validate); run ${WBT_BOOTSTRAP} once DNS works"
systemctl enable "$WBT_RC_UNIT" "$WBT_RC_BACKUP_TIMER"
systemctl restart "$WBT_RC_UNIT"
systemctl start "$WBT_RC_BACKUP_TIMER"
log "Rocket.Chat starting at https://${FQDN} (first start pulls images and initialises MongoDB: a few minutes)"
