/**
 * The write side of the wrapper (the spec's credit, organization and membership services). Each
 * write changes its row and records its event in the outbox in one transaction; the relay
 * publishes. Nothing here talks to Redis.
 */
import { getTenant } from '@historical-sync/backfill';
import type { CreditAllocation, Db, Entity, OrganizationMembership } from '@historical-sync/db';
import {
  addMembership,
  allocateCredits,
  createOrganization,
  deactivateAllocation,
  deleteOrganization,
  removeMembership,
  updateAllocation,
  updateOrganization,
} from '@historical-sync/domain';
import type { FastifyInstance } from 'fastify';
import { parseRequest } from '../http/parse';
import { OrgParams } from './schemas';
import {
  AddMembershipBody,
  AllocateCreditsBody,
  AllocationParams,
  CreateOrganizationBody,
  DeactivateAllocationBody,
  EntityParams,
  MembershipParams,
  UpdateAllocationBody,
  UpdateOrganizationBody,
} from './write-schemas';

const iso = (date: Date | null) => date?.toISOString() ?? null;

export const organizationView = (org: Entity) => ({
  id: org.id,
  tenantId: org.tenant_id,
  code: org.code,
  name: org.name,
  description: org.description,
  industry: org.industry,
  website: org.website,
  parentId: org.parent_id,
  isActive: org.is_active,
  version: org.version,
  createdAt: iso(org.created_at),
  updatedAt: iso(org.updated_at),
});

export const allocationView = (a: CreditAllocation) => ({
  id: a.id,
  tenantId: a.tenant_id,
  entityId: a.entity_id,
  targetApplication: a.target_application,
  amount: a.allocated_amount,
  availableCredits: a.available_credits,
  expiresAt: iso(a.expires_at),
  isActive: a.is_active,
  allocatedAt: iso(a.allocated_at),
  version: a.version,
  updatedAt: iso(a.updated_at),
});

export const membershipView = (m: OrganizationMembership) => ({
  id: m.id,
  tenantId: m.tenant_id,
  userId: m.user_id,
  organizationId: m.organization_id,
  role: m.role,
  isActive: m.is_active,
  version: m.version,
  createdAt: iso(m.created_at),
  updatedAt: iso(m.updated_at),
});

export function writeRoutes(app: FastifyInstance, deps: { db: Db }): void {
  const { db } = deps;
  const base = '/admin/organizations/:orgId';

  app.post(`${base}/organizations`, async (request, reply) => {
    const { orgId } = parseRequest(OrgParams, request.params, 'params');
    const body = parseRequest(CreateOrganizationBody, request.body, 'body');
    await getTenant(db, orgId);
    return reply.status(201).send(organizationView(await createOrganization(db, orgId, body)));
  });

  app.patch(`${base}/organizations/:entityId`, async (request) => {
    const { orgId, entityId } = parseRequest(EntityParams, request.params, 'params');
    const body = parseRequest(UpdateOrganizationBody, request.body, 'body');
    await getTenant(db, orgId);
    return organizationView(await updateOrganization(db, orgId, entityId, body));
  });

  app.delete(`${base}/organizations/:entityId`, async (request) => {
    const { orgId, entityId } = parseRequest(EntityParams, request.params, 'params');
    await getTenant(db, orgId);
    return organizationView(await deleteOrganization(db, orgId, entityId));
  });

  app.post(`${base}/credit-allocations`, async (request, reply) => {
    const { orgId } = parseRequest(OrgParams, request.params, 'params');
    const body = parseRequest(AllocateCreditsBody, request.body, 'body');
    await getTenant(db, orgId);
    return reply.status(201).send(allocationView(await allocateCredits(db, orgId, body)));
  });

  app.patch(`${base}/credit-allocations/:allocationId`, async (request) => {
    const { orgId, allocationId } = parseRequest(AllocationParams, request.params, 'params');
    const body = parseRequest(UpdateAllocationBody, request.body, 'body');
    await getTenant(db, orgId);
    return allocationView(await updateAllocation(db, orgId, allocationId, body));
  });

  app.post(`${base}/credit-allocations/:allocationId/deactivate`, async (request) => {
    const { orgId, allocationId } = parseRequest(AllocationParams, request.params, 'params');
    const body = parseRequest(DeactivateAllocationBody, request.body, 'body');
    await getTenant(db, orgId);
    return allocationView(await deactivateAllocation(db, orgId, allocationId, body.reason));
  });

  app.post(`${base}/memberships`, async (request, reply) => {
    const { orgId } = parseRequest(OrgParams, request.params, 'params');
    const body = parseRequest(AddMembershipBody, request.body, 'body');
    await getTenant(db, orgId);
    return reply.status(201).send(membershipView(await addMembership(db, orgId, body)));
  });

  app.delete(`${base}/memberships/:membershipId`, async (request) => {
    const { orgId, membershipId } = parseRequest(MembershipParams, request.params, 'params');
    await getTenant(db, orgId);
    return membershipView(await removeMembership(db, orgId, membershipId));
  });
}
