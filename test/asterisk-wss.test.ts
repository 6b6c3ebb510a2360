/**
 * WebRTC phones (sip.wss, off in both shipped files) in a real Asterisk 22: production with WSS on 8089. Only
 * the load check and the WSS scenarios run here; the rest of production is test/asterisk-production.test.ts.
 */
import { realAsteriskSuite } from './support/asterisk/suite';

realAsteriskSuite('production-wss', { base: 'production', override: { sip: { wss: true } }, only: 'wss' });
