/** Production's PBX configuration in a real Asterisk 22: Jigasi, the SIP trunk, phones over TLS, strangers. */
import { realAsteriskSuite } from './support/asterisk/suite';

realAsteriskSuite('production');
