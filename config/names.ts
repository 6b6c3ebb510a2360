/** Names an environment claims outside its own stack: DNS names, state location. Derived once, here. */
import type { EnvironmentConfig, Role } from './schema';

export function sipDomainOf(config: EnvironmentConfig): string {
  return [config.dns.subdomain, config.dns.domain].filter((p) => p !== '').join('.');
}

export function fqdnOf(config: EnvironmentConfig, role: Role): string {
  return [config.dns.hostNames[role], sipDomainOf(config)].join('.');
}

/** Key of the environment's state object in its S3 backend. */
export function stateKeyOf(config: EnvironmentConfig, state: { readonly key?: string }): string {
  return state.key ?? `weebeetalk/${config.name}/terraform.tfstate`;
}
