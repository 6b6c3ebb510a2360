/**
 * Every variable we write into an upstream `.env`, with the pinned upstream file that reads it (checked with
 * `git grep` at the pinned ref). The tests fail when a builder or script writes a name not listed here, so a
 * guessed or misspelled name cannot ship.
 */

/** Read by Docker Compose itself, not by a compose file. */
export const COMPOSE_BUILTIN = ['COMPOSE_FILE', 'COMPOSE_PROJECT_NAME'] as const;

/** docker-jitsi-meet stable-11146-2. */
export const JITSI_ENV: Readonly<Record<string, string>> = {
  CONFIG: 'docker-compose.yml, jigasi.yml, jibri.yml (bind-mount sources)',
  JITSI_IMAGE_VERSION: 'docker-compose.yml, jigasi.yml, jibri.yml (image tags)',
  HTTP_PORT: 'docker-compose.yml (web ports, host side of 8000)',
  HTTPS_PORT: 'docker-compose.yml (web ports, host side of 8443)',
  TZ: 'docker-compose.yml, jigasi.yml, jibri.yml',
  PUBLIC_URL: 'docker-compose.yml (web, prosody), jigasi.yml, jibri.yml',
  JVB_ADVERTISE_IPS: 'docker-compose.yml (jvb)',
  ENABLE_LETSENCRYPT: 'docker-compose.yml (web)',
  LETSENCRYPT_DOMAIN: 'docker-compose.yml (web)',
  LETSENCRYPT_EMAIL: 'docker-compose.yml (web)',
  LETSENCRYPT_ACME_SERVER: 'docker-compose.yml (web; unset means ZeroSSL)',
  ENABLE_HTTP_REDIRECT: 'docker-compose.yml (web)',
  ENABLE_AUTH: 'docker-compose.yml (web, prosody, jicofo), jigasi.yml',
  ENABLE_GUESTS: 'docker-compose.yml (web: system-config.js anonymousdomain, prosody: the guest VirtualHost; both only with ENABLE_AUTH), jigasi.yml (anonymous on the guest domain)',
  AUTH_TYPE: 'docker-compose.yml (prosody, jicofo)',
  JWT_APP_ID: 'docker-compose.yml (prosody)',
  JWT_APP_SECRET: 'docker-compose.yml (prosody)',
  // jitsi.security (issue 15; checked at 738058b, /tmp/research-jitsi-privacy.md). No variable of the pin names E2EE.
  ENABLE_LOBBY: 'docker-compose.yml (prosody: prosody/rootfs/defaults/conf.d/jitsi-meet.cfg.lua muc_lobby_rooms, lobby_muc; default true)',
  ENABLE_AV_MODERATION: 'docker-compose.yml (prosody: jitsi-meet.cfg.lua av_moderation_component; default true)',
  ENABLE_PREJOIN_PAGE: 'docker-compose.yml (web: web/rootfs/defaults/settings-config.js config.prejoinConfig.enabled; default true)',
  ENABLE_REQUIRE_DISPLAY_NAME: 'docker-compose.yml (web: settings-config.js config.requireDisplayName; default false)',
  ENABLE_MODERATOR_CHECKS: 'docker-compose.yml (jicofo: jicofo/rootfs/defaults/jicofo.conf conference.enable-moderator-checks; jicofo default true)',
  JWT_ALLOW_EMPTY: 'docker-compose.yml (prosody: jitsi-meet.cfg.lua allow_empty_token; default 0)',
  JWT_ACCEPTED_ISSUERS: 'docker-compose.yml (prosody: jitsi-meet.cfg.lua asap_accepted_issuers, comma-separated, with AUTH_TYPE jwt; unset: the app id)',
  JWT_ACCEPTED_AUDIENCES: 'docker-compose.yml (prosody: jitsi-meet.cfg.lua asap_accepted_audiences, comma-separated, with AUTH_TYPE jwt; unset: any, "*")',
  JIGASI_SIP_URI: 'docker-compose.yml (jicofo), jigasi.yml',
  JIGASI_SIP_PASSWORD: 'jigasi.yml',
  JIGASI_SIP_SERVER: 'jigasi.yml',
  JIGASI_SIP_PORT: 'jigasi.yml',
  JIGASI_SIP_TRANSPORT: 'jigasi.yml',
  JIGASI_PORT_MIN: 'jigasi.yml (command and ports)',
  JIGASI_PORT_MAX: 'jigasi.yml (command and ports)',
  // Dial-in by PIN (issue 17, userdata/meet/dial-in.ts).
  XMPP_MODULES: 'docker-compose.yml (prosody: jitsi-meet.cfg.lua modules_enabled of the XMPP_DOMAIN VirtualHost and, with guests, the guest one)',
  CONFCODE_URL: 'docker-compose.yml (web: web/rootfs/defaults/settings-config.js config.dialInConfCodeUrl; unset: none)',
  DIALIN_NUMBERS_URL: 'docker-compose.yml (web: settings-config.js config.dialInNumbersUrl; unset: none)',
  ENABLE_RECORDING: 'docker-compose.yml (web, prosody, jicofo)',
  JIBRI_FINALIZE_RECORDING_SCRIPT_PATH: 'jibri.yml',
  TURN_CREDENTIALS: 'docker-compose.yml (prosody: external_service_secret, prosody/rootfs/defaults/prosody.cfg.lua)',
  TURNS_HOST: 'docker-compose.yml (prosody: external_services type "turns", transport tcp)',
  TURNS_PORT: 'docker-compose.yml (prosody; default 443)',
  TURN_HOST: 'docker-compose.yml (prosody: external_services type "turn")',
  TURN_PORT: 'docker-compose.yml (prosody; default 443)',
  TURN_TRANSPORT: 'docker-compose.yml (prosody; comma-separated, default tcp)',
  JICOFO_AUTH_PASSWORD: 'docker-compose.yml (gen-passwords.sh)',
  JVB_AUTH_PASSWORD: 'docker-compose.yml (gen-passwords.sh)',
  JIGASI_XMPP_PASSWORD: 'docker-compose.yml, jigasi.yml (gen-passwords.sh)',
  JIBRI_RECORDER_PASSWORD: 'docker-compose.yml, jibri.yml (gen-passwords.sh)',
  JIBRI_XMPP_PASSWORD: 'docker-compose.yml, jibri.yml (gen-passwords.sh)',
  JIGASI_TRANSCRIBER_PASSWORD: 'docker-compose.yml (gen-passwords.sh)',
  // Pool members (userdata/jibri, userdata/jvb): the meet host's Prosody over the VPC, a unique name each.
  XMPP_SERVER: 'docker-compose.yml (jvb, jicofo; prosody network alias), jibri.yml (jibri/rootfs/defaults/xmpp.conf, jvb/rootfs/defaults/jvb.conf)',
  XMPP_PORT: 'docker-compose.yml (jvb, prosody), jibri.yml (xmpp.conf control-login port, jvb.conf shard PORT)',
  JIBRI_INSTANCE_ID: 'jibri.yml (jibri/rootfs/defaults/jibri.conf id, xmpp.conf control-muc nickname)',
  JVB_MUC_NICKNAME: 'docker-compose.yml (jvb: jvb/rootfs/defaults/jvb.conf MUC_NICKNAME, default the container hostname)',
  JVB_INSTANCE_ID: 'docker-compose.yml (jvb: jvb/rootfs/etc/s6-overlay/scripts/config, autoscaler-sidecar.config)',
  COLIBRI_REST_ENABLED: 'docker-compose.yml (jvb: jvb.conf videobridge.apis.rest.enabled, default false)',
  SHUTDOWN_REST_ENABLED: 'docker-compose.yml (jvb: jvb.conf videobridge.rest.shutdown.enabled, default false; needs COLIBRI_REST_ENABLED)',
};

