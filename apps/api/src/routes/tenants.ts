/** The console's tenant directory: every tenant (admin keys) or a tenant key's own, searchable. */
import { listTenants, tenantApplications } from '@historical-sync/backfill';
import {
  ErrorBody,
  TenantApplicationsResponse,
  TenantListQuery,
  TenantListResponse,
  TenantParams,
} from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import type { FastifyInstance } from 'fastify';
import { withZod } from '../http/zod-provider';

const errors = { 400: ErrorBody, 404: ErrorBody };

/** `GET /admin/tenants`: the caller filters by its own key (no `:orgId` to scope it). */
export function tenantListRoute(scope: FastifyInstance, deps: { db: Db }): void {
  withZod(scope).get(
    '/admin/tenants',
    { schema: { querystring: TenantListQuery, response: { 200: TenantListResponse, ...errors } } },
    async (request) => {
      const principal = request.principal;
      return listTenants(deps.db, {
        ...request.query,
        ...(principal?.kind === 'tenant' ? { onlyTenantId: principal.tenantId } : {}),
      });
    },
  );
}

/** `GET /admin/organizations/:orgId/applications`, in the scope limited to the key's tenant. */
export function tenantApplicationsRoute(scope: FastifyInstance, deps: { db: Db }): void {
  withZod(scope).get(
    '/admin/organizations/:orgId/applications',
    { schema: { params: TenantParams, response: { 200: TenantApplicationsResponse, ...errors } } },
    async (request) => {
      const tenant = await tenantApplications(deps.db, request.params.orgId);
      return { tenantId: tenant.tenantId, name: tenant.name, applications: tenant.applications };
    },
  );
}
