export { findFreePort } from './ports';
export { findPostgresBinDir, type RunningService, startPostgres } from './postgres';
export { findRedisServer, ping, startRedis } from './redis';
export { type RedisCluster, startRedisCluster } from './redis-cluster';
export { type LocalServices, type LocalServicesOptions, startLocalServices } from './services';
export { findWorkspaceRoot, localStateDir } from './state-dir';
