/**
 * The write side of the wrapper (the spec's credit, organization and membership services). Each
 * write changes its row and records its event in the outbox in one transaction; the relay
 * publishes. Nothing here talks to Redis.
 */
import { getTenant } from '@historical-sync/backfill';
import {
  type AllocationView,
  type MembershipView,
  type OrganizationView,
  ROUTES,
} from '@historical-sync/contracts';
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
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponses, KEYED, WITH_BODY } from '../http/responses';

const iso = (date: Date | null) => date?.toISOString() ?? null;

export const organizationView = (org: Entity): OrganizationView => ({
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
  createdAt: org.created_at.toISOString(),
  updatedAt: org.updated_at.toISOString(),
});

export const allocationView = (a: CreditAllocation): AllocationView => ({
  id: a.id,
  tenantId: a.tenant_id,
  entityId: a.entity_id,
  targetApplication: a.target_application,
  amount: a.allocated_amount,
  availableCredits: a.available_credits,
  expiresAt: iso(a.expires_at),
  isActive: a.is_active,
  allocatedAt: a.allocated_at.toISOString(),
  version: a.version,
  updatedAt: a.updated_at.toISOString(),
});

export const membershipView = (m: OrganizationMembership): MembershipView => ({
  id: m.id,
  tenantId: m.tenant_id,
  userId: m.user_id,
  organizationId: m.organization_id,
  role: m.role,
  isActive: m.is_active,
  version: m.version,
  createdAt: m.created_at.toISOString(),
  updatedAt: m.updated_at.toISOString(),
});

export function writeRoutes(scope: FastifyInstance, deps: { db: Db }): void {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const { db } = deps;

  app.post(
    ROUTES.createOrganization.path,
    {
      schema: {
        summary: 'Create an organization (org.created)',
        tags: ['writes'],
        params: ROUTES.createOrganization.params,
        body: ROUTES.createOrganization.body,
        response: {
          201: ROUTES.createOrganization.response[201].describe('the row as stored'),
          ...errorResponses(...KEYED, ...WITH_BODY, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const { orgId } = request.params;
      await getTenant(db, orgId);
      const created = await createOrganization(db, orgId, request.body);
      return reply.status(201).send(organizationView(created));
    },
  );

  app.patch(
    ROUTES.updateOrganization.path,
    {
      schema: {
        summary: 'Update an organization (org.updated)',
        tags: ['writes'],
        params: ROUTES.updateOrganization.params,
        body: ROUTES.updateOrganization.body,
        response: {
          200: ROUTES.updateOrganization.response[200].describe('the row after the change'),
          ...errorResponses(...KEYED, ...WITH_BODY, 404, 409),
        },
      },
    },
    async (request) => {
      const { orgId, entityId } = request.params;
      await getTenant(db, orgId);
      return organizationView(await updateOrganization(db, orgId, entityId, request.body));
    },
  );

  app.delete(
    ROUTES.deleteOrganization.path,
    {
      schema: {
        summary: 'Delete (deactivate) an organization (org.deleted)',
        tags: ['writes'],
        params: ROUTES.deleteOrganization.params,
        response: {
          200: ROUTES.deleteOrganization.response[200].describe('the row after the change'),
          ...errorResponses(...KEYED, ...WITH_BODY, 404, 409),
        },
      },
    },
    async (request) => {
      const { orgId, entityId } = request.params;
      await getTenant(db, orgId);
      return organizationView(await deleteOrganization(db, orgId, entityId));
    },
  );

  app.post(
    ROUTES.allocateCredits.path,
    {
      schema: {
        summary: 'Allocate credits (credit.allocated)',
        tags: ['writes'],
        params: ROUTES.allocateCredits.params,
        body: ROUTES.allocateCredits.body,
        response: {
          201: ROUTES.allocateCredits.response[201].describe('the row as stored'),
          ...errorResponses(...KEYED, ...WITH_BODY, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const { orgId } = request.params;
      await getTenant(db, orgId);
      const created = await allocateCredits(db, orgId, request.body);
      return reply.status(201).send(allocationView(created));
    },
  );

  app.patch(
    ROUTES.updateAllocation.path,
    {
      schema: {
        summary: 'Update an allocation (credit.updated)',
        tags: ['writes'],
        params: ROUTES.updateAllocation.params,
        body: ROUTES.updateAllocation.body,
        response: {
          200: ROUTES.updateAllocation.response[200].describe('the row after the change'),
          ...errorResponses(...KEYED, ...WITH_BODY, 404, 409),
        },
      },
    },
    async (request) => {
      const { orgId, allocationId } = request.params;
      await getTenant(db, orgId);
      return allocationView(await updateAllocation(db, orgId, allocationId, request.body));
    },
  );

  app.post(
    ROUTES.deactivateAllocation.path,
    {
      schema: {
        summary: 'Deactivate or expire an allocation (credit.deactivated)',
        tags: ['writes'],
        params: ROUTES.deactivateAllocation.params,
        body: ROUTES.deactivateAllocation.body,
        response: {
          200: ROUTES.deactivateAllocation.response[200].describe('the row after the change'),
          ...errorResponses(...KEYED, ...WITH_BODY, 404, 409),
        },
      },
    },
    async (request) => {
      const { orgId, allocationId } = request.params;
      await getTenant(db, orgId);
      const reason = request.body.reason;
      return allocationView(await deactivateAllocation(db, orgId, allocationId, reason));
    },
  );

  app.post(
    ROUTES.addMembership.path,
    {
      schema: {
        summary: 'Add a membership (org.assignment.created)',
        tags: ['writes'],
        params: ROUTES.addMembership.params,
        body: ROUTES.addMembership.body,
        response: {
          201: ROUTES.addMembership.response[201].describe('the row as stored'),
          ...errorResponses(...KEYED, ...WITH_BODY, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const { orgId } = request.params;
      await getTenant(db, orgId);
      const created = await addMembership(db, orgId, request.body);
      return reply.status(201).send(membershipView(created));
    },
  );

  app.delete(
    ROUTES.removeMembership.path,
    {
      schema: {
        summary: 'Remove a membership (org.assignment.removed)',
        tags: ['writes'],
        params: ROUTES.removeMembership.params,
        response: {
          200: ROUTES.removeMembership.response[200].describe('the row after the change'),
          ...errorResponses(...KEYED, ...WITH_BODY, 404, 409),
        },
      },
    },
    async (request) => {
      const { orgId, membershipId } = request.params;
      await getTenant(db, orgId);
      return membershipView(await removeMembership(db, orgId, membershipId));
    },
  );
}
