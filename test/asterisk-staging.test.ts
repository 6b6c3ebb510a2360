/** Staging's PBX configuration in a real Asterisk 22 (no trunk): Jigasi, phones over TLS, strangers. */
import { realAsteriskSuite } from './support/asterisk/suite';

realAsteriskSuite('staging');
