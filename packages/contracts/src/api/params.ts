import { z } from 'zod';
import { TenantId } from './fields.js';

/** Every tenant-scoped route's `:orgId`: the tenant. */
export const OrgParams = z.object({ orgId: TenantId });
