/** The write routes (the credit, organization and membership services): bodies and rows. */
import { z } from 'zod';
import { Instant, IsoInstant, optionalStorableText, storableText, Uuid } from './fields.js';
import { OrgParams } from './params.js';

const credits = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const nonEmpty = (body: object) => Object.keys(body).length > 0;

export const EntityParams = OrgParams.extend({ entityId: Uuid });
export const AllocationParams = OrgParams.extend({ allocationId: Uuid });
export const MembershipParams = OrgParams.extend({ membershipId: Uuid });

export const CreateOrganizationBody = z.strictObject({
  code: storableText(100),
  name: storableText(200),
  description: optionalStorableText(2000),
  industry: optionalStorableText(200),
  website: optionalStorableText(500),
  parentId: Uuid.nullable().optional(),
});

export const UpdateOrganizationBody = CreateOrganizationBody.partial().refine(nonEmpty, {
  error: 'give at least one field to change',
});

export const AllocateCreditsBody = z.strictObject({
  entityId: Uuid,
  targetApplication: storableText(64),
  amount: credits,
  availableCredits: credits.optional(),
  expiresAt: Instant.nullable().optional(),
});

export const UpdateAllocationBody = z
  .strictObject({
    amount: credits.optional(),
    availableCredits: credits.optional(),
    expiresAt: Instant.nullable().optional(),
  })
  .refine(nonEmpty, { error: 'give at least one field to change' });

export const DeactivateAllocationBody = z.strictObject({
  reason: z.enum(['deactivated', 'expired']).default('deactivated'),
});

export const AddMembershipBody = z.strictObject({
  userId: Uuid,
  organizationId: Uuid,
  role: storableText(100),
});

export const OrganizationView = z.object({
  id: Uuid,
  tenantId: Uuid,
  code: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  industry: z.string().nullable(),
  website: z.string().nullable(),
  parentId: Uuid.nullable(),
  isActive: z.boolean(),
  version: z.number().int(),
  createdAt: IsoInstant,
  updatedAt: IsoInstant,
});
export type OrganizationView = z.infer<typeof OrganizationView>;

export const AllocationView = z.object({
  id: Uuid,
  tenantId: Uuid,
  entityId: Uuid,
  targetApplication: z.string(),
  amount: z.number().int(),
  availableCredits: z.number().int(),
  expiresAt: IsoInstant.nullable(),
  isActive: z.boolean(),
  allocatedAt: IsoInstant,
  version: z.number().int(),
  updatedAt: IsoInstant,
});
export type AllocationView = z.infer<typeof AllocationView>;

export const MembershipView = z.object({
  id: Uuid,
  tenantId: Uuid,
  userId: Uuid,
  organizationId: Uuid,
  role: z.string(),
  isActive: z.boolean(),
  version: z.number().int(),
  createdAt: IsoInstant,
  updatedAt: IsoInstant,
});
export type MembershipView = z.infer<typeof MembershipView>;
