/** `hsync enable` / `hsync disable`: the toggle route. */

import { z } from 'zod';
import { appRef, type Context, defineCommand, printJson, printLines, tenantId } from '../command';

async function toggle(
  context: Context,
  args: { tenantId: string; app: string },
  body: { isEnabled: boolean; skipHistoricalSync: boolean },
): Promise<number> {
  const result = await context.client.call('toggleApplication', {
    params: { orgId: args.tenantId, appId: args.app },
    body,
  });
  if (context.json) {
    printJson(context, result);
    return 0;
  }
  const state = result.isEnabled ? 'enabled' : 'disabled';
  const code = result.application.code;
  printLines(context, [
    `${code} ${result.changed ? 'is now' : 'was already'} ${state} for tenant ${result.tenantId}`,
    `runId: ${result.runId ?? 'none'}`,
    // Saves looking up how to follow the run that was just started.
    ...(result.runId ? [`follow it with: hsync status ${result.tenantId} ${code} --watch`] : []),
  ]);
  return 0;
}

export const enableCommand = defineCommand({
  name: 'enable',
  summary: 'enable an application for a tenant (starts a backfill run)',
  usage: 'enable <tenantId> <app> [--skip-historical-sync]',
  details: [
    '<app> is the application code (crm, hr, affiliate) or its id. Enabling a disabled',
    'application starts one backfill run and prints its runId; enabling an enabled one starts',
    'nothing.',
    '',
    '  --skip-historical-sync   enable without a backfill run',
  ],
  positionals: ['tenantId', 'app'],
  options: { 'skip-historical-sync': { type: 'boolean' } },
  schema: z.object({
    tenantId,
    app: appRef,
    'skip-historical-sync': z.boolean().default(false),
  }),
  run: (context, args) =>
    toggle(context, args, { isEnabled: true, skipHistoricalSync: args['skip-historical-sync'] }),
});

export const disableCommand = defineCommand({
  name: 'disable',
  summary: 'disable an application for a tenant (cancels its active run)',
  usage: 'disable <tenantId> <app>',
  details: ['<app> is the application code (crm, hr, affiliate) or its id.'],
  positionals: ['tenantId', 'app'],
  options: {},
  schema: z.object({ tenantId, app: appRef }),
  run: (context, args) => toggle(context, args, { isEnabled: false, skipHistoricalSync: false }),
});
