/**
 * The size EC2 will see of a host's user-data, computed at synthesis the way the cloudinit provider renders it
 * at apply time (hashicorp/terraform-provider-cloudinit internal/provider/cloudinit_config.go): a MIME multipart
 * document (Go's mime/multipart, boundary MIMEBOUNDARY), gzipped, then base64-encoded. EC2's limit applies to
 * the raw bytes: "User data is limited to 16 KB, in raw form, before it is base64-encoded"
 * (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-add-user-data.html), i.e. to the gzip.
 */
import { gzipSync } from 'node:zlib';
import { Annotations } from 'cdktf';
import type { Construct } from 'constructs';
import type { HostUserData } from '../userdata/host-user-data';

/** EC2's user-data limit in bytes, before base64. */
export const USER_DATA_LIMIT_BYTES = 16 * 1024;

export interface UserDataPart {
  readonly filename: string;
  readonly contentType: string;
  /** As synthesized (Terraform template escapes `$${` and `%%{` are undone, as Terraform does before the provider renders). */
  readonly content: string;
}

/** The MIME document the provider writes: its header lines, then each part with Go's sorted, canonical headers. */
export function renderMultipart(parts: readonly UserDataPart[], boundary = 'MIMEBOUNDARY'): string {
  let out = `Content-Type: multipart/mixed; boundary="${boundary}"\nMIME-Version: 1.0\r\n\r\n`;
  parts.forEach((p, i) => {
    out += `${i === 0 ? '' : '\r\n'}--${boundary}\r\n`;
    out += `Content-Disposition: attachment; filename="${p.filename}"\r\nContent-Transfer-Encoding: 7bit\r\nContent-Type: ${p.contentType}\r\nMime-Version: 1.0\r\n\r\n`;
    out += p.content.replace(/\$\$\{/g, '${').replace(/%%\{/g, '%{');
  });
  return `${out}\r\n--${boundary}--\r\n`;
}

/**
 * Bytes of the gzipped document (what EC2 counts). zlib's level 6 stands in for Go's default level: the two
 * deflaters differ by a few bytes per kilobyte, hence the margin callers keep below the limit.
 */
export function userDataBytes(parts: readonly UserDataPart[]): number {
  return gzipSync(Buffer.from(renderMultipart(parts), 'utf8'), { level: 6 }).length;
}

/**
 * EC2 refuses user-data over 16 KB: found at apply, a replacement would fail with the old host already gone (and a
 * pool could launch no member). An error annotation over the limit, a warning within 5% of it.
 */
export function checkUserDataSize(scope: Construct, userData: HostUserData, what: string): void {
  // The same for any configuration: only a change of the bootstrap itself (userdata/scripts) can make it grow.
  const grows = 'trim the bootstrap (userdata/host-user-data.ts, userdata/scripts)';
  const parts = userData.config.partInput;
  if (!Array.isArray(parts)) return;
  const bytes = userDataBytes(parts.map((p): UserDataPart => ({ filename: p.filename ?? '', contentType: p.contentType ?? 'text/plain', content: p.content })));
  const text = `user-data of the ${what} is ${bytes} bytes gzipped, EC2's limit is ${USER_DATA_LIMIT_BYTES} bytes (raw, before base64)`;
  if (bytes > USER_DATA_LIMIT_BYTES) Annotations.of(scope).addError(`${text}: the instance could not be launched or replaced: ${grows}`);
  // zlib stands in for the provider's Go deflater at synthesis: keep 5% clear of the limit.
  else if (bytes > USER_DATA_LIMIT_BYTES * 0.95) Annotations.of(scope).addWarning(`${text}: within 5% of the limit: ${grows}`);
}
