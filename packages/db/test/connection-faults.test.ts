/**
 * Connections that break under a process: the pool survives it (an unhandled 'error' event would
 * end the process, as a Postgres restart did to the worker before), and a session frozen inside a
 * transaction loses its locks instead of holding up everyone else. test/faults.test.ts shows both
 * end to end (Postgres restarted mid-run; a worker frozen with SIGSTOP).
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../src/client';
import { createTestDatabase, type TestDatabase } from '../src/testing';

describe('connection faults', () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase('connection_faults');
  });
  afterAll(async () => {
    await test.destroy();
  });

  it('ends a session idle in a transaction after the timeout, releasing its locks; the process lives on', async () => {
    const errors: Error[] = [];
    const frozen = createDb({
      connectionString: test.url,
      maxConnections: 1,
      idleInTransactionTimeoutMs: 300,
      onConnectionError: (error) => errors.push(error),
    });
    const other = createDb({ connectionString: test.url, maxConnections: 1 });
    try {
      // The default applies to every pool.
      const { rows } = await sql<{ t: string }>`
        SELECT current_setting('idle_in_transaction_session_timeout') AS t
      `.execute(other);
      expect(rows[0]?.t).toBe('15s');

      let locked!: () => void;
      const holding = new Promise<void>((resolve) => {
        locked = resolve;
      });
      // Takes a lock, then stops issuing queries (as a process frozen mid-transaction would).
      const transaction = frozen.transaction().execute(async (trx) => {
        await sql`SELECT pg_advisory_xact_lock(4242)`.execute(trx);
        locked();
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        await sql`SELECT 1`.execute(trx);
      });
      transaction.catch(() => {});
      await holding;
      const started = Date.now();
      await other.transaction().execute(async (trx) => {
        await sql`SELECT pg_advisory_xact_lock(4242)`.execute(trx);
      });
      expect(Date.now() - started).toBeLessThan(1_400);

      await expect(transaction).rejects.toThrow();
      expect(errors.map((e) => e.message).join('\n')).toMatch(/idle-in-transaction timeout/);
      // The pool replaced the broken connection.
      expect((await sql<{ one: number }>`SELECT 1 AS one`.execute(frozen)).rows).toEqual([
        { one: 1 },
      ]);
    } finally {
      await frozen.destroy();
      await other.destroy();
    }
  });
});
