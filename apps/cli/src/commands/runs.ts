/** `hsync run` (one run's progress), `hsync pause|resume|cancel` (run controls), `hsync retry`. */

import { z } from 'zod';
import { defineCommand, printJson, printLines, runId, tenantId } from '../command';
import { formatRun } from '../format';

const RunArgs = z.object({ tenantId, runId });
const runParams = (args: z.infer<typeof RunArgs>) => ({ orgId: args.tenantId, runId: args.runId });

export const runCommand = defineCommand({
  name: 'run',
  summary: "one run's progress",
  usage: 'run <tenantId> <runId>',
  details: ['<runId> is what enable and sync print.'],
  positionals: ['tenantId', 'runId'],
  options: {},
  schema: RunArgs,
  run: async (context, args) => {
    const run = await context.client.call('getRun', { params: runParams(args) });
    if (context.json) printJson(context, run);
    else printLines(context, [`${run.appCode} for tenant ${run.tenantId}`, ...formatRun(run)]);
    return 0;
  },
});

const CONTROLS = {
  pause: 'pause a queued or running run (its jobs wait without publishing)',
  resume: 'resume a paused run where it stopped',
  cancel: 'cancel a run that has not completed (final)',
} as const;

export const controlCommands = Object.entries(CONTROLS).map(([action, summary]) =>
  defineCommand({
    name: action,
    summary,
    usage: `${action} <tenantId> <runId>`,
    details: ['Prints the run with its new state. A transition the run does not allow is a 409.'],
    positionals: ['tenantId', 'runId'],
    options: {},
    schema: RunArgs,
    run: async (context, args) => {
      const run = await context.client.call(`${action as keyof typeof CONTROLS}Run`, {
        params: runParams(args),
      });
      if (context.json) printJson(context, run);
      else printLines(context, [`run ${run.runId} is now ${run.status}`, ...formatRun(run)]);
      return 0;
    },
  }),
);

export const retryCommand = defineCommand({
  name: 'retry',
  summary: 'retry a failed run from its checkpoints (after fixing what failed it)',
  usage: 'retry <tenantId> <runId>',
  details: [
    "The run's failed jobs start again where they stopped: rows already published are not",
    'published again. Only a failed run can be retried (409 otherwise).',
  ],
  positionals: ['tenantId', 'runId'],
  options: {},
  schema: RunArgs,
  run: async (context, args) => {
    const run = await context.client.call('retryRun', { params: runParams(args) });
    if (context.json) printJson(context, run);
    else printLines(context, [`run ${run.runId} retried: now ${run.status}`, ...formatRun(run)]);
    return 0;
  },
});
