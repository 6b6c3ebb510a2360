import type { EnvironmentFile } from '../load';
import production from './production';
import staging from './staging';

/** Every environment the app synthesizes, one stack each. Add a file and list it here. */
export const environments: readonly EnvironmentFile[] = [staging, production];
