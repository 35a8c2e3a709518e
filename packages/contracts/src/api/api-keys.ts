/** API keys (admin only): create (the secret is in that one answer), list, revoke. */
import { z } from 'zod';
import { IsoInstant, storableText, Uuid } from './fields.js';

export const CreateApiKeyBody = z.strictObject({
  /** A label for people: who or what uses the key. */
  name: storableText(100),
  /** The tenant the key is limited to; omitted or null for a platform-admin key. */
  tenantId: Uuid.nullable().default(null),
});
export const ApiKeyParams = z.object({ keyId: Uuid });

export const ApiKeyView = z.object({
  id: Uuid,
  name: z.string(),
  /** The key's first characters, to recognise it by. */
  prefix: z.string(),
  scope: z.enum(['admin', 'tenant']),
  tenantId: Uuid.nullable(),
  createdAt: IsoInstant,
  revokedAt: IsoInstant.nullable(),
});
export type ApiKeyView = z.infer<typeof ApiKeyView>;

/** The created key: the only answer that carries its secret. */
export const CreatedApiKey = ApiKeyView.extend({ key: z.string() });
export type CreatedApiKey = z.infer<typeof CreatedApiKey>;

export const ApiKeyList = z.object({ keys: z.array(ApiKeyView) });
export type ApiKeyList = z.infer<typeof ApiKeyList>;
