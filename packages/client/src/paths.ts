/**
 * Each route's method and path template, as plain strings: what the client needs at run time.
 *
 * The route table (`ROUTES` in the contracts) is where these are defined, with the route's
 * schemas; the API registers its routes from it. This copy exists because importing any value of
 * the contracts package would bring its schemas, and zod with them, into the console's page
 * (docs/decisions/0017-one-route-table.md). It cannot drift: `satisfies RoutePaths` makes the
 * typecheck fail unless every route of the table is here, with exactly its method and path, and
 * nothing else is.
 */
import type { RoutePaths } from '@historical-sync/contracts';

const org = '/admin/organizations/:orgId';
const run = `${org}/sync-runs/:runId` as const;
const application = `${org}/applications/:appCode` as const;

export const ROUTE_PATHS = {
  toggleApplication: { method: 'POST', path: `${org}/applications/:appId/toggle` },
  syncHistorical: { method: 'POST', path: `${application}/sync-historical` },
  getSyncStatus: { method: 'GET', path: `${application}/sync-status` },
  verifyApplication: { method: 'POST', path: `${application}/verify` },
  getLatestVerification: { method: 'GET', path: `${application}/verifications/latest` },
  getTenantApplications: { method: 'GET', path: `${org}/applications` },
  getRun: { method: 'GET', path: run },
  watchRun: { method: 'GET', path: `${run}/live` },
  pauseRun: { method: 'POST', path: `${run}/pause` },
  resumeRun: { method: 'POST', path: `${run}/resume` },
  cancelRun: { method: 'POST', path: `${run}/cancel` },
  retryRun: { method: 'POST', path: `${run}/retry` },
  listRuns: { method: 'GET', path: '/admin/sync-runs' },
  listTenants: { method: 'GET', path: '/admin/tenants' },
  getSystem: { method: 'GET', path: '/admin/system' },
  detachGroup: { method: 'POST', path: '/admin/streams/detach-group' },
  getOutbox: { method: 'GET', path: '/admin/outbox' },
  createApiKey: { method: 'POST', path: '/admin/api-keys' },
  listApiKeys: { method: 'GET', path: '/admin/api-keys' },
  revokeApiKey: { method: 'DELETE', path: '/admin/api-keys/:keyId' },
  createOrganization: { method: 'POST', path: `${org}/organizations` },
  updateOrganization: { method: 'PATCH', path: `${org}/organizations/:entityId` },
  deleteOrganization: { method: 'DELETE', path: `${org}/organizations/:entityId` },
  allocateCredits: { method: 'POST', path: `${org}/credit-allocations` },
  updateAllocation: { method: 'PATCH', path: `${org}/credit-allocations/:allocationId` },
  deactivateAllocation: {
    method: 'POST',
    path: `${org}/credit-allocations/:allocationId/deactivate`,
  },
  addMembership: { method: 'POST', path: `${org}/memberships` },
  removeMembership: { method: 'DELETE', path: `${org}/memberships/:membershipId` },
} as const satisfies RoutePaths;
