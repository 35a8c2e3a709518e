/** `hsync key-create`, `key-list`, `key-revoke`: API keys (these need an admin key). */

import { ApiKeyParams, type ApiKeyView, CreateApiKeyBody } from '@historical-sync/contracts';
import { z } from 'zod';
import { defineCommand, printJson, printLines, tenantId } from '../command';

const describeKey = (key: ApiKeyView) =>
  `${key.id}  ${key.prefix}…  ${key.scope === 'admin' ? 'admin' : `tenant ${key.tenantId}`}  ` +
  `"${key.name}"  created ${key.createdAt}${key.revokedAt ? `  revoked ${key.revokedAt}` : ''}`;

export const keyCreateCommand = defineCommand({
  name: 'key-create',
  summary: 'create an API key (tenant-scoped with --tenant, else platform admin)',
  usage: 'key-create --name <name> [--tenant <tenantId>]',
  details: [
    'Prints the key once: it is stored only as a digest and cannot be shown again.',
    '',
    '  --name <name>         who or what uses the key (1-100 characters)',
    '  --tenant <tenantId>   limit the key to this tenant; without it the key is an admin key',
  ],
  positionals: [],
  options: { name: { type: 'string' }, tenant: { type: 'string' } },
  schema: z.object({
    name: z.string({ error: 'is required' }).pipe(CreateApiKeyBody.shape.name),
    tenant: tenantId.optional(),
  }),
  run: async (context, args) => {
    const created = await context.client.call('createApiKey', {
      body: { name: args.name, tenantId: args.tenant ?? null },
    });
    if (context.json) printJson(context, created);
    else
      printLines(context, [
        describeKey(created),
        `key: ${created.key}`,
        'Store it now: it is not shown again.',
      ]);
    return 0;
  },
});

export const keyListCommand = defineCommand({
  name: 'key-list',
  summary: 'list API keys (never their secrets)',
  usage: 'key-list',
  details: [],
  positionals: [],
  options: {},
  schema: z.object({}),
  run: async (context) => {
    const { keys } = await context.client.call('listApiKeys');
    if (context.json) printJson(context, keys);
    else printLines(context, keys.length ? keys.map(describeKey) : ['no API keys']);
    return 0;
  },
});

export const keyRevokeCommand = defineCommand({
  name: 'key-revoke',
  summary: 'revoke an API key: its requests are refused from then on',
  usage: 'key-revoke <keyId>',
  details: ['<keyId> is the id key-create and key-list print.'],
  positionals: ['keyId'],
  options: {},
  schema: ApiKeyParams,
  run: async (context, args) => {
    const key = await context.client.call('revokeApiKey', { params: { keyId: args.keyId } });
    if (context.json) printJson(context, key);
    else printLines(context, [`revoked: ${describeKey(key)}`]);
    return 0;
  },
});
