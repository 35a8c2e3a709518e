/**
 * An outbox row whose payload is no longer a valid event (edited by hand, or written by an older
 * schema) is set aside with its reason instead of blocking the relay: every other row goes on.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE outbox ADD COLUMN failed_reason text`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE outbox DROP COLUMN failed_reason`.execute(db);
}
