/**
 * cdktf captures a complete stack trace for every token it creates (an intrinsic's creationStack, used only to say
 * where a misused token came from): half the CPU of building and synthesizing both environments (5 of each: 1572 ms
 * with, 819 ms without). Its private helper is replaced by one that captures nothing, unless WBT_STACK_TRACES=1
 * (when debugging such an error). cdktf is pinned (0.21.0); if the module moves, this does nothing.
 */
export function skipTokenStackTraces(): void {
  if (process.env.WBT_STACK_TRACES === '1') return;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const traces = require('cdktf/lib/tokens/private/stack-trace') as { captureStackTrace: () => string[] };
    traces.captureStackTrace = () => [];
  } catch {
    // Not where 0.21 keeps it: the traces stay, synthesis is only slower.
  }
}
