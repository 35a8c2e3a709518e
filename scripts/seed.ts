/**
 * `npm run seed -- --orgs N --memberships M --credits K --app crm [--tenant NAME] [--seed S]`
 * Creates one tenant with that data. The last line printed is one JSON object with `tenantId`.
 */
import { parseArgs } from 'node:util';
import { createDb, migrateToLatest, type SeedProgress, seedTenant } from '@historical-sync/db';
import { z } from 'zod';
import { runMain, startDevServices } from './lib/dev-services';

const count = z.coerce.number().int().min(0).max(100_000_000);
const Args = z.strictObject({
  orgs: count.default(10),
  memberships: count.default(100),
  credits: count.default(10),
  app: z.string().min(1).default('crm'),
  tenant: z.string().min(1).max(200).optional(),
  seed: z.coerce.number().int().default(1),
});

function parseCommandLine() {
  const { values } = parseArgs({
    options: {
      orgs: { type: 'string' },
      memberships: { type: 'string' },
      credits: { type: 'string' },
      app: { type: 'string' },
      tenant: { type: 'string' },
      seed: { type: 'string' },
    },
    strict: true,
  });
  const parsed = Args.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`--${issue?.path.join('.')}: ${issue?.message}`);
  }
  return parsed.data;
}

function progressPrinter() {
  // Progress only on a terminal; piped output stays clean for the JSON line.
  if (!process.stderr.isTTY) return undefined;
  return (p: SeedProgress) => {
    const percent = Math.floor((100 * p.done) / Math.max(p.total, 1));
    process.stderr.write(`\rseeding ${p.table}: ${p.done}/${p.total} (${percent}%)\x1b[K`);
    if (p.done === p.total) process.stderr.write('\n');
  };
}

runMain(async () => {
  const args = parseCommandLine();
  const services = await startDevServices({ withRedis: false, announce: 'seed' });
  const db = createDb({ connectionString: services.databaseUrl, maxConnections: 2 });
  try {
    await migrateToLatest(db);
    const startedAt = performance.now();
    const onProgress = progressPrinter();
    const result = await seedTenant(db, {
      tenantName: args.tenant ?? `tenant-${args.seed}`,
      organizations: args.orgs,
      memberships: args.memberships,
      creditAllocations: args.credits,
      app: args.app,
      seed: args.seed,
      ...(onProgress ? { onProgress } : {}),
    });
    const seconds = (performance.now() - startedAt) / 1000;
    process.stdout.write(`${JSON.stringify({ ...result, seconds: Number(seconds.toFixed(2)) })}\n`);
  } finally {
    await db.destroy();
    await services.stop();
  }
});
