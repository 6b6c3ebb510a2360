/**
 * Where an environment keeps its Terraform state: an S3 object with S3-native locking when `state` is
 * configured, else a local file beside the project.
 */
import { Construct } from 'constructs';
import { LocalBackend, S3Backend, TerraformStack } from 'cdktf';
import { stateKeyOf } from '../config/names';
import type { EnvironmentConfig } from '../config/schema';

export interface StateBackendProps {
  readonly config: EnvironmentConfig;
}

export class StateBackend extends Construct {
  constructor(scope: Construct, id: string, props: StateBackendProps) {
    super(scope, id);
    const { config } = props;
    // Backends belong to the stack (one per stack, not an addressable resource): declared on it.
    const stack = TerraformStack.of(this);
    if (config.state) {
      new S3Backend(stack, {
        bucket: config.state.bucket,
        key: stateKeyOf(config, config.state),
        region: config.state.region,
        encrypt: true,
        kmsKeyId: config.state.kmsKeyId,
      });
      // S3-native locking (Terraform >= 1.10); cdktf 0.21's S3Backend does not know the option yet.
      stack.addOverride('terraform.backend.s3.use_lockfile', true);
    } else {
      // Local state beside the project (relative to cdktf.out/stacks/<env>), never an absolute path in the plan.
      new LocalBackend(stack, { path: `../../../terraform.${config.name}.tfstate` });
    }
  }
}
