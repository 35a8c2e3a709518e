import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The long-running processes `npm start` runs, in start order; missing entries are skipped. */
export const APP_ENTRIES: { name: string; entry: string }[] = [
  { name: 'api', entry: 'apps/api/src/main.ts' },
  { name: 'worker', entry: 'apps/worker/src/main.ts' },
  { name: 'crm-consumer', entry: 'apps/crm-consumer/src/main.ts' },
];

export function presentApps(root: string) {
  return APP_ENTRIES.filter((app) => existsSync(join(root, app.entry)));
}
