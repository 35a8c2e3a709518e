/**
 * The OpenAPI document, generated from the same zod schemas the routes validate with, so the
 * docs cannot drift from what the API accepts. Served at /docs.
 */
import {
  RunListQuery,
  RunListResponse,
  RunRouteParams,
  RunViewSchema,
  SystemResponse,
  TenantApplicationsResponse,
  TenantListQuery,
  TenantListResponse,
  TenantParams,
} from '@historical-sync/contracts';
import { z } from 'zod';
import { ApiKeyParams, CreateApiKeyBody } from './routes/api-keys';
import {
  AppCodeParams,
  OrgParams,
  RunParams,
  SyncBody,
  ToggleBody,
  ToggleParams,
} from './routes/schemas';
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
} from './routes/write-schemas';

interface RouteDoc {
  method: 'get' | 'post' | 'patch' | 'delete';
  path: string;
  summary: string;
  params?: z.ZodObject;
  /** Query-string parameters. */
  query?: z.ZodObject;
  body?: z.ZodType;
  success: number;
  /** The success body's schema, when documented; `stream` for server-sent events. */
  response?: z.ZodType | 'stream';
  /** Default: any key, a tenant key on its own tenant only. */
  auth?: 'admin' | 'none';
}

const ROUTES: RouteDoc[] = [
  {
    method: 'post',
    path: '/admin/organizations/{orgId}/applications/{appId}/toggle',
    summary:
      'Enable or disable an application; an enable that changes the state starts one backfill run',
    params: ToggleParams,
    body: ToggleBody,
    success: 200,
  },
  {
    method: 'post',
    path: '/admin/organizations/{orgId}/applications/{appCode}/sync-historical',
    summary: 'Manual historical sync (or dry run counts)',
    params: AppCodeParams,
    body: SyncBody,
    success: 202,
  },
  {
    method: 'get',
    path: '/admin/organizations/{orgId}/applications/{appCode}/sync-status',
    summary: 'Counts, whether a sync is needed, the latest run and the outbox backlog',
    params: AppCodeParams,
    success: 200,
  },
  {
    method: 'get',
    path: '/admin/organizations/{orgId}/sync-runs/{runId}',
    summary: "One run's progress",
    params: RunParams,
    success: 200,
  },
  {
    method: 'post',
    path: '/admin/organizations/{orgId}/sync-runs/{runId}/pause',
    summary: 'Pause a run',
    params: RunParams,
    success: 200,
  },
  {
    method: 'post',
    path: '/admin/organizations/{orgId}/sync-runs/{runId}/resume',
    summary: 'Resume a paused run',
    params: RunParams,
    success: 200,
  },
  {
    method: 'post',
    path: '/admin/organizations/{orgId}/sync-runs/{runId}/cancel',
    summary: 'Cancel a run',
    params: RunParams,
    success: 200,
  },
  {
    method: 'post',
    path: '/admin/organizations/{orgId}/organizations',
    summary: 'Create an organization (org.created)',
    params: OrgParams,
    body: CreateOrganizationBody,
    success: 201,
  },
  {
    method: 'patch',
    path: '/admin/organizations/{orgId}/organizations/{entityId}',
    summary: 'Update an organization (org.updated)',
    params: EntityParams,
    body: UpdateOrganizationBody,
    success: 200,
  },
  {
    method: 'delete',
    path: '/admin/organizations/{orgId}/organizations/{entityId}',
    summary: 'Delete (deactivate) an organization (org.deleted)',
    params: EntityParams,
    success: 200,
  },
  {
    method: 'post',
    path: '/admin/organizations/{orgId}/credit-allocations',
    summary: 'Allocate credits (credit.allocated)',
    params: OrgParams,
    body: AllocateCreditsBody,
    success: 201,
  },
  {
    method: 'patch',
    path: '/admin/organizations/{orgId}/credit-allocations/{allocationId}',
    summary: 'Update an allocation (credit.updated)',
    params: AllocationParams,
    body: UpdateAllocationBody,
    success: 200,
  },
  {
    method: 'post',
    path: '/admin/organizations/{orgId}/credit-allocations/{allocationId}/deactivate',
    summary: 'Deactivate or expire an allocation (credit.deactivated)',
    params: AllocationParams,
    body: DeactivateAllocationBody,
    success: 200,
  },
  {
    method: 'post',
    path: '/admin/organizations/{orgId}/memberships',
    summary: 'Add a membership (org.assignment.created)',
    params: OrgParams,
    body: AddMembershipBody,
    success: 201,
  },
  {
    method: 'delete',
    path: '/admin/organizations/{orgId}/memberships/{membershipId}',
    summary: 'Remove a membership (org.assignment.removed)',
    params: MembershipParams,
    success: 200,
  },
  { method: 'get', path: '/admin/outbox', summary: 'Outbox backlog', success: 200, auth: 'admin' },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    success: 200,
    auth: 'admin',
  },
  {
    method: 'post',
    path: '/admin/api-keys',
    summary: 'Create an API key (admin, or scoped to tenantId); the key is in this response only',
    body: CreateApiKeyBody,
    success: 201,
    auth: 'admin',
  },
  { method: 'get', path: '/admin/api-keys', summary: 'List API keys', success: 200, auth: 'admin' },
  {
    method: 'delete',
    path: '/admin/api-keys/{keyId}',
    summary: 'Revoke an API key',
    params: ApiKeyParams,
    success: 200,
    auth: 'admin',
  },
  {
    method: 'get',
    path: '/admin/tenants',
    summary:
      'Tenants by name then id, each with its applications; `q` searches names (substring, any case) and id prefixes (a tenant key: its own tenant only)',
    query: TenantListQuery,
    success: 200,
    response: TenantListResponse,
  },
  {
    method: 'get',
    path: '/admin/organizations/{orgId}/applications',
    summary: "A tenant's applications: enabled, whether a sync is needed, the latest run",
    params: TenantParams,
    success: 200,
    response: TenantApplicationsResponse,
  },
  {
    method: 'get',
    path: '/admin/sync-runs',
    summary:
      'Runs newest first, filtered by tenant, application and status, in keyset pages (a tenant key: its own tenant only; another tenantId is 404)',
    query: RunListQuery,
    success: 200,
    response: RunListResponse,
  },
  {
    method: 'post',
    path: '/admin/organizations/{orgId}/sync-runs/{runId}/retry',
    summary: 'Retry a failed run from its checkpoints (409 unless failed)',
    params: RunRouteParams,
    success: 202,
    response: RunViewSchema,
  },
  {
    method: 'get',
    path: '/admin/organizations/{orgId}/sync-runs/{runId}/live',
    summary:
      'Server-sent events: `event: run` with the run view at once and on each change, a comment every 15 s, the end after the final state (429 past the streams per key)',
    params: RunRouteParams,
    success: 200,
    response: 'stream',
  },
  {
    method: 'get',
    path: '/admin/system',
    summary:
      'Events per second (10-s points, 15 min), outbox backlog, consumer groups, live workers',
    success: 200,
    response: SystemResponse,
    auth: 'admin',
  },
  { method: 'get', path: '/health', summary: 'The process is up', success: 200, auth: 'none' },
  {
    method: 'get',
    path: '/ready',
    summary: 'Postgres and Redis are reachable',
    success: 200,
    auth: 'none',
  },
];

