import type { EnvironmentFile } from '../load';

/** Production: sized for a few hundred users, remote state, protected against destruction. */
const production: EnvironmentFile = {
  name: 'production',
  tier: 'production',
  // The provider refuses any other account: set your production account id.
  aws: { region: 'ap-southeast-3', allowedAccountIds: ['123456789012'] },
  dns: { domain: 'weebeetalk.example', zone: 'lookup', caaIodef: 'mailto:security@weebeetalk.example' },
  // A mailbox you read, on a public domain: Let's Encrypt refuses example.com and .example, .test, .local... contacts.
  letsEncryptEmail: 'ops@replace-with-your-domain.com',
  sip: {
    // Documentation ranges: replace with your SIP provider's and offices' networks.
    trunkSignallingCidrs: ['192.0.2.0/28'],
    trunkMediaCidrs: ['192.0.2.0/24'],
    clientCidrs: ['198.51.100.0/24'],
    users: [
      { extension: '1001', name: 'Reception' },
      { extension: '1002', name: 'Operations' },
      { extension: '1003', name: 'Support' },
    ],
    dialIn: {
      // Your trunk's numbers as callers dial them: the invite dialog shows them with each meeting's PIN.
      numbers: [{ number: '+62 21 5555 0100', country: 'id' }],
      // A helpdesk line: the called number as the trunk sends it, and an extension for internal phones. Staff open
      // the room from Rocket.Chat with "/jitsi helpdesk" (the Jitsi app names it RocketChathelpdesk).
      rooms: [
        { did: '622155550199', room: 'rocketchathelpdesk' },
        { extension: '8100', room: 'rocketchathelpdesk' },
      ],
    },
  },
  jitsi: { jigasi: true, jibri: true, auth: 'jwt' },
  // Create this bucket and its key once before the first deploy (README, "Deploy and destroy"). The key is the state's
  // own: the environment's key (kms.customerManagedKey) is created by the deploy that writes this state.
  state: { bucket: 'weebeetalk-terraform-state-example', region: 'ap-southeast-3', kmsKeyId: 'alias/weebeetalk-terraform-state' },
};

export default production;
