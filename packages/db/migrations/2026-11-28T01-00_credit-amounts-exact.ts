/**
 * Credit amounts are exact for every reader of the events: at most 2^53 - 1. Events carry amounts
 * as JSON numbers, and the event contract (packages/contracts, `z.number().int()`) accepts only
 * integers a JSON reader holds exactly, as JavaScript's are. A larger amount passed the backfill
 * (which publishes the row's digits without parsing them) and was set aside by the relay (which
 * checks each event against the contract), and a consumer would have read it rounded. So the
 * database refuses it at the source, for every writer, and both paths publish the same exact
 * value. The API refuses it earlier, with a 400 naming the field.
 *
 * NOT VALID then VALIDATE: the check of the rows already there takes no lock that blocks writes.
 * A row over the limit fails this migration; fix it (or its writer) first.
 */
import { type Kysely, sql } from 'kysely';

const NAME = 'credit_allocations_amounts_exact_in_json';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE credit_allocations ADD CONSTRAINT ${sql.id(NAME)}
      CHECK (allocated_amount <= 9007199254740991 AND available_credits <= 9007199254740991)
      NOT VALID
  `.execute(db);
  await sql`ALTER TABLE credit_allocations VALIDATE CONSTRAINT ${sql.id(NAME)}`.execute(db);
  await sql`
    COMMENT ON CONSTRAINT ${sql.id(NAME)} ON credit_allocations IS
      'amount and availableCredits are at most 2^53 - 1, the largest integer every JSON reader holds exactly'
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE credit_allocations DROP CONSTRAINT ${sql.id(NAME)}`.execute(db);
}
