export { createLogger } from './logger';
export { createRedis } from './redis';
export { onStopSignal, STOP_SIGNALS } from './signals';
