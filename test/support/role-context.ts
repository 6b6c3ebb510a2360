/** A role's builder context for staging as shipped, with plain private addresses (the unit tests of one builder). */
import { fqdnsOf, ssmRootOf } from '../../config/names';
import { loadEnvironment } from '../../config/load';
import { ROLES, type AnyRole, type Role } from '../../config/schema';
import type { RoleContext } from '../../userdata/context';
import { environmentFile } from './synth';

export const stagingConfig = loadEnvironment(environmentFile('staging'));

export const stagingContext = (role: AnyRole): RoleContext => ({
  config: stagingConfig,
  fqdn: fqdnsOf(stagingConfig, ROLES),
  privateIp: Object.fromEntries(ROLES.map((r, i) => [r, `10.20.0.${10 + i}`])) as Record<Role, string>,
  buckets: { recordings: 'r', uploads: 'u', backups: 'b' },
  ssmPrefix: `${ssmRootOf(stagingConfig)}/${role}`,
});
