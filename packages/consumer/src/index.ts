export { isNewer } from './apply.js';
export {
  type ConsumerHooks,
  type ConsumerOptions,
  type EntryContext,
  StreamConsumer,
} from './consumer.js';
export {
  type DeadLetter,
  deadLetteredInRun,
  type ReplayOptions,
  type ReplayResult,
  readDeadLetters,
  replayDeadLetters,
} from './dead-letters.js';
export { type ConsumerGroupInfo, consumerGroups } from './groups.js';
export {
  classifyFailure,
  type FailureKind,
  InfrastructureError,
  isInfrastructureError,
} from './outage.js';
export {
  digestRows,
  rowHash,
  type StoredRow,
  startVerifyResponder,
  VERIFY_GROUP,
  type VerifyForgetQuery,
  type VerifyResponder,
  type VerifyResponderHooks,
  type VerifyResponderOptions,
  type VerifyRowsQuery,
} from './verify.js';
