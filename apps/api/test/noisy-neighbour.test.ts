/**
 * A noisy neighbour: one tenant doing the worst it can with its own tenant key within its quotas
 * (a full-speed sync split into as many partitions and pages as large as it may ask for, a run of
 * as many partitions throttled to 1 event/s, and a sync + cancel loop until the hourly quota) while NOISY_TENANTS other tenants enable crm and wait for their backfill. Their
 * completion times with and without the noisy tenant are printed side by side; the ratio is the
 * figure docs/RELIABILITY.md reports. Every quiet tenant's run must complete, exactly once.
 */
import { TenantQuotasEnv, tenantQuotasFrom } from '@historical-sync/backfill';
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext } from './helpers';

const TENANTS = Number(process.env.NOISY_TENANTS ?? 50);
const NOISY_MEMBERSHIPS = Number(process.env.NOISY_MEMBERSHIPS ?? 30_000);
const QUIET_MEMBERSHIPS = 100;

/** What a tenant key may choose: the quotas' defaults, as an API started without settings has. */
const quotas = tenantQuotasFrom(TenantQuotasEnv.parse({}));

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;

describe('noisy neighbour', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('noisy_neighbour');
    t.startWorkers();
  });
  afterAll(async () => {
    await t.close();
  });

  const post = (url: string, payload: object, headers: Record<string, string> = auth) =>
    t.app.inject({ method: 'POST', url, headers, payload });

  /** Seeds `TENANTS` quiet tenants, enables crm for all at once, and times each run's completion. */
  async function quietTenants(label: string): Promise<number[]> {
    const tenants = [];
    for (let i = 0; i < TENANTS; i += 1) {
      tenants.push(
        await seedTenant(t.db, {
          tenantName: `${label}-${i}`,
          organizations: 10,
          memberships: QUIET_MEMBERSHIPS,
          creditAllocations: 10,
          app: 'crm',
          seed: i,
        }),
      );
    }
    const startedAt = Date.now();
    const runIds = await Promise.all(
      tenants.map(async ({ tenantId }) => {
        const response = await post(`/admin/organizations/${tenantId}/applications/crm/toggle`, {
          isEnabled: true,
        });
        expect(response.statusCode, response.body).toBe(200);
        return response.json().runId as string;
      }),
    );
    const times: number[] = [];
    for (const runId of runIds) {
      const run = await t.waitForRun(runId, ['completed', 'failed', 'cancelled'], 120_000);
      expect(run.status).toBe('completed');
      for (const resource of run.resources) {
        expect(resource.published, `${runId} ${resource.resource}`).toBe(resource.total);
      }
      times.push((run.finished_at?.getTime() ?? Number.NaN) - startedAt);
    }
    return times.sort((a, b) => a - b);
  }

  /** The noisy tenant's own key, and everything it may start with it; returns a stop function. */
  async function startNoisyTenant() {
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'noisy',
      organizations: 200,
      memberships: NOISY_MEMBERSHIPS,
      creditAllocations: 200,
      app: 'crm',
      seed: 99,
    });
    const created = await post('/admin/api-keys', { name: 'noisy', tenantId });
    expect(created.statusCode, created.body).toBe(201);
    const key = { authorization: `Bearer ${created.json().key}` };
    const base = `/admin/organizations/${tenantId}/applications`;
    for (const app of ['hr', 'affiliate']) {
      await post(`${base}/${app}/toggle`, { isEnabled: true, skipHistoricalSync: true }, key);
    }
    await post(`${base}/crm/toggle`, { isEnabled: true, skipHistoricalSync: true }, key);
    // As many partitions and as large pages as a tenant key may ask for, at full speed...
    const most = { partitions: quotas.maxPartitions, pageSize: quotas.maxPageSize };
    expect((await post(`${base}/crm/sync-historical`, most, key)).statusCode).toBe(202);
    // ... a run throttled to 1 event/s on every partition ...
    const throttled = { ...most, maxEventsPerSecond: 1 };
    expect((await post(`${base}/hr/sync-historical`, throttled, key)).statusCode).toBe(202);
    // ... and sync + cancel as fast as the API answers.
    let looping = true;
    const answers = new Map<number, number>();
    const loop = (async () => {
      while (looping) {
        const sync = await post(`${base}/affiliate/sync-historical`, most, key);
        answers.set(sync.statusCode, (answers.get(sync.statusCode) ?? 0) + 1);
        const runId = sync.json().runId;
        if (runId) {
          await post(`/admin/organizations/${tenantId}/sync-runs/${runId}/cancel`, {}, key);
        } else {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    })();
    return async () => {
      looping = false;
      await loop;
      for (const app of ['crm', 'hr', 'affiliate']) {
        await post(`${base}/${app}/toggle`, { isEnabled: false }, key);
      }
      return answers;
    };
  }

  it('other tenants complete with the noisy tenant about as they do without it', async () => {
    const alone = await quietTenants('alone');
    const stopNoisy = await startNoisyTenant();
    let withNoisy: number[];
    let answers: Map<number, number>;
    try {
      withNoisy = await quietTenants('beside-noisy');
    } finally {
      answers = await stopNoisy();
    }

    const row = (name: string, times: number[]) =>
      `${name.padEnd(22)} p50 ${percentile(times, 50)} ms  p99 ${percentile(times, 99)} ms  max ${times.at(-1)} ms`;
    const ratio = percentile(withNoisy, 50) / Math.max(1, percentile(alone, 50));
    process.stdout.write(
      `\nnoisy neighbour: ${TENANTS} tenants x ${QUIET_MEMBERSHIPS} memberships\n` +
        `${row('alone', alone)}\n${row('beside a noisy tenant', withNoisy)}\n` +
        `p50 ratio ${ratio.toFixed(2)}; the noisy tenant's sync answers: ${JSON.stringify(Object.fromEntries(answers))}\n`,
    );
    expect(withNoisy).toHaveLength(TENANTS);
  }, 600_000);
});
