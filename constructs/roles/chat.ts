/**
 * The chat host: Rocket.Chat behind Traefik (HTTPS, ACME TLS-ALPN-01), MongoDB, uploads in S3, nightly
 * backups to S3. Bootstrap: userdata/chat/ (its README says what runs there and how to debug it).
 */
import { roleRules, WORLD_PEER } from './ports';
import { chatBundle } from '../../userdata/chat';
import type { RoleSpec } from './spec';

export const chat: RoleSpec = {
  role: 'chat',
  addressOffset: 10,
  // Rocket.Chat's container writes uploads to S3 through the instance role: one hop more than the host.
  metadataHopLimit: 2,
  ports: () =>
    roleRules('chat', (add) => {
      add('https', 'tcp', 443, 443, [WORLD_PEER], 'Rocket.Chat web and API via Traefik; ACME TLS-ALPN-01');
      add('http', 'tcp', 80, 80, [WORLD_PEER], 'Traefik redirect from HTTP to HTTPS');
    }),
  secrets: (_config, secrets) => {
    secrets.add({ id: 'rocketchat-admin', description: 'Rocket.Chat first administrator password', path: 'chat/admin-password' });
  },
  grants: ({ role, buckets }) => {
    buckets.uploads.grantReadWrite(role);
    buckets.backups.grantPut(role, 'chat/', { readBack: true });
  },
  bundle: chatBundle,
};
