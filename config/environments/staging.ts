import type { EnvironmentFile } from '../load';

/** Staging: small and cheap, torn down at will. Names live under staging.<domain>. */
const staging: EnvironmentFile = {
  name: 'staging',
  tier: 'staging',
  aws: { region: 'ap-southeast-3' },
  // Replace with your organisation's domain and contact before the first deploy.
  dns: { domain: 'weebeetalk.example', zone: 'lookup' },
  // A mailbox you read, on a public domain: Let's Encrypt refuses example.com and .example, .test, .local... contacts.
  letsEncryptEmail: 'ops@replace-with-your-domain.com',
  sip: {
    // Documentation range: replace with your office network, or leave the lists empty.
    clientCidrs: ['198.51.100.0/24'],
    users: [
      { extension: '1001', name: 'Reception' },
      { extension: '1002', name: 'Operations' },
    ],
    // Extension 8100 rings the helpdesk room, which staff open from Rocket.Chat with "/jitsi helpdesk" (the Jitsi
    // app names it RocketChathelpdesk); 8000 asks for a meeting's PIN.
    dialIn: { rooms: [{ extension: '8100', room: 'rocketchathelpdesk' }] },
  },
  jitsi: { jigasi: true, jibri: true, auth: 'jwt' },
};

export default staging;
