/** `npm run db:migrate`: applies pending migrations to DATABASE_URL (or the local dev database). */
import { createDb, migrateToLatest } from '@historical-sync/db';
import { runMain, startDevServices } from './lib/dev-services';

runMain(async () => {
  const services = await startDevServices({ withRedis: false, announce: 'db:migrate' });
  const db = createDb({ connectionString: services.databaseUrl, maxConnections: 1 });
  try {
    const { results = [] } = await migrateToLatest(db);
    for (const r of results) process.stdout.write(`${r.status}: ${r.migrationName}\n`);
    process.stdout.write(
      results.length ? `applied ${results.length} migration(s)\n` : 'already up to date\n',
    );
  } finally {
    await db.destroy();
    await services.stop();
  }
});
