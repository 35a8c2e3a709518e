/**
 * The admin API's routes, one entry each: method, path template and the schemas of its params,
 * query string, body and successful answers. The API registers each route from its entry, and the
 * clients (the CLI, the console) name a route by its key and get its types from here, so a path
 * and the shape of its answer are paired once, not at every call.
 *
 * Error answers are not listed: every route answers the one error body (`ApiError`), with the
 * statuses the API declares per route. `/health`, `/ready`, `/metrics` and the pages (docs,
 * console, queue board) are not JSON routes of the admin API and are not here.
 */
import { z } from 'zod';
import {
  ApiKeyList,
  ApiKeyParams,
  ApiKeyView,
  CreateApiKeyBody,
  CreatedApiKey,
} from './api-keys.js';
import {
  AppCodeParams,
  DryRunResponse,
  SyncBody,
  SyncStartedResponse,
  SyncStatusResponse,
  ToggleBody,
  ToggleParams,
  ToggleResponse,
} from './applications.js';
import {
  DetachGroupRequest,
  DetachGroupResponse,
  RunListQuery,
  RunListResponse,
  SystemResponse,
  TenantApplicationsParams,
  TenantApplicationsResponse,
  TenantListQuery,
  TenantListResponse,
} from './console.js';
import { OutboxBacklog } from './outbox.js';
import { OrgParams } from './params.js';
import { RunParams, RunView } from './runs.js';
import { VerificationView, VerifyBody } from './verify.js';
import {
  AddMembershipBody,
  AllocateCreditsBody,
  AllocationParams,
  AllocationView,
  CreateOrganizationBody,
  DeactivateAllocationBody,
  EntityParams,
  MembershipParams,
  MembershipView,
  OrganizationView,
  UpdateAllocationBody,
  UpdateOrganizationBody,
} from './writes.js';

export type RouteMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';
export type SuccessStatus = 200 | 201 | 202;

export interface RouteSpec {
  method: RouteMethod;
  /** Fastify's template: `:name` is a path parameter, named in `params`. */
  path: string;
  params?: z.ZodType;
  querystring?: z.ZodType;
  body?: z.ZodType;
  /** The JSON answer of each success status; none for an event stream. */
  response: Partial<Record<SuccessStatus, z.ZodType>>;
  /** An event stream (`text/event-stream`): the `data` of each `event: run`. */
  events?: z.ZodType;
}

/** A manual sync answers the run under way (200), a dry run's counts (200) or a new run (202). */
export const SyncHistoricalAnswer = z.union([SyncStartedResponse, DryRunResponse]);

const org = '/admin/organizations/:orgId';
const run = `${org}/sync-runs/:runId` as const;
const application = `${org}/applications/:appCode` as const;

