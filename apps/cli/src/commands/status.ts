/** `hsync status`: the sync-status route, once or followed with --watch. */
import { z } from 'zod';
import { appRef, defineCommand, intOption, printJson, printLines, tenantId } from '../command';
import { formatStatus } from '../format';
import { watchStatus } from '../watch';

export const statusCommand = defineCommand({
  name: 'status',
  summary: "an application's sync status; --watch follows the latest run to its end",
  usage: 'status <tenantId> <app> [--watch] [--interval-ms N]',
  details: [
    'Prints whether the application is enabled, the counts it should hold, whether a sync is',
    'needed, the outbox backlog and the latest run with per-resource progress.',
    '',
    '  --watch           follow the latest run (progress bar, events/s, ETA) until it is',
    '                    completed (exit 0), failed or cancelled (exit 1)',
    '  --interval-ms N   time between polls with --watch (default 1000)',
  ],
  positionals: ['tenantId', 'app'],
  options: { watch: { type: 'boolean' }, 'interval-ms': { type: 'string' } },
  schema: z.object({
    tenantId,
    app: appRef,
    watch: z.boolean().default(false),
    'interval-ms': intOption([100, 60_000]).default(1000),
  }),
  run: async (context, args) => {
    const params = { orgId: args.tenantId, appCode: args.app };
    const fetchStatus = () => context.client.call('getSyncStatus', { params });
    if (args.watch) return watchStatus(context, fetchStatus, args['interval-ms']);
    const status = await fetchStatus();
    if (context.json) printJson(context, status);
    else printLines(context, formatStatus(status));
    return 0;
  },
});
