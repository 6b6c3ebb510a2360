/**
 * Pinned upstream releases and the checksums of every upstream file the hosts use (kept here, checked on the
 * host by `fetch_release`). Bump on purpose: change the pin, the checksums and the snapshot together.
 */

export interface UpstreamRelease {
  /** Archive the host downloads. */
  readonly url: string;
  /** Tag or commit the archive is pinned at. */
  readonly ref: string;
  /** sha256 of each file the bootstrap uses, as stored in git at `ref`. */
  readonly sha256: Readonly<Record<string, string>>;
}

/** jitsi/docker-jitsi-meet stable-11146-2 (2026-08-17, commit 738058b44bc3029ea289bea180cd3838f702af8e). */
export const DOCKER_JITSI_MEET: UpstreamRelease = {
  ref: 'stable-11146-2',
  url: 'https://github.com/jitsi/docker-jitsi-meet/archive/refs/tags/stable-11146-2.tar.gz',
  sha256: {
    'docker-compose.yml': '14d0f5d3c9917175236f8dab52d6f5ef39ec720345ae0dabe952d4b47e50a06a',
    'jigasi.yml': 'e7d1243ff6055b85fba1e2d629e8bc45f73ad5a9f07a329bff8dfb58bb583b6b',
    'jibri.yml': '8ae54d9d576a81ff3992bcfed865954e98e9726d725ff43ddd46b5a7eeab1e11',
    'env.example': 'f630b6fa652358342029f3090c0d34083da4149dcef916a1411a7ea5dec09b8d',
    'gen-passwords.sh': '8bd1fcf96339341893e3a9bc2a5746988ae3b476686efe217c77ee0222f89f03',
  },
};

/** RocketChat/rocketchat-compose at main, 2026-06-08 (merge of PR #30). */
export const ROCKETCHAT_COMPOSE: UpstreamRelease = {
  ref: 'f693f76c0335e98ba214276e869f54e319220d20',
  url: 'https://github.com/RocketChat/rocketchat-compose/archive/f693f76c0335e98ba214276e869f54e319220d20.tar.gz',
  sha256: {
    'compose.yml': 'a55785df4b9b484c844786ad226fa589453842c0c27cbb522752c24841d61e85',
    'compose.database.yml': '6ecae8496bfba9d273742d97b1de921278dbfe6ffec40850ae328ab2fee47786',
    'compose.traefik.yml': '9482478e0b05293be77e28fc619b8f1713559255582b2922f1cde5efae026551',
  },
};

/** Asterisk 22 LTS (security fixes until 2029-10): andrius/asterisk, maintained, built for host networking. */
export const ASTERISK_IMAGE = 'andrius/asterisk:22.10.1_debian-trixie';

/** Official MongoDB image for mongodump (its database tools match the server's major version). */
export function mongoToolsImage(mongodbVersion: string): string {
  return `mongo:${mongodbVersion}`;
}

/** The manifest `sha256sum -c` reads on the host. */
export function manifest(release: UpstreamRelease): string {
  return Object.entries(release.sha256)
    .map(([file, sum]) => `${sum}  ${file}`)
    .join('\n')
    .concat('\n');
}