export const ROUTES = {
  // Applications of a tenant (the spec's routes).
  toggleApplication: {
    method: 'POST',
    path: `${org}/applications/:appId/toggle`,
    params: ToggleParams,
    body: ToggleBody,
    response: { 200: ToggleResponse },
  },
  syncHistorical: {
    method: 'POST',
    path: `${application}/sync-historical`,
    params: AppCodeParams,
    body: SyncBody,
    response: { 200: SyncHistoricalAnswer, 202: SyncStartedResponse },
  },
  getSyncStatus: {
    method: 'GET',
    path: `${application}/sync-status`,
    params: AppCodeParams,
    response: { 200: SyncStatusResponse },
  },
  verifyApplication: {
    method: 'POST',
    path: `${application}/verify`,
    params: AppCodeParams,
    body: VerifyBody,
    response: { 200: VerificationView },
  },
  getLatestVerification: {
    method: 'GET',
    path: `${application}/verifications/latest`,
    params: AppCodeParams,
    response: { 200: VerificationView },
  },
  getTenantApplications: {
    method: 'GET',
    path: `${org}/applications`,
    params: TenantApplicationsParams,
    response: { 200: TenantApplicationsResponse },
  },

  // Runs: one run, its live view, its controls (`${RunAction}Run`), the history.
  getRun: { method: 'GET', path: run, params: RunParams, response: { 200: RunView } },
  watchRun: {
    method: 'GET',
    path: `${run}/live`,
    params: RunParams,
    response: {},
    events: RunView,
  },
  pauseRun: { method: 'POST', path: `${run}/pause`, params: RunParams, response: { 200: RunView } },
  resumeRun: {
    method: 'POST',
    path: `${run}/resume`,
    params: RunParams,
    response: { 200: RunView },
  },
  cancelRun: {
    method: 'POST',
    path: `${run}/cancel`,
    params: RunParams,
    response: { 200: RunView },
  },
  retryRun: { method: 'POST', path: `${run}/retry`, params: RunParams, response: { 202: RunView } },
  listRuns: {
    method: 'GET',
    path: '/admin/sync-runs',
    querystring: RunListQuery,
    response: { 200: RunListResponse },
  },

  // Directory and operations.
  listTenants: {
    method: 'GET',
    path: '/admin/tenants',
    querystring: TenantListQuery,
    response: { 200: TenantListResponse },
  },
  getSystem: { method: 'GET', path: '/admin/system', response: { 200: SystemResponse } },
  detachGroup: {
    method: 'POST',
    path: '/admin/streams/detach-group',
    body: DetachGroupRequest,
    response: { 200: DetachGroupResponse },
  },
  getOutbox: { method: 'GET', path: '/admin/outbox', response: { 200: OutboxBacklog } },

  // API keys (admin keys only).
  createApiKey: {
    method: 'POST',
    path: '/admin/api-keys',
    body: CreateApiKeyBody,
    response: { 201: CreatedApiKey },
  },
  listApiKeys: { method: 'GET', path: '/admin/api-keys', response: { 200: ApiKeyList } },
  revokeApiKey: {
    method: 'DELETE',
    path: '/admin/api-keys/:keyId',
    params: ApiKeyParams,
    response: { 200: ApiKeyView },
  },

  // The write side (the spec's credit, organization and membership services).
  createOrganization: {
    method: 'POST',
    path: `${org}/organizations`,
    params: OrgParams,
    body: CreateOrganizationBody,
    response: { 201: OrganizationView },
  },
  updateOrganization: {
    method: 'PATCH',
    path: `${org}/organizations/:entityId`,
    params: EntityParams,
    body: UpdateOrganizationBody,
    response: { 200: OrganizationView },
  },
  deleteOrganization: {
    method: 'DELETE',
    path: `${org}/organizations/:entityId`,
    params: EntityParams,
    response: { 200: OrganizationView },
  },
  allocateCredits: {
    method: 'POST',
    path: `${org}/credit-allocations`,
    params: OrgParams,
    body: AllocateCreditsBody,
    response: { 201: AllocationView },
  },
  updateAllocation: {
    method: 'PATCH',
    path: `${org}/credit-allocations/:allocationId`,
    params: AllocationParams,
    body: UpdateAllocationBody,
    response: { 200: AllocationView },
  },
  deactivateAllocation: {
    method: 'POST',
    path: `${org}/credit-allocations/:allocationId/deactivate`,
    params: AllocationParams,
    body: DeactivateAllocationBody,
    response: { 200: AllocationView },
  },
  addMembership: {
    method: 'POST',
    path: `${org}/memberships`,
    params: OrgParams,
    body: AddMembershipBody,
    response: { 201: MembershipView },
  },
  removeMembership: {
    method: 'DELETE',
    path: `${org}/memberships/:membershipId`,
    params: MembershipParams,
    response: { 200: MembershipView },
  },
} as const satisfies Record<string, RouteSpec>;

// The types a client needs, and nothing else: a client importing only these (`import type`)
// carries no schema code.

export type Routes = typeof ROUTES;
export type RouteName = keyof Routes;
/** Routes answering JSON, and those answering an event stream. */
export type JsonRouteName = {
  [N in RouteName]: Routes[N] extends { events: z.ZodType } ? never : N;
}[RouteName];
export type EventRouteName = Exclude<RouteName, JsonRouteName>;

/** What the client needs at run time: the method and path of each route (no schema). */
export type RoutePaths = { readonly [N in RouteName]: Pick<Routes[N], 'method' | 'path'> };

type Schema<R, K extends string> = R extends { [P in K]: infer S extends z.ZodType } ? S : never;

/** The path parameters, as the caller gives them (the API checks and normalises them). */
export type RouteParams<N extends RouteName> = z.input<Schema<Routes[N], 'params'>>;
/**
 * The query string's fields, each as text or a number: a URL carries text, and the API parses
 * and checks it. Unset, null and empty values are left out of the URL.
 */
export type RouteQuery<N extends RouteName> = {
  [K in keyof z.output<Schema<Routes[N], 'querystring'>>]?: string | number | boolean | null;
};
export type RouteBody<N extends RouteName> = z.input<Schema<Routes[N], 'body'>>;

/** The answer of a route's success statuses (their union when there are several). */
export type RouteAnswer<N extends RouteName> = {
  [S in keyof Routes[N]['response']]: z.output<Routes[N]['response'][S] & z.ZodType>;
}[keyof Routes[N]['response']];
/** The `data` of each event of an event-stream route. */
export type RouteEvent<N extends EventRouteName> = z.output<Schema<Routes[N], 'events'>>;

/** `{ params, query, body }` as the route takes them: each required only where it must be. */
export type RouteInput<N extends RouteName> = (Routes[N] extends { params: z.ZodType }
  ? { params: RouteParams<N> }
  : { params?: never }) &
  (Routes[N] extends { querystring: z.ZodType } ? { query?: RouteQuery<N> } : { query?: never }) &
  (Routes[N] extends { body: z.ZodType }
    ? object extends RouteBody<N>
      ? { body?: RouteBody<N> }
      : { body: RouteBody<N> }
    : { body?: never }) & {
    /** Aborts the request (a page that is left, a command's own deadline). */
    signal?: AbortSignal;
  };