const ERROR = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } },
};

// Request schemas describe what a client sends: defaults make fields optional, transforms apply later.
const jsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
const outputSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' });

const successBody = (response: RouteDoc['response']) =>
  response === undefined
    ? {}
    : response === 'stream'
      ? { content: { 'text/event-stream': { schema: { type: 'string' } } } }
      : { content: { 'application/json': { schema: outputSchema(response) } } };

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    const params = route.params
      ? (jsonSchema(route.params) as { properties?: Record<string, unknown> })
      : undefined;
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, unknown>)[route.method] = {
      summary: route.summary,
      ...(route.auth === 'none' ? { security: [] } : {}),
      parameters: [
        ...Object.entries(params?.properties ?? {}).map(([name, schema]) => ({
          name,
          in: 'path',
          required: true,
          schema,
        })),
        ...Object.entries(
          (route.query
            ? (jsonSchema(route.query) as { properties?: Record<string, unknown> })
            : undefined
          )?.properties ?? {},
        ).map(([name, schema]) => ({ name, in: 'query', required: false, schema })),
      ],
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(route.body) } },
            },
          }
        : {}),
      responses: {
        [route.success]: { description: 'success', ...successBody(route.response) },
        ...(route.auth === 'none'
          ? {}
          : {
              401: {
                description: 'missing, invalid or revoked API key',
                content: { 'application/json': { schema: ERROR } },
              },
              429: {
                description:
                  "over the key's rate limit, the address's failed-authentication limit, or a tenant key's runs-per-hour quota (TENANT_MAX_RUNS_PER_HOUR); see retry-after",
                content: { 'application/json': { schema: ERROR } },
              },
            }),
        ...(route.auth === 'admin'
          ? {
              403: {
                description: 'a tenant key on an admin-only route',
                content: { 'application/json': { schema: ERROR } },
              },
            }
          : {}),
        400: {
          description: 'invalid input; `field` names it',
          content: { 'application/json': { schema: ERROR } },
        },
        404: {
          description:
            "unknown tenant, application or row (another tenant's, for a tenant-scoped key)",
          content: { 'application/json': { schema: ERROR } },
        },
        409: {
          description: "conflict, or a tenant key's active-runs quota (TENANT_MAX_ACTIVE_RUNS)",
          content: { 'application/json': { schema: ERROR } },
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'historical-sync admin API', version: '0.1.0' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
