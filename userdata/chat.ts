/** The chat host's bootstrap. */
import type { HostUserDataProps } from './host-user-data';
import { commonEnv, type RoleContext } from './context';

export function chatUserData(ctx: RoleContext): HostUserDataProps {
  return { env: commonEnv(ctx, 'chat'), steps: [] };
}
