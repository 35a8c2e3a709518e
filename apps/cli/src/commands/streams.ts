/**
 * `hsync streams` (what each stream holds and who still reads it) and `hsync streams detach` (the
 * operator's command for a consumer group whose application is gone). Admin keys only.
 */
import { DetachGroupRequest, type DetachGroupResponse } from '@historical-sync/contracts';
import { z } from 'zod';
import { CliError } from '../client';
import { defineCommand, printJson, printLines } from '../command';
import { shellWord } from '../format';
import { formatStreams } from '../format-streams';
import { formatCount } from '../progress';

export const streamsCommand = defineCommand({
  name: 'streams',
  summary: "the streams, their consumer groups and Redis's memory; warnings to act on",
  usage: 'streams',
  details: [
    "Redis's used and max memory, each stream's entries, memory and oldest entry a group has",
    'not acknowledged, with a warning under a stream no group reads or a stalled group holds;',
    "then each consumer group's lag, pending entries, idle time, and whether it is stalled.",
    '',
    'A stalled group whose application is gone: hsync streams detach <stream> <group> --yes',
  ],
  positionals: [],
  options: {},
  schema: z.object({}),
  run: async (context) => {
    const system = await context.client.call('getSystem');
    if (context.json) printJson(context, system);
    else printLines(context, formatStreams(system));
    return 0;
  },
});

export const streamsDetachCommand = defineCommand({
  name: 'streams detach',
  summary: 'detach a consumer group whose application is gone (needs --yes)',
  usage: 'streams detach <stream> <group> --yes',
  details: [
    'Removes the group from the stream. Retention never trims what a group has not read or',
    'acknowledged, so a group nobody reads any more holds its entries in Redis for good; once',
    'detached, those entries are trimmed like acknowledged ones, and the application cannot get',
    'them back (a sync would publish its state again). Prints what the group had not read.',
    '',
    '  --yes   detach: without it nothing is done',
  ],
  positionals: ['stream', 'group'],
  options: { yes: { type: 'boolean' } },
  schema: z.object({
    stream: DetachGroupRequest.shape.stream,
    group: DetachGroupRequest.shape.group,
    yes: z.boolean().default(false),
  }),
  run: async (context, args) => {
    if (!args.yes) {
      throw new CliError(
        `streams detach: refusing without --yes: once ${args.group} is detached, the entries of ` +
          `${args.stream} it has not read or acknowledged are trimmed, and its application can ` +
          'never read them. If its application is gone: ' +
          `hsync streams detach ${shellWord(args.stream)} ${shellWord(args.group)} --yes`,
      );
    }
    let detached: DetachGroupResponse;
    try {
      detached = await context.client.call('detachGroup', {
        body: { stream: args.stream, group: args.group },
      });
    } catch (error) {
      // The API names what it did not find; `hsync streams` lists what there is.
      if (error instanceof CliError && error.message.startsWith('API 404')) {
        throw new CliError(
          `${error.message}; hsync streams lists the streams and their groups`,
          error.body,
        );
      }
      throw error;
    }
    if (context.json) printJson(context, detached);
    else {
      const unread = detached.lag === null ? 'an unknown number of' : formatCount(detached.lag);
      printLines(context, [
        `detached ${detached.group} from ${detached.stream}`,
        `  it had ${formatCount(detached.pending)} pending (read, not acknowledged) and ${unread} unread entries;`,
        '  the worker now trims them like acknowledged ones, unless another group still needs them',
      ]);
    }
    return 0;
  },
});
