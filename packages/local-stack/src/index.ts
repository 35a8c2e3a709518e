export {
  CHROMIUM_ARGS,
  CHROMIUM_INSTALL_HINT,
  type FindChromiumOptions,
  findChromium,
} from './chromium';
export { isAlive, readOwner } from './owner';
export { findFreePort } from './ports';
export { findPostgresBinDir, type RunningService, startPostgres } from './postgres';
export { type FindPromtoolOptions, findPromtool, PROMTOOL_INSTALL_HINT } from './promtool';
export { findRedisServer, ping, startRedis } from './redis';
export { type RedisCluster, startRedisCluster } from './redis-cluster';
export { type ReplicaOptions, startReplica, withLocalReplica } from './replica';
export { seededRandom } from './seeded-random';
export {
  type LocalServices,
  type LocalServicesOptions,
  type ServiceOrigin,
  startLocalServices,
} from './services';
export { findWorkspaceRoot, localStateDir } from './state-dir';
