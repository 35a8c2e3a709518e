import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bundle } from './bundle';

export interface AppEntry {
  name: string;
  /** The workspace folder, relative to the repository root. */
  workspace: string;
  /** Its entry point in development (run through tsx), relative to the root. */
  entry: string;
  /** The same entry compiled by its `build` (scripts/lib/bundle.ts), run with plain node. */
  compiled: string;
}

const app = (name: string): AppEntry => ({
  name,
  workspace: `apps/${name}`,
  entry: `apps/${name}/src/main.ts`,
  compiled: `apps/${name}/dist/main.js`,
});

/** The long-running processes `npm start` runs, in start order; missing entries are skipped. */
export const APP_ENTRIES: AppEntry[] = [app('api'), app('worker'), app('crm-consumer')];

/** The root's one-shot migration command, in both forms (the image runs it before the apps). */
export const MIGRATE_ENTRY = { entry: 'scripts/db-migrate.ts', compiled: 'dist/db-migrate.js' };

export function presentApps(root: string) {
  return APP_ENTRIES.filter((app) => existsSync(join(root, app.entry)));
}

/** How node runs an app: its TypeScript through tsx (development), or its compiled entry. */
export function nodeArgs(app: AppEntry, compiled: boolean): string[] {
  return compiled ? [app.compiled] : ['--import', 'tsx', app.entry];
}

/**
 * Compiles the apps' entry points (the bundling half of their `build`, without its type check:
 * seconds), so that plain node can run them. Returns the compiled entries.
 */
export async function compileApps(root: string, apps: AppEntry[]): Promise<string[]> {
  const outputs = await Promise.all(
    apps.map(async (app) => {
      const cwd = join(root, app.workspace);
      const { outputs } = await bundle({
        cwd,
        entries: [app.entry.slice(app.workspace.length + 1)],
      });
      return outputs;
    }),
  );
  return outputs.flat();
}