/** rocketchat-compose f693f76; RC_* are read by our override (userdata/chat/index.ts) only. */
export const ROCKETCHAT_ENV: Readonly<Record<string, string>> = {
  RELEASE: 'compose.yml (image tag)',
  MONGODB_VERSION: 'compose.database.yml (image tag; default 8.2 is unsupported by 8.x LTS)',
  DOMAIN: 'compose.traefik.yml (traefik-init)',
  ROOT_URL: 'compose.yml',
  LETSENCRYPT_ENABLED: 'compose.traefik.yml',
  LETSENCRYPT_EMAIL: 'compose.traefik.yml (required), our override',
  TRAEFIK_PROTOCOL: 'compose.traefik.yml',
  BIND_IP: 'compose.yml (host IP of 3000 and 9458)',
  MONGODB_BIND_IP: 'compose.database.yml',
  NATS_BIND_IP: 'compose.database.yml',
  TRAEFIK_API_INSECURE: 'compose.traefik.yml',
  GRAFANA_PATH: 'compose.traefik.yml (traefik-init Grafana route)',
  RC_ADMIN_USERNAME: 'our override (ADMIN_USERNAME)',
  RC_ADMIN_PASS: 'our override (ADMIN_PASS), written on the host from SSM',
  RC_ADMIN_EMAIL: 'our override (ADMIN_EMAIL)',
  RC_UPLOADS_BUCKET: 'our override (OVERWRITE_SETTING_FileUpload_S3_Bucket)',
  RC_AWS_REGION: 'our override (OVERWRITE_SETTING_FileUpload_S3_Region)',
};

