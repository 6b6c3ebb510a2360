/**
 * The JVB pool: video bridges on Auto Scaling beside the meet host's own, joining its Prosody over the VPC, so that
 * Jicofo spreads the conferences over them; each advertises its public address (from instance metadata) and takes
 * media on UDP 10000. A bridge drains (graceful shutdown) under a termination lifecycle hook. Bootstrap: userdata/jvb/.
 */
import { metricsNamespaceOf, poolGroupOf, POOL_METRICS } from '../../config/names';
import { roleRules, WORLD_PEER } from './ports';
import { jvbBundle } from '../../userdata/jvb';
import type { PoolSpec } from './spec';

export const jvb: PoolSpec = {
  pool: 'jvb',
  ports: () =>
    roleRules('jvb', (add) => {
      add('jvb', 'udp', 10000, 10000, [WORLD_PEER], 'Jitsi Videobridge media of a pool bridge (RTP over UDP)');
    }),
  secrets: (_config, secrets) =>
    secrets.add({ id: 'jvb-xmpp', description: "The video bridges' XMPP account on Prosody, shared by the meet host and the JVB pool", path: 'meet/jvb-auth-password', readers: ['jvb'] }),
  selfProtecting: false,
  bundle: jvbBundle,
  // JVB's stress_level (what Jicofo itself balances on) averaged over every bridge, the meet host's own among them:
  // a bridge more when the average stays high for 3 minutes, one less when it stays low for 15.
  scale: (config, pool) => {
    const p = config.jitsi.jvbPool;
    const metric = {
      namespace: metricsNamespaceOf(config),
      name: POOL_METRICS.bridgeStress,
      dimensions: { [POOL_METRICS.dimension]: poolGroupOf(config, 'jvb') },
      statistic: 'Average' as const,
    };
    pool.addStepScaling({
      id: 'stressed',
      description: `Average bridge stress above ${p.scaleOutStress} for 3 minutes: add a bridge`,
      metric,
      comparison: 'GreaterThanThreshold',
      threshold: p.scaleOutStress,
      minutes: 3,
      treatMissingData: 'notBreaching',
      steps: [{ metricIntervalLowerBound: '0', scalingAdjustment: 1 }],
    });
    pool.addStepScaling({
      id: 'unstressed',
      description: `Average bridge stress below ${p.scaleInStress} for 15 minutes: a bridge drains and goes`,
      metric,
      comparison: 'LessThanThreshold',
      threshold: p.scaleInStress,
      minutes: 15,
      treatMissingData: 'notBreaching',
      steps: [{ metricIntervalUpperBound: '0', scalingAdjustment: -1 }],
    });
  },
};
