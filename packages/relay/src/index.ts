export {
  type BatchResult,
  deliveries,
  OUTBOX_CHANNEL,
  OutboxRelay,
  type RelayOptions,
} from './relay';
