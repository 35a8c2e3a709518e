/** Request schemas of the write routes (the credit, organization and membership services). */
import { z } from 'zod';
import { FOUR_DIGIT_YEARS, inFourDigitYears, OrgParams } from './schemas';

const id = z.guid({ error: 'must be a UUID' });
/**
 * Text Postgres stores as sent: it refuses NUL in text (a 500 before this check), and would
 * store an unpaired surrogate as U+FFFD, silently changing the value.
 */
const storable = (value: string) => !value.includes('\u0000') && !/\p{Cs}/u.test(value);
const STORABLE = { error: 'must not contain NUL characters or unpaired surrogates' };
/** Required text of at most `max` characters that Postgres stores exactly as sent. */
export const text = (max: number) => z.string().trim().min(1).max(max).refine(storable, STORABLE);
const optionalText = (max: number) =>
  z.string().max(max).refine(storable, STORABLE).nullable().optional();
const credits = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const instant = z.iso
  .datetime({ offset: true, error: 'must be an ISO-8601 date-time, e.g. 2025-12-31T00:00:00Z' })
  .transform((value) => new Date(value))
  .refine(inFourDigitYears, FOUR_DIGIT_YEARS);
const nonEmpty = (body: object) => Object.keys(body).length > 0;

export const EntityParams = OrgParams.extend({ entityId: id });
export const AllocationParams = OrgParams.extend({ allocationId: id });
export const MembershipParams = OrgParams.extend({ membershipId: id });

export const CreateOrganizationBody = z.strictObject({
  code: text(100),
  name: text(200),
  description: optionalText(2000),
  industry: optionalText(200),
  website: optionalText(500),
  parentId: id.nullable().optional(),
});

export const UpdateOrganizationBody = CreateOrganizationBody.partial().refine(nonEmpty, {
  error: 'give at least one field to change',
});

export const AllocateCreditsBody = z.strictObject({
  entityId: id,
  targetApplication: text(64),
  amount: credits,
  availableCredits: credits.optional(),
  expiresAt: instant.nullable().optional(),
});

export const UpdateAllocationBody = z
  .strictObject({
    amount: credits.optional(),
    availableCredits: credits.optional(),
    expiresAt: instant.nullable().optional(),
  })
  .refine(nonEmpty, { error: 'give at least one field to change' });

export const DeactivateAllocationBody = z.strictObject({
  reason: z.enum(['deactivated', 'expired']).default('deactivated'),
});

export const AddMembershipBody = z.strictObject({
  userId: id,
  organizationId: id,
  role: text(100),
});
