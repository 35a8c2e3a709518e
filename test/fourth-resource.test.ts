/**
 * A fourth resource defined only through the registry and a migration step
 * (docs/ADDING-A-RESOURCE.md): teams, a table this test creates, described by
 * test/fixtures/teams-resource.ts, which the API and worker processes load with `node --import`
 * (no production file names it). Enabled, its rows are backfilled exactly once; a live change is
 * captured and delivered; the status route and the CLI show its progress.
 */
import { randomBytes } from 'node:crypto';
import { streamName } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { findFreePort } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateTeams } from './fixtures/teams-resource';
import {
  type Command,
  callApi,
  envWithout,
  killCommand,
  runApp,
  runHsync,
  waitForApi,
} from './helpers';

const ADMIN_KEY = 'fourth-resource-admin-key';
const FIXTURE = 'test/fixtures/teams-resource.ts';
const TEAMS = 300;

describe('a fourth resource, defined through the registry and a migration step', () => {
  let wrapper: TestDatabase;
  let redis: Redis;
  const commands: Command[] = [];
  let apiUrl: string;
  let tenantId: string;
  let otherTenant: string;
  let runId: string;
  const unique = `t${randomBytes(4).toString('hex')}`;
  const prefix = `${unique}:`;

  beforeAll(async () => {
    wrapper = await createTestDatabase('fourth_resource');
    const db = wrapper.db as unknown as Kysely<unknown>;
    // The platform's new table, as its own migration would create it.
    await sql`
      CREATE TABLE teams (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants (id),
        name text NOT NULL,
        is_active boolean NOT NULL DEFAULT true,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )
    `.execute(db);
    await sql`CREATE INDEX teams_tenant_id ON teams (tenant_id, id)`.execute(db);
    await sql`
      CREATE TRIGGER teams_bump_version BEFORE UPDATE ON teams
        FOR EACH ROW EXECUTE FUNCTION bump_row_version()
    `.execute(db);
    await migrateTeams(db);

    ({ tenantId } = await seedTenant(wrapper.db, {
      tenantName: 'teams',
      organizations: 5,
      memberships: 10,
      creditAllocations: 2,
      app: 'crm',
      seed: 4,
    }));
    ({ tenantId: otherTenant } = await seedTenant(wrapper.db, {
      tenantName: 'other',
      organizations: 1,
      memberships: 1,
      creditAllocations: 1,
      app: 'crm',
      seed: 5,
    }));
    await sql`
      INSERT INTO teams (tenant_id, name, is_active)
      SELECT ${tenantId}, 'team ' || i, i % 10 <> 0 FROM generate_series(1, ${TEAMS + TEAMS / 10 + 3}) AS i
    `.execute(db);
    await sql`INSERT INTO teams (tenant_id, name) SELECT ${otherTenant}, 'theirs' FROM generate_series(1, 20)`.execute(
      db,
    );

    redis = new Redis(process.env.REDIS_URL as string);
    const port = await findFreePort();
    apiUrl = `http://127.0.0.1:${port}`;
    const env = {
      ...envWithout('ADMIN_API_KEY', 'HOST', 'PORT'),
      DATABASE_URL: wrapper.url,
      QUEUE_PREFIX: unique,
      STREAM_PREFIX: prefix,
      BACKFILL_SOURCE_PROTECTION: 'off',
      HOST: '127.0.0.1',
      PORT: String(port),
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
    };
    const api = runApp('api', env, FIXTURE);
    commands.push(api, runApp('worker', env, FIXTURE));
    await waitForApi(apiUrl, api, 60_000);
  }, 120_000);
  afterAll(async () => {
    for (const command of commands) await killCommand(command);
    const keys = (await redis?.keys(`*${unique}*`)) ?? [];
    if (keys.length > 0) await redis.del(...keys);
    redis?.disconnect();
    await wrapper?.destroy();
  });

  const call = (method: string, path: string, body?: object) =>
    callApi(apiUrl, ADMIN_KEY, method, path, body);
  const entries = async (stream: string) =>
    (await redis.xrange(stream, '-', '+')).map(
      ([, fields]) =>
        JSON.parse(fields[1] as string) as {
          eventType: string;
          eventId: string;
          runId: string | null;
          teamId?: string;
          name?: string;
          version?: number;
          metadata: { targetApplication: string };
        },
    );

  it('backfills its active rows exactly once when the application is enabled', async () => {
    const enabled = await call('POST', `/admin/organizations/${tenantId}/applications/crm/toggle`, {
      isEnabled: true,
    });
    expect(enabled.status, JSON.stringify(enabled.json)).toBeLessThan(300);
    runId = enabled.json.runId as string;
    await expect
      .poll(
        async () =>
          (await call('GET', `/admin/organizations/${tenantId}/sync-runs/${runId}`)).json.status,
        { timeout: 90_000, interval: 250 },
      )
      .toBe('completed');

    const published = (await entries(streamName('team.created', 'crm', prefix))).filter(
      (e) => e.runId === runId && e.eventType === 'team.created',
    );
    const { rows } = await sql<{ id: string }>`
      SELECT id FROM teams WHERE tenant_id = ${tenantId} AND is_active ORDER BY id
    `.execute(wrapper.db);
    expect(rows.length).toBe(TEAMS);
    expect(published.length).toBe(TEAMS);
    expect(published.map((e) => e.teamId).sort()).toEqual(rows.map((r) => r.id).sort());
    expect(new Set(published.map((e) => e.eventId)).size).toBe(TEAMS);
    expect(published.every((e) => e.metadata.targetApplication === 'crm')).toBe(true);
  }, 120_000);

  it('captures a live change and delivers it to the enabled application', async () => {
    const { rows } = await sql<{ id: string }>`
      UPDATE teams SET name = 'renamed' WHERE id = (
        SELECT id FROM teams WHERE tenant_id = ${tenantId} AND is_active ORDER BY id LIMIT 1
      ) RETURNING id
    `.execute(wrapper.db);
    const id = rows[0]?.id as string;
    const stream = streamName('team.updated', 'crm', prefix);
    await expect
      .poll(async () => (await entries(stream)).find((e) => e.teamId === id) ?? null, {
        timeout: 30_000,
        interval: 250,
      })
      .toMatchObject({ runId: null, name: 'renamed', version: 2, eventType: 'team.updated' });
    // Nothing of another tenant's, whose application is not enabled.
    const theirs = await sql<{
      id: string;
    }>`SELECT id FROM teams WHERE tenant_id = ${otherTenant}`.execute(wrapper.db);
    const delivered = new Set(
      [
        ...(await entries(streamName('team.created', 'crm', prefix))),
        ...(await entries(stream)),
      ].map((e) => e.teamId),
    );
    expect(theirs.rows.some((r) => delivered.has(r.id))).toBe(false);
  }, 60_000);

  it('is shown by the status route and the CLI', async () => {
    const status = await call(
      'GET',
      `/admin/organizations/${tenantId}/applications/crm/sync-status`,
    );
    expect(status.status).toBe(200);
    const latestRun = status.json.latestRun as {
      runId: string;
      resources: Record<string, unknown>;
    };
    expect(latestRun.runId).toBe(runId);
    expect(latestRun.resources.teams).toMatchObject({
      status: 'completed',
      published: TEAMS,
      total: TEAMS,
    });

    // The CLI, a process that knows nothing of teams, shows what the API reports.
    const cli = await runHsync(['status', tenantId, 'crm'], {
      ...envWithout('HSYNC_API_URL', 'HSYNC_API_KEY', 'ADMIN_API_KEY'),
      HSYNC_API_URL: apiUrl,
      ADMIN_API_KEY: ADMIN_KEY,
    });
    const output = cli.stdout + cli.stderr;
    expect(cli.code, output).toBe(0);
    expect(output).toMatch(new RegExp(`teams\\b.*\\b${TEAMS}\\b`));
  }, 60_000);
});
