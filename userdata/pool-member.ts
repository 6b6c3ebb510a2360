/**
 * pool-member.sh (userdata/scripts/pool-member.sh), run every 30 s by a systemd timer on every recorder and bridge:
 * one pass probes the local Jibri (busy or idle) and JVB (stress), publishes the pools' scaling metrics to
 * CloudWatch, and on a pool member also protects a busy recorder from scale-in and drains the member under its
 * termination lifecycle hook. The meet host runs it too, in publish-only mode, for its own Jibri and bridge.
 */
import { HOST_METRICS } from '../config/metrics';
import type { Pool } from '../config/schema';
import { drainHookOf, metricsNamespaceOf, poolGroupOf, POOL_METRICS } from '../config/names';
import type { BundleFile } from './bundle';
import type { RoleContext } from './context';
import { helperPath, POOL_STATE, ROLE_PATHS, UNITS } from './paths';
import { renderUnit, unitFile } from './systemd';

/** The helper's name (installed as helperPath(POOL_MEMBER_SCRIPT)); a bundle that runs it lists it in `scripts`. */
export const POOL_MEMBER_SCRIPT = 'pool-member';

/**
 * The local APIs it probes, all on 127.0.0.1 (compose publishes them there only): Jibri's public HTTP API (health:
 * GET /jibri/api/v1.0/health, `.status.busyStatus`) and internal one (POST /jibri/api/internal/v1.0/gracefulShutdown),
 * jitsi/jibri HttpApi.kt and InternalHttpApi.kt; JVB's private REST API (GET /colibri/stats, `.stress_level` and
 * `.conferences`; POST /colibri/shutdown {"graceful-shutdown": true}), jitsi-videobridge stable/jitsi-meet_11146
 * VideobridgeStatisticsShim.kt and Shutdown.java.
 */
export const POOL_APIS = { jibri: 'http://127.0.0.1:2222', jibriInternal: 'http://127.0.0.1:3333', jvb: 'http://127.0.0.1:8080' } as const;

/** What one host's pass does. */
export interface PoolMemberProps {
  /** The pool this host is a member of (drain, protection); none on the meet host. */
  readonly member?: Pool;
  /** Publish IdleRecorders for the local Jibri (a jibri member; the meet host with jitsi.jibri and the Jibri pool). */
  readonly publishJibri: boolean;
  /** Publish BridgeStress for the local JVB (a jvb member; the meet host with the JVB pool). */
  readonly publishJvb: boolean;
}

/**
 * Settings of pool-member.sh in config.env. Every name is always there (empty when it does not apply): the same
 * script reads them on the meet host and on both pools' members.
 */
export function poolMemberEnv(ctx: Pick<RoleContext, 'config'>, props: PoolMemberProps): Record<string, string> {
  const { config } = ctx;
  const member = props.member;
  return {
    WBT_POOL_MEMBER_TIMER: `${UNITS.poolMember}.timer`,
    WBT_POOL_STATE: POOL_STATE,
    WBT_METRICS_NAMESPACE: metricsNamespaceOf(config),
    WBT_METRIC_DIMENSION: POOL_METRICS.dimension,
    WBT_IDLE_RECORDERS_METRIC: POOL_METRICS.idleRecorders,
    WBT_BRIDGE_STRESS_METRIC: POOL_METRICS.bridgeStress,
    WBT_CONFERENCES_METRIC: HOST_METRICS.conferences,
    WBT_PARTICIPANTS_METRIC: HOST_METRICS.participants,
    WBT_PUBLISH_JIBRI_GROUP: props.publishJibri ? poolGroupOf(config, 'jibri') : '',
    WBT_PUBLISH_JVB_GROUP: props.publishJvb ? poolGroupOf(config, 'jvb') : '',
    WBT_JIBRI_API: POOL_APIS.jibri,
    WBT_JIBRI_INTERNAL_API: POOL_APIS.jibriInternal,
    WBT_JVB_API: POOL_APIS.jvb,
    // A member's own: its lifecycle hook, the compose service it drains, the uploader a recorder waits for.
    WBT_DRAIN_HOOK: member ? drainHookOf(config, member) : '',
    WBT_MEMBER_SERVICE: member ?? '',
    WBT_MEMBER_DIR: member ? ROLE_PATHS[member].dir : '',
    WBT_MEMBER_UNIT: member ? `${UNITS[member]}.service` : '',
    WBT_RECORDINGS_UPLOAD_SERVICE: member === 'jibri' ? `${UNITS.recordingsUpload}.service` : '',
  };
}

/**
 * The timer (every 30 s, from a minute after boot) and its oneshot service. Not tied to the data volume or Docker:
 * probing and publishing need neither, and a member has no data volume.
 */
export function poolMemberFiles(): BundleFile[] {
  return [
    unitFile(
      `${UNITS.poolMember}.service`,
      renderUnit({
        Unit: { Description: 'WeeBeeTalk: probe the local Jibri and JVB, publish the pools metrics, protect and drain', After: ['docker.service', 'network-online.target'] },
        // A pass is a few HTTP calls (the recordings' upload is a unit of its own). The timeout bounds a hung one, so
        // that a draining member's next pass, and its heartbeat, come well within the hook's heartbeat timeout.
        Service: { Type: 'oneshot', ExecStart: helperPath(POOL_MEMBER_SCRIPT), TimeoutStartSec: '2min' },
      }),
    ),
    unitFile(
      `${UNITS.poolMember}.timer`,
      renderUnit({
        Unit: { Description: 'WeeBeeTalk: the pools pass every 30 s (timer)' },
        Timer: { OnBootSec: '1min', OnUnitInactiveSec: '30s', AccuracySec: '1s' },
        Install: { WantedBy: 'timers.target' },
      }),
    ),
  ];
}

/**
 * The meet host's part (for userdata/meet/index.ts): publish its own Jibri's state when it is one of the recorders
 * the Jibri pool counts (jitsi.jibri with the pool), its bridge's stress with the JVB pool. `enabled` says whether
 * the hook should run the timer at all (`pool_member_timer` in config-lib.sh reads the same from config.env).
 */
export function meetPoolPublisher(ctx: Pick<RoleContext, 'config'>): { readonly env: Record<string, string>; readonly files: BundleFile[]; readonly scripts: string[]; readonly enabled: boolean } {
  const { jitsi } = ctx.config;
  const publishJibri = jitsi.jibri && jitsi.jibriPool.enabled;
  const publishJvb = jitsi.jvbPool.enabled;
  return { env: poolMemberEnv(ctx, { publishJibri, publishJvb }), files: poolMemberFiles(), scripts: [POOL_MEMBER_SCRIPT], enabled: publishJibri || publishJvb };
}
