/** The cdktf app: one stack per environment, named after it (`cdktf deploy staging`). */
import { Annotations, App } from 'cdktf';
import { runEntryPoint, synthesizeOrFail } from './config/entry';
import { loadEnvironments } from './config/files';
import { configWarnings } from './config/warnings';
import { WeeBeeTalkStack } from './constructs/weebeetalk-stack';

export interface BuildOptions {
  /** Folder of environment files. @default $WEEBEETALK_ENVIRONMENTS_DIR, else config/environments */
  readonly dir?: string;
  /** The day of synthesis (Rocket.Chat support windows). @default now */
  readonly now?: Date;
}

/**
 * Synthesis needs no Terraform: cdktf's own validations would run `terraform version` for every terraform_data
 * resource (and fail on a machine without it, e.g. a fresh Debian, which does not package Terraform). The version
 * the plan needs is declared in it instead (required_version, constructs/weebeetalk-stack.ts), for Terraform to check.
 */
export const APP_OPTIONS = { skipValidation: true } as const;

/**
 * cdktf captures a complete stack trace for every token it creates (an intrinsic's creationStack, used only to say
 * where a misused token came from): three quarters of building the stacks (10 builds of both environments: 4.1 s
 * with, 1.0 s without). Its private helper is replaced by one that captures nothing, unless WBT_STACK_TRACES=1
 * (when debugging such an error). cdktf is pinned (0.21.0); if the module moves, this does nothing.
 */
function skipTokenStackTraces(): void {
  if (process.env.WBT_STACK_TRACES === '1') return;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const traces = require('cdktf/lib/tokens/private/stack-trace') as { captureStackTrace: () => string[] };
    traces.captureStackTrace = () => [];
  } catch {
    // Not where 0.21 keeps it: the traces stay, synthesis is only slower.
  }
}

export function buildApp(app: App = new App(APP_OPTIONS), options: BuildOptions = {}): App {
  // tsx's source maps make Node map every frame of a stack trace cdktf still captures (a third of the synthesis).
  // Stack traces then point at tsx's output, which keeps the lines; WBT_SOURCE_MAPS=1 maps them again (for debugging
  // a crash in the app).
  if (process.env.WBT_SOURCE_MAPS !== '1') process.setSourceMapsEnabled(false);
  skipTokenStackTraces();
  for (const env of loadEnvironments(options.dir, options.now)) {
    const stack = new WeeBeeTalkStack(app, env.config.name, { config: env.config });
    for (const w of configWarnings(env.config, options.now)) Annotations.of(stack).addWarning(`${env.path}: ${w}`);
  }
  return app;
}

if (require.main === module) runEntryPoint('synth', () => synthesizeOrFail(() => buildApp()), { viaCdktfCli: true });
