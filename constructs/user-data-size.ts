/**
 * The size EC2 will see of a host's user-data, computed at synthesis the way the cloudinit provider renders it
 * at apply time (hashicorp/terraform-provider-cloudinit internal/provider/cloudinit_config.go): a MIME multipart
 * document (Go's mime/multipart, boundary MIMEBOUNDARY), gzipped, then base64-encoded. EC2's limit applies to
 * the raw bytes: "User data is limited to 16 KB, in raw form, before it is base64-encoded"
 * (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-add-user-data.html), i.e. to the gzip.
 */
import { gzipSync } from 'node:zlib';

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
