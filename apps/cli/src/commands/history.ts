/** `hsync runs`: the run history across tenants, newest first, filtered, a page at a time. */
import { RUN_STATUSES, RunListQuery } from '@historical-sync/contracts';
import { z } from 'zod';
import { appRef, defineCommand, printJson, printLines, tenantId } from '../command';
import { formatRunList } from '../format';

export const runsCommand = defineCommand({
  name: 'runs',
  summary: 'list runs, newest first; filter by tenant, application and status',
  usage: 'runs [--tenant ID] [--app CODE] [--status S] [--limit N] [--cursor C]',
  details: [
    'One line per run: created, state, tenant, application, progress, run id. The last line',
    'gives the command for the next page when there is one.',
    '',
    '  --tenant ID     only this tenant (a tenant key always sees only its own)',
    '  --app CODE      only this application',
    `  --status S      only runs in this state: ${RUN_STATUSES.join(', ')}`,
    '  --limit N       runs per page, 1 to 100 (default 25)',
    '  --cursor C      the next page: the cursor the previous page printed',
  ],
  positionals: [],
  options: {
    tenant: { type: 'string' },
    app: { type: 'string' },
    status: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
  },
  schema: z.object({
    tenant: tenantId.optional(),
    app: appRef.optional(),
    status: z.enum(RUN_STATUSES, { error: `must be one of ${RUN_STATUSES.join(', ')}` }).optional(),
    limit: RunListQuery.shape.limit.unwrap().optional(),
    cursor: RunListQuery.shape.cursor,
  }),
  run: async (context, args) => {
    const page = await context.client.call('listRuns', {
      query: {
        tenantId: args.tenant,
        appCode: args.app,
        status: args.status,
        limit: args.limit,
        cursor: args.cursor,
      },
    });
    if (context.json) printJson(context, page);
    else {
      const flags: [string, string][] = [];
      if (args.tenant !== undefined) flags.push(['--tenant', args.tenant]);
      if (args.app !== undefined) flags.push(['--app', args.app]);
      if (args.status !== undefined) flags.push(['--status', args.status]);
      if (args.limit !== undefined) flags.push(['--limit', String(args.limit)]);
      printLines(context, formatRunList(page, flags));
    }
    return 0;
  },
});
