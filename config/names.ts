/** Names an environment claims outside its own stack: DNS names, state location. Derived once, here. */
import type { EnvironmentConfig, Role } from './schema';

export function sipDomainOf(config: EnvironmentConfig): string {
  return [config.dns.subdomain, config.dns.domain].filter((p) => p !== '').join('.');
}

export function fqdnOf(config: EnvironmentConfig, role: Role): string {
  return [config.dns.hostNames[role], sipDomainOf(config)].join('.');
}

/** Key of the state object in the S3 backend. */
export function stateKeyOf(config: EnvironmentConfig): string | undefined {
  return config.state ? (config.state.key ?? `weebeetalk/${config.name}/terraform.tfstate`) : undefined;
}
