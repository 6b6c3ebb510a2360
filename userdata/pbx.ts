/** The pbx host's bootstrap. */
import type { HostUserDataProps } from './host-user-data';
import { commonEnv, type RoleContext } from './context';

export function pbxUserData(ctx: RoleContext): HostUserDataProps {
  return { env: commonEnv(ctx, 'pbx'), steps: [] };
}
