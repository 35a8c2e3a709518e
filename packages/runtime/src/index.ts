export { loadSettingsOrExit, parseEnv, SettingsError } from './env';
export { createLogger, LogLevel, redactUrl } from './logger';
export { createMetricsRegistry, serveMetrics } from './metrics';
export {
  connectionCause,
  postgresCheck,
  probeRedis,
  redisCheck,
  requireReachable,
  type ServerCheck,
  serverAddress,
  unreachableMessage,
} from './reachable';
export { createRedis } from './redis';
export { evalScript, type Script, script } from './redis-script';
export { onStopSignal, STOP_SIGNALS } from './signals';
