/** The cdktf app: one stack per environment, named after it (`cdktf deploy staging`). */
import { Annotations, App } from 'cdktf';
import { runEntryPoint, synthesizeOrFail } from './config/entry';
import { loadEnvironments } from './config/files';
import { configWarnings } from './config/warnings';
import { skipTokenStackTraces } from './constructs/stack-traces';
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
