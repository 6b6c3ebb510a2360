/**
 * The Jibri pool: recorders on Auto Scaling, one meeting each at a time, joining the meet host's Prosody over the
 * VPC; each uploads its recordings to the recordings bucket itself, protects itself from scale-in while it records
 * and drains under a termination lifecycle hook. Nothing reaches a member from outside. Bootstrap: userdata/jibri/.
 */
import { metricsNamespaceOf, poolGroupOf, POOL_METRICS } from '../../config/names';
import type { AutoscalingPolicyStepAdjustment } from '@cdktf/provider-aws/lib/autoscaling-policy';
import { roleRules } from './ports';
import { jibriBundle } from '../../userdata/jibri';
import type { PoolSpec } from './spec';

export const jibri: PoolSpec = {
  pool: 'jibri',
  // Nothing inbound: Jibri calls out to Prosody and to the meeting's web page, and its APIs stay on 127.0.0.1.
  ports: () => roleRules('jibri', () => undefined),
  // The recorder's two accounts on meet's Prosody: the meet host's parameters (it registers them), read by the pool too.
  secrets: (_config, secrets) => {
    secrets.add({
      id: 'jibri-xmpp',
      description: "Jibri's XMPP account on Prosody (the recorders' control connection), shared by the meet host and the Jibri pool",
      path: 'meet/jibri-xmpp-password',
      readers: ['jibri'],
    });
    secrets.add({
      id: 'jibri-recorder',
      description: "Jibri's hidden recorder account on Prosody (joins the meetings it records), shared by the meet host and the Jibri pool",
      path: 'meet/jibri-recorder-password',
      readers: ['jibri'],
    });
  },
  grants: ({ role, buckets }) => buckets.recordings.grantPut(role),
  selfProtecting: true,
  bundle: jibriBundle,
  // Hold `idle` recorders ready: each recorder says 1 (idle) or 0 (busy) once a minute, so the minute's Sum is the
  // number idle. Too few for 2 minutes adds the missing ones at once; too many for 10 minutes removes one (a busy
  // member is protected from scale-in, so an idle one goes).
  scale: (config, pool) => {
    const { idle } = config.jitsi.jibriPool;
    const metric = {
      namespace: metricsNamespaceOf(config),
      name: POOL_METRICS.idleRecorders,
      dimensions: { [POOL_METRICS.dimension]: poolGroupOf(config, 'jibri') },
      statistic: 'Sum' as const,
    };
    if (idle > 0)
      pool.addStepScaling({
        id: 'too-few-idle',
        description: `Fewer than ${idle} idle recorders (the meet host's own Jibri counts): add the missing ones`,
        metric,
        comparison: 'LessThanThreshold',
        // Half a recorder below the target: the Sum is whole, and missingRecorders' steps are exact against it.
        threshold: idle - 0.5,
        minutes: 2,
        // No recorder publishing at all (none idle, none busy): none is running, so none is idle.
        treatMissingData: 'breaching',
        steps: missingRecorders(idle),
      });
    pool.addStepScaling({
      id: 'too-many-idle',
      description: `More than ${idle} idle recorders for 10 minutes: remove one`,
      metric,
      comparison: 'GreaterThanThreshold',
      threshold: idle,
      minutes: 10,
      treatMissingData: 'notBreaching',
      steps: [{ metricIntervalLowerBound: '0', scalingAdjustment: -1 }],
    });
  },
};

/**
 * Steps that add exactly the missing recorders against the threshold idle - 0.5: with k of `idle` recorders idle the
 * metric is k - idle + 0.5 from it. Below a threshold AWS takes a step's lower bound as exclusive and its upper bound
 * as inclusive (StepAdjustment), so (-1, 0] adds 1, (-2, -1] adds 2, ..., and everything lower adds `idle`.
 */
export function missingRecorders(idle: number): AutoscalingPolicyStepAdjustment[] {
  return Array.from({ length: idle }, (_, i) => ({
    ...(i + 1 < idle ? { metricIntervalLowerBound: String(-(i + 1)) } : {}),
    metricIntervalUpperBound: String(-i),
    scalingAdjustment: i + 1,
  }));
}
