/** The console's tenant directory: every tenant (admin keys) or a tenant key's own, searchable. */
import { listTenants, tenantApplications } from '@historical-sync/backfill';
import { ROUTES } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponses, KEYED, WITH_PARAMS } from '../http/responses';

/** `GET /admin/tenants`: the caller filters by its own key (no `:orgId` to scope it). */
export function tenantListRoute(scope: FastifyInstance, deps: { db: Db }): void {
  const { listTenants: route } = ROUTES;
  scope.withTypeProvider<ZodTypeProvider>().get(
    route.path,
    {
      schema: {
        summary: "Tenants with their applications' state, searchable; a tenant key sees its own",
        tags: ['console'],
        querystring: route.querystring,
        response: {
          200: route.response[200].describe('one page of tenants, by name then id'),
          ...errorResponses(...KEYED, ...WITH_PARAMS),
        },
      },
    },
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
  const { getTenantApplications: route } = ROUTES;
  scope.withTypeProvider<ZodTypeProvider>().get(
    route.path,
    {
      schema: {
        summary: "A tenant's applications: enabled or not, sync needed, the latest run",
        tags: ['console'],
        params: route.params,
        response: {
          200: route.response[200].describe('the tenant and its applications'),
          ...errorResponses(...KEYED, ...WITH_PARAMS, 404),
        },
      },
    },
    async (request) => {
      const tenant = await tenantApplications(deps.db, request.params.orgId);
      return { tenantId: tenant.tenantId, name: tenant.name, applications: tenant.applications };
    },
  );
}
