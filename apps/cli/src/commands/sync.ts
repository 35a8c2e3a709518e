/** `hsync sync`: a manual historical sync, or with --dry-run what it would publish. */
import { SyncBody } from '@historical-sync/contracts';
import { z } from 'zod';
import {
  appRef,
  defineCommand,
  intOption,
  printJson,
  printLines,
  sinceDate,
  tenantId,
} from '../command';
import { formatCount } from '../progress';

const SyncArgs = z
  .object({
    tenantId,
    app: appRef,
    'dry-run': z.boolean().default(false),
    since: sinceDate.optional(),
    'no-credits': z.boolean().default(false),
    'no-organizations': z.boolean().default(false),
    'no-memberships': z.boolean().default(false),
    // The API's bounds, so the mistake is reported before any request.
    'page-size': intOption(SyncBody.shape.pageSize.unwrap()).optional(),
    'max-events-per-second': intOption(SyncBody.shape.maxEventsPerSecond.unwrap()).optional(),
    partitions: intOption(SyncBody.shape.partitions.unwrap()).optional(),
  })
  .refine((args) => !(args['no-credits'] && args['no-organizations'] && args['no-memberships']), {
    error: 'leaves nothing to sync; drop one of --no-credits, --no-organizations, --no-memberships',
    path: ['no-memberships'],
  });

export const syncCommand = defineCommand({
  name: 'sync',
  summary: 'start a manual historical sync, or count what it would publish (--dry-run)',
  usage: 'sync <tenantId> <app> [options]',
  details: [
    'Starts a backfill run of the enabled application (or answers the run under way).',
    '',
    '  --dry-run                    print per-resource counts and the total; publish nothing',
    '  --since DATE                 only rows created since DATE (2024-07-01 or an ISO date-time)',
    '  --no-credits                 leave out credit allocations',
    '  --no-organizations           leave out organizations',
    '  --no-memberships             leave out memberships (assignments)',
    '  --page-size N                rows per page for this run (1-10000)',
    '  --max-events-per-second N    cap on this run publish rate',
    '  --partitions N               id-range partitions per resource, shared by workers (1-256)',
  ],
  positionals: ['tenantId', 'app'],
  options: {
    'dry-run': { type: 'boolean' },
    since: { type: 'string' },
    'no-credits': { type: 'boolean' },
    'no-organizations': { type: 'boolean' },
    'no-memberships': { type: 'boolean' },
    'page-size': { type: 'string' },
    'max-events-per-second': { type: 'string' },
    partitions: { type: 'string' },
  },
  schema: SyncArgs,
  run: async (context, args) => {
    const body: SyncBody = {
      syncCredits: !args['no-credits'],
      syncOrganizations: !args['no-organizations'],
      syncAssignments: !args['no-memberships'],
      dryRun: args['dry-run'],
      sinceDate: args.since ?? null,
      pageSize: args['page-size'],
      maxEventsPerSecond: args['max-events-per-second'],
      partitions: args.partitions,
    };
    const result = await context.client.call('syncHistorical', {
      params: { orgId: args.tenantId, appCode: args.app },
      body,
    });
    if (context.json) {
      printJson(context, result);
      return 0;
    }
    // The answer says which it is: a dry run's counts, or the run started (or under way).
    if ('dryRun' in result) {
      const since = result.sinceDate ? ` since ${result.sinceDate}` : '';
      printLines(context, [
        `dry run for ${result.appCode}${since} (nothing published):`,
        ...Object.entries(result.counts).map(
          ([resource, count]) => `  ${resource.padEnd(14)}${formatCount(count ?? 0)}`,
        ),
        `  ${'total'.padEnd(14)}${formatCount(result.total)}`,
      ]);
      return 0;
    }
    printLines(context, [
      result.created
        ? `run started (${result.status})`
        : `a run is already under way (${result.status}); no new run started`,
      `runId: ${result.runId}`,
      `follow it with: hsync status ${args.tenantId} ${args.app} --watch`,
    ]);
    return 0;
  },
});
