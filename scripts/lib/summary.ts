/** The block every `npm start` prints once the API answers: where everything is, how to try it. */
import type { ServiceOrigin } from '@historical-sync/local-stack';
import { isAlive } from '@historical-sync/local-stack';
import { redactUrl } from '@historical-sync/runtime';

export interface TenantLine {
  id: string;
  name: string;
}

export function describeOrigin(origin: ServiceOrigin, dataLabel: string): string {
  if (origin.origin === 'given') return 'given';
  const pid = origin.pid ? `pid ${origin.pid}, ` : '';
  if (origin.origin === 'started') return `started here, ${pid}data in ${dataLabel}`;
  const by = origin.startedBy
    ? `started by pid ${origin.startedBy}${isAlive(origin.startedBy) ? '' : ', no longer running'}`
    : 'started by an unknown process';
  return `reused, ${pid}${by}`;
}

export function summaryLines(input: {
  databaseUrl: string;
  redisUrl: string;
  postgres: string;
  redis: string;
  demo: TenantLine | undefined;
  demoCreated: boolean;
  otherTenants: TenantLine[];
  moreTenants: number;
  apps: { name: string; pid: number | undefined }[];
  apiUrl: string | undefined;
  adminKeyHint: string;
  curlKey: string;
  supervisorPid: number;
}): string[] {
  const lines = ['historical-sync is up'];
  lines.push(`  Postgres  ${redactUrl(input.databaseUrl)} (${input.postgres})`);
  lines.push(`  Redis     ${redactUrl(input.redisUrl)} (${input.redis})`);
  if (input.demo) {
    lines.push(
      `  Demo      tenant "${input.demo.name}" ${input.demo.id} (${input.demoCreated ? 'created now' : 'from an earlier start'})`,
    );
  }
  if (input.otherTenants.length) {
    const more = input.moreTenants ? ` and ${input.moreTenants} more` : '';
    lines.push(
      `  Tenants   ${input.otherTenants.map((t) => `"${t.name}" ${t.id}`).join(', ')}${more}`,
    );
  }
  lines.push(`  Apps      ${input.apps.map((a) => `${a.name} (pid ${a.pid})`).join(', ')}`);
  if (input.apiUrl) {
    lines.push(`  API       ${input.apiUrl} (admin key: ${input.adminKeyHint})`);
    lines.push(`  Console   ${input.apiUrl}/console/ (sign in with the admin key)`);
    // Paths the API serves (apps/api/src/plugins: api-docs, bull-board, observability).
    lines.push(`  Docs      ${input.apiUrl}/docs (every route, browsable; no key needed)`);
    lines.push(
      `  Queues    ${input.apiUrl}/admin/queues (Bull Board; user admin, password the admin key)`,
    );
    lines.push(
      `  Metrics   curl -H 'authorization: Bearer ${input.curlKey}' ${input.apiUrl}/metrics`,
    );
    const tenant = input.demo ?? input.otherTenants[0];
    if (tenant) {
      lines.push(
        `  Try       curl -H 'authorization: Bearer ${input.curlKey}' ` +
          `${input.apiUrl}/admin/organizations/${tenant.id}/applications/crm/sync-status`,
      );
    }
    // The CLI's default address is port 3000, which npm start does not always get: the export
    // makes `npx hsync` in another terminal talk to this API.
    lines.push(`  CLI       export HSYNC_API_URL=${input.apiUrl}`);
    lines.push(
      `            npx hsync tenants   (every tenant's id: commands take the id, not the name)`,
    );
    if (tenant) lines.push(`            npx hsync status ${tenant.id} crm`);
  }
  lines.push(
    `Press Ctrl-C to stop (or kill ${input.supervisorPid}): the apps finish their work in flight, then Redis and Postgres stop.`,
  );
  return lines;
}
