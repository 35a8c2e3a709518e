/** `hsync tenants`: the tenant directory, with each application's state. */
import { TenantListQuery } from '@historical-sync/contracts';
import { z } from 'zod';
import { defineCommand, printJson, printLines } from '../command';
import { formatTenants } from '../format';

export const tenantsCommand = defineCommand({
  name: 'tenants',
  summary: 'list tenants by name, each with its applications; --search filters',
  usage: 'tenants [--search TEXT] [--limit N] [--cursor C]',
  details: [
    'One line per tenant (name and id), then one per application: enabled or not, whether a',
    'sync is needed, and its latest run. A tenant key lists only its own tenant.',
    '',
    '  --search TEXT   a part of the name (any case) or the start of the id',
    '  --limit N       tenants per page, 1 to 100 (default 50)',
    '  --cursor C      the next page: the cursor the previous page printed',
  ],
  positionals: [],
  options: {
    search: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
  },
  schema: z.object({
    search: TenantListQuery.shape.q,
    limit: TenantListQuery.shape.limit.unwrap().optional(),
    cursor: TenantListQuery.shape.cursor,
  }),
  run: async (context, args) => {
    const page = await context.client.call('listTenants', {
      query: { q: args.search, limit: args.limit, cursor: args.cursor },
    });
    if (context.json) printJson(context, page);
    else {
      const flags: [string, string][] = [];
      if (args.search !== undefined) flags.push(['--search', args.search]);
      if (args.limit !== undefined) flags.push(['--limit', String(args.limit)]);
      printLines(context, formatTenants(page, flags));
    }
    return 0;
  },
});
