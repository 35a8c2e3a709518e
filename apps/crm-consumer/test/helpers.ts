/** The CRM as its own processes (consumer, replay command), and its projection against the source. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createDb, createPool, type Db } from '@historical-sync/db';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { CrmDatabase } from '../src/schema';

const APP_ROOT = fileURLToPath(new URL('..', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export interface Command {
  child: ChildProcess;
  output(): string;
  exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
  stop(): Promise<void>;
}

/** Runs one of the CRM's entry points (`src/main.ts`) as its own process. */
export function runCrm(entry: string, env: NodeJS.ProcessEnv): Command {
  return run(process.execPath, ['--import', 'tsx', entry], APP_ROOT, env);
}

/** Runs an npm script from the repository's root, as a person types it. */
export function runNpm(args: string[], env: NodeJS.ProcessEnv): Command {
  return run('npm', args, REPO_ROOT, env);
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Command {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  return {
    child,
    output: () => output,
    exit: () => exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The JSON log lines of a process's output whose message matches `pattern`. */
export function logLines(output: string, pattern: RegExp): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => pattern.test(String(line.msg)));
}

/**
 * Row-by-row differences between the wrapper's state of a tenant and the CRM's projection of it.
 * Rows the wrapper holds inactive may be absent from the CRM (never sent to it: a backfill sends
 * the active state) but must match when present.
 */
export async function projectionDifferences(
  wrapper: Db,
  crmUrl: string,
  tenantId: string,
): Promise<string[]> {
  const crm = createDb({ connectionString: crmUrl, maxConnections: 1 });
  try {
    const rows = async (db: Db, query: string) =>
      new Map(
        (await sql<Record<string, unknown>>`${sql.raw(query)}`.execute(db)).rows.map((r) => [
          r.id as string,
          JSON.stringify(r),
        ]),
      );
    const diffs: string[] = [];
    const compare = async (
      label: string,
      source: string,
      projection: string,
      mustHave: (row: Record<string, unknown>) => boolean,
    ) => {
      const wanted = await rows(wrapper, source);
      const held = await rows(crm, projection);
      for (const [id, row] of wanted) {
        const projected = held.get(id);
        if (projected === undefined) {
          if (mustHave(JSON.parse(row))) diffs.push(`${label} ${id} missing in CRM: ${row}`);
        } else if (projected !== row) {
          diffs.push(`${label} ${id} differs:\n  wrapper ${row}\n  crm     ${projected}`);
        }
      }
      for (const id of held.keys()) if (!wanted.has(id)) diffs.push(`${label} ${id} in CRM only`);
    };
    const where = `WHERE tenant_id = '${tenantId}'`;
    await compare(
      'organization',
      `SELECT id, code, name, description, industry, website, parent_id, is_active, version FROM entities ${where} AND entity_type = 'organization'`,
      `SELECT id, code, name, description, industry, website, parent_id, is_active, version FROM crm_organizations ${where}`,
      () => true,
    );
    await compare(
      'membership',
      `SELECT id, user_id, organization_id, role, is_active, version FROM organization_memberships ${where}`,
      `SELECT id, user_id, organization_id, role, is_active, version FROM crm_memberships ${where}`,
      (row) => row.is_active === true,
    );
    await compare(
      'credit allocation',
      `SELECT id, entity_id, allocated_amount AS amount, available_credits, expires_at, is_active, version FROM credit_allocations ${where} AND target_application = 'crm'`,
      `SELECT id, entity_id, amount, available_credits, expires_at, is_active, version FROM crm_credit_allocations ${where}`,
      (row) => row.is_active === true,
    );
    return diffs;
  } finally {
    await crm.destroy();
  }
}

/** The CRM's record of a run (its markers, dead letters and completion). */
export async function crmRun(crmUrl: string, runId: string) {
  const db = new Kysely<CrmDatabase>({
    dialect: new PostgresDialect({
      pool: createPool({ connectionString: crmUrl, maxConnections: 1 }),
    }),
  });
  try {
    return await db
      .selectFrom('crm_sync_runs')
      .selectAll()
      .where('run_id', '=', runId)
      .executeTakeFirst();
  } finally {
    await db.destroy();
  }
}

/** Polls until `check` is true (outside a test, where expect.poll is not available). */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
