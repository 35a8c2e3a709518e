import { z } from 'zod';
import { eventBase, isoDateTime, metadataBase, uuid } from './common.js';

/** An organization's full state: published on creation and by the backfill. */
export const OrgCreatedEvent = z.object({
  ...eventBase,
  eventType: z.literal('org.created'),
  /** The organization's id. */
  entityId: uuid,
  code: z.string().min(1),
  name: z.string().min(1),
  description: z.string().nullable(),
  industry: z.string().nullable(),
  website: z.string().nullable(),
  parentId: uuid.nullable(),
  isActive: z.boolean(),
  metadata: z.object({
    ...metadataBase,
    originalCreatedAt: isoDateTime,
  }),
});
export type OrgCreatedEvent = z.infer<typeof OrgCreatedEvent>;
