export { isNewer } from './apply';
export {
  type ConsumerHooks,
  type ConsumerOptions,
  type EntryContext,
  StreamConsumer,
} from './consumer';
export {
  type DeadLetter,
  deadLetteredInRun,
  type ReplayOptions,
  type ReplayResult,
  readDeadLetters,
  replayDeadLetters,
} from './dead-letters';
export { type ConsumerGroupInfo, consumerGroups } from './groups';
export { InfrastructureError, isInfrastructureError } from './outage';
