/**
 * Resources are the registry's (contracts, resources.ts; docs/ADDING-A-RESOURCE.md): a run's
 * resources and the outbox's aggregates are no longer limited to the three built-ins' names by a
 * CHECK that each new resource would have to alter. The names come from the code, which validates
 * them at the edge (the API's schemas, the job payload's).
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE backfill_run_resources DROP CONSTRAINT backfill_run_resources_resource_check
  `.execute(db);
  await sql`ALTER TABLE outbox DROP CONSTRAINT outbox_aggregate_check`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE backfill_run_resources ADD CONSTRAINT backfill_run_resources_resource_check
      CHECK (resource IN ('credits', 'organizations', 'memberships'))
  `.execute(db);
  await sql`
    ALTER TABLE outbox ADD CONSTRAINT outbox_aggregate_check
      CHECK (aggregate IN ('credit', 'organization', 'membership'))
  `.execute(db);
}
