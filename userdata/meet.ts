/** The meet host's bootstrap. */
import type { HostUserDataProps } from './host-user-data';
import { commonEnv, type RoleContext } from './context';

export function meetUserData(ctx: RoleContext): HostUserDataProps {
  return { env: commonEnv(ctx, 'meet'), steps: [] };
}
