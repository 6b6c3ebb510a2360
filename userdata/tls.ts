/** TLS settings the hosts share: what a TLS 1.2 client gets besides TLS 1.3 (whose suites OpenSSL keeps). */

/** ECDHE with AEAD ciphers only: what browsers and current phones offer. */
export const AEAD_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
] as const;
