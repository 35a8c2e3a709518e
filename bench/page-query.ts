/**
 * The page query's cost per row, in Postgres and in the client that receives it: every page of a
 * resource read as rows of text (`renderPage`, the form the worker used before) and as the rows'
 * bytes from a binary COPY framed into the page's XADD commands (`renderPageCommands`, what it
 * publishes now), alternated, each on a connection of its own whose backend's CPU is read from
 * /proc. Linux only.
 *
 *   npm run bench:page-query -- --memberships 200000 --rounds 5
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { renderPage, renderPageCommands, xaddPrefix } from '@historical-sync/backfill';
import { EVENT_FIELD, type Resource } from '@historical-sync/contracts';
import { createDb, seedTenant } from '@historical-sync/db';
import { createTestDatabase } from '@historical-sync/db/testing';
import { localStateDir, startLocalServices } from '@historical-sync/local-stack';
import { sql } from 'kysely';
import { say } from './lib/say';
import { percentile, round } from './lib/stats';

const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

const { values } = parseArgs({
  options: {
    memberships: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '5' },
    'page-size': { type: 'string', default: '1000' },
  },
});
const memberships = Number(values.memberships);
const rounds = Number(values.rounds);
const pageSize = Number(values['page-size']);

async function backendCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const services = await startLocalServices({
  stateDir: localStateDir(`bench-page-query-${process.pid}`),
  databaseUrl: process.env.DATABASE_URL,
  redisUrl: process.env.REDIS_URL,
  ephemeral: true,
});
process.env.DATABASE_URL = services.databaseUrl;
const database = await createTestDatabase('bench_page_query');
try {
  const { tenantId } = await seedTenant(database.db, {
    tenantName: 'bench',
    organizations: Math.max(1, memberships / 10),
    memberships,
    creditAllocations: 1,
    app: 'crm',
    seed: 1,
  });
  await sql`ANALYZE`.execute(database.db);
  // One connection: its backend is the one whose CPU is read.
  const db = createDb({ connectionString: database.url, maxConnections: 1 });
  const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(db);
  const pid = rows[0]?.pid as number;
  const scope = { tenantId, appCode: 'crm', sinceDate: null, limit: pageSize };
  const context = { tenantId, appCode: 'crm', runId: '00000000-0000-4000-8000-000000000000' };
  const prefix = xaddPrefix('crm:sync:organization:assignment_created', EVENT_FIELD);
  const resource: Resource = 'memberships';
  const forms = {
    'rows of text': async (after: string) => {
      const page = await renderPage(db, resource, { ...scope, after }, context);
      return { rows: page.length, lastId: page[page.length - 1]?.id };
    },
    'COPY binary, framed': async (after: string) => {
      const page = await renderPageCommands(db, resource, { ...scope, after }, context, prefix);
      return { rows: page?.rows ?? 0, lastId: page?.lastId };
    },
  };
  const results: Record<string, { postgres: number[]; client: number[] }> = {};
  for (let round_ = 0; round_ < rounds; round_ += 1) {
    for (const [name, read] of Object.entries(forms)) {
      const pgBefore = await backendCpuSeconds(pid);
      const clientBefore = process.cpuUsage();
      let after = '';
      let total = 0;
      for (;;) {
        const page = await read(after);
        total += page.rows;
        if (!page.lastId || page.rows < pageSize) break;
        after = page.lastId;
      }
      const client = process.cpuUsage(clientBefore);
      const postgres = (await backendCpuSeconds(pid)) - pgBefore;
      results[name] ??= { postgres: [], client: [] };
      const entry = results[name];
      entry.postgres.push((postgres * 1e6) / total);
      entry.client.push((client.user + client.system) / total);
    }
  }
  say(
    `page query over ${memberships} memberships, pages of ${pageSize}, ${rounds} rounds alternated (median CPU µs per row):`,
  );
  for (const [name, r] of Object.entries(results)) {
    say(
      `  ${name.padEnd(24)} Postgres ${round(median(r.postgres), 2)} µs, client ${round(median(r.client), 2)} µs`,
    );
  }
  say(
    `command: npm run bench:page-query -- --memberships ${memberships} --rounds ${rounds} --page-size ${pageSize}`,
  );
  await db.destroy();
} finally {
  await database.destroy();
  await services.stop();
}
