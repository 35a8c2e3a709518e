export {
  type BatchResult,
  type Delivery,
  deliveries,
  OUTBOX_CHANNEL,
  OutboxRelay,
  type RelayOptions,
  UNRENDERABLE,
} from './relay';
