/**
 * Every migration, in order. Listed statically (not read from the folder at run time) so that
 * they load the same way under tsx, vitest and any bundler.
 */
import type { Migration } from 'kysely';
import * as wrapperSchema from './2026-11-26T00-00_wrapper-schema';
import * as backfillRuns from './2026-11-26T01-00_backfill-runs';
import * as outbox from './2026-11-26T02-00_outbox';
import * as runThrottle from './2026-11-26T03-00_run-throttle';
import * as runPartitions from './2026-11-26T04-00_run-partitions';
import * as apiKeys from './2026-11-26T05-00_api-keys';
import * as outboxFailed from './2026-11-26T06-00_outbox-failed';
import * as runControlSeq from './2026-11-27T00-00_run-control-seq';
import * as capture from './2026-11-27T01-00_capture';
import * as consoleListings from './2026-11-27T02-00_console-listings';
import * as sourceThrottle from './2026-11-27T03-00_source-throttle';
import * as captureAlways from './2026-11-28T00-00_capture-always';
import * as creditAmountsExact from './2026-11-28T01-00_credit-amounts-exact';
import * as verifications from './2026-11-29T00-00_verifications';
import * as repairRuns from './2026-12-05T00-00_repair-runs';
import * as captureFromDefinitions from './2026-12-05T01-00_capture-from-definitions';
import * as registeredResources from './2026-12-05T02-00_registered-resources';

export const migrations: Record<string, Migration> = {
  '2026-11-26T00-00_wrapper-schema': wrapperSchema,
  '2026-11-26T01-00_backfill-runs': backfillRuns,
  '2026-11-26T02-00_outbox': outbox,
  '2026-11-26T03-00_run-throttle': runThrottle,
  '2026-11-26T04-00_run-partitions': runPartitions,
  '2026-11-26T05-00_api-keys': apiKeys,
  '2026-11-26T06-00_outbox-failed': outboxFailed,
  '2026-11-27T00-00_run-control-seq': runControlSeq,
  '2026-11-27T01-00_capture': capture,
  '2026-11-27T02-00_console-listings': consoleListings,
  '2026-11-27T03-00_source-throttle': sourceThrottle,
  '2026-11-28T00-00_capture-always': captureAlways,
  '2026-11-28T01-00_credit-amounts-exact': creditAmountsExact,
  '2026-11-29T00-00_verifications': verifications,
  '2026-12-05T00-00_repair-runs': repairRuns,
  '2026-12-05T01-00_capture-from-definitions': captureFromDefinitions,
  '2026-12-05T02-00_registered-resources': registeredResources,
};