/**
 * Rocket.Chat setting ids we set (OVERWRITE_SETTING_<id>: re-applied at every start), with the file that registers
 * each (RocketChat/Rocket.Chat apps/meteor/server/settings/). Checked in the stored versions of those files around
 * 8.9 (the ids are the same in each; the 8.9.1 tag itself could not be read here). The tests refuse an id not listed.
 */
export const ROCKETCHAT_SETTINGS: Readonly<Record<string, string>> = {
  // Set since the first round (issue 7).
  Show_Setup_Wizard: 'setup-wizard.ts',
  Accounts_RegistrationForm: 'accounts.ts',
  FileUpload_Storage_Type: 'file-upload.ts',
  FileUpload_S3_Bucket: 'file-upload.ts',
  FileUpload_S3_Region: 'file-upload.ts',
  // rocketchat.security (issue 15).
  FileUpload_ProtectFiles: 'file-upload.ts (boolean, default true)',
  E2E_Enable: 'e2e.ts (boolean, default false)',
  E2E_Enabled_Default_DirectRooms: 'e2e.ts (boolean, default false)',
  E2E_Enabled_Default_PrivateRooms: 'e2e.ts (boolean, default false)',
  Accounts_Password_Policy_Enabled: 'accounts.ts (boolean)',
  Accounts_Password_Policy_MinLength: 'accounts.ts (int)',
  Accounts_Password_Policy_AtLeastOneLowercase: 'accounts.ts (boolean, default true)',
  Accounts_Password_Policy_AtLeastOneUppercase: 'accounts.ts (boolean, default true)',
  Accounts_Password_Policy_AtLeastOneNumber: 'accounts.ts (boolean, default true)',
  Accounts_Password_Policy_AtLeastOneSpecialCharacter: 'accounts.ts (boolean, default true)',
  Accounts_Password_History_Enabled: 'accounts.ts (boolean, default false)',
  Accounts_Password_History_Amount: 'accounts.ts (int, default 5)',
  Block_Multiple_Failed_Logins_Enabled: 'accounts.ts (boolean, default true)',
  Block_Multiple_Failed_Logins_By_User: 'accounts.ts (boolean, default true)',
  Block_Multiple_Failed_Logins_Attempts_Until_Block_by_User: 'accounts.ts (int, default 10; a lower-case "by")',
  Block_Multiple_Failed_Logins_Time_To_Unblock_By_User_In_Minutes: 'accounts.ts (int, default 5)',
  Block_Multiple_Failed_Logins_By_Ip: 'accounts.ts (boolean, default true)',
  Block_Multiple_Failed_Logins_Time_To_Unblock_By_Ip_In_Minutes: 'accounts.ts (int, default 5)',
  Accounts_TwoFactorAuthentication_Enabled: 'accounts.ts (boolean, default true)',
  Accounts_TwoFactorAuthentication_By_TOTP_Enabled: 'accounts.ts (boolean, default true)',
  Accounts_TwoFactorAuthentication_By_Email_Enabled: 'accounts.ts (boolean, default true)',
  Login_Logs_Enabled: 'accounts.ts (boolean, default false)',
  Login_Logs_Username: 'accounts.ts (boolean, default false)',
  Login_Logs_ClientIp: 'accounts.ts (boolean, default false)',
  Login_Logs_UserAgent: 'accounts.ts (boolean, default false)',
};
