export { isNewer } from './apply';
export {
  type ConsumerHooks,
  type ConsumerOptions,
  type EntryContext,
  StreamConsumer,
} from './consumer';
export { type ConsumerGroupInfo, consumerGroups } from './groups';
