/**
 * With a replica (BACKFILL_DATABASE_URL), the API reads the dry run's and sync-status's row
 * counts there, not on the primary: with the replica's replay paused, rows written to the primary
 * are not counted until it resumes. A real streaming replica of a Postgres started for this file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TenantQuotasEnv, tenantQuotasFrom } from '@historical-sync/backfill';
import { createDb, type Db, seedTenant } from '@historical-sync/db';
import { type RunningService, startPostgres, startReplica } from '@historical-sync/local-stack';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app';
import { type ApiTestContext, auth, createApiTestContext } from './helpers';

let primaryDir: string | undefined;
let primary: RunningService;
let replica: RunningService | undefined;
let replicaDb: Db | undefined;
const sharedDatabaseUrl = process.env.DATABASE_URL;

describe('counts from a replica', () => {
  let t: ApiTestContext;
  let app: FastifyInstance;
  let tenantId: string;

  beforeAll(async () => {
    primaryDir = await mkdtemp(join(tmpdir(), 'replica-counts-primary-'));
    primary = await startPostgres({ dataDir: primaryDir, database: 'postgres', ephemeral: true });
    process.env.DATABASE_URL = primary.url;
    t = await createApiTestContext('replica_counts');
    ({ tenantId } = await seedTenant(t.db, {
      tenantName: 'counted',
      organizations: 4,
      memberships: 10,
      creditAllocations: 3,
      app: 'crm',
      seed: 3,
    }));
    // Taken once the database and its rows exist, so the backup holds them.
    replica = await startReplica(primary);
    const url = new URL(replica.url);
    url.pathname = new URL(t.databaseUrl).pathname;
    replicaDb = createDb({ connectionString: url.toString(), maxConnections: 3 });
    app = await buildApp({
      db: t.db,
      countsDb: replicaDb,
      redis: t.redis,
      queues: t.queues,
      settings: t.settings,
      logger: t.logger,
      adminApiKey: auth.authorization.replace('Bearer ', ''),
      bodyLimitBytes: 64 * 1024,
      rateLimitPerMinute: 0,
      apiKeyCacheMs: 0,
      failedAuthPerMinute: 0,
      trustProxy: false,
      tenantQuotas: tenantQuotasFrom(TenantQuotasEnv.parse({})),
      bullBoardWritable: false,
    });
  }, 180_000);
  afterAll(async () => {
    await app?.close();
    await replicaDb?.destroy();
    await t?.close();
    process.env.DATABASE_URL = sharedDatabaseUrl;
    await replica?.stop();
    await primary?.stop();
    if (primaryDir) await rm(primaryDir, { recursive: true, force: true });
  });

  const memberships = async () => {
    const dryRun = await app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/crm/sync-historical`,
      headers: auth,
      payload: { dryRun: true },
    });
    expect(dryRun.statusCode, dryRun.body).toBe(200);
    const status = await app.inject({
      method: 'GET',
      url: `/admin/organizations/${tenantId}/applications/crm/sync-status`,
      headers: auth,
    });
    expect(status.statusCode, status.body).toBe(200);
    return {
      dryRun: dryRun.json().counts.memberships as number,
      status: status.json().counts.activeMemberships as number,
    };
  };
  const setReplay = async (state: 'paused' | 'not paused') => {
    const db = replicaDb as Db;
    await sql`SELECT ${sql.raw(state === 'paused' ? 'pg_wal_replay_pause()' : 'pg_wal_replay_resume()')}`.execute(
      db,
    );
    await expect
      .poll(
        async () =>
          (await sql<{ s: string }>`SELECT pg_get_wal_replay_pause_state() AS s`.execute(db))
            .rows[0]?.s,
      )
      .toBe(state);
  };

  it('counts on the replica: rows it has not replayed are not counted, then are', async () => {
    await expect.poll(memberships, { timeout: 30_000 }).toEqual({ dryRun: 10, status: 10 });
    await setReplay('paused');
    const { rows } = await sql<{ organization_id: string }>`
      SELECT id AS organization_id FROM entities WHERE tenant_id = ${tenantId} LIMIT 1
    `.execute(t.db);
    await sql`
      INSERT INTO organization_memberships (tenant_id, organization_id, user_id, role)
      SELECT ${tenantId}, ${rows[0]?.organization_id}, gen_random_uuid(), 'member'
      FROM generate_series(1, 5)
    `.execute(t.db);
    // The primary has 15; the replica, paused, still 10: the API answers the replica's.
    const { rows: primaryCount } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM organization_memberships WHERE tenant_id = ${tenantId}
    `.execute(t.db);
    expect(primaryCount[0]?.n).toBe(15);
    expect(await memberships()).toEqual({ dryRun: 10, status: 10 });
    await setReplay('not paused');
    await expect.poll(memberships, { timeout: 30_000 }).toEqual({ dryRun: 15, status: 15 });
  }, 120_000);
});
