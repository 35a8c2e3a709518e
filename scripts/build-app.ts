/**
 * `build` of a workspace that runs in production (and of the root's migration script): bundles
 * the entry points given (paths relative to the current folder) into dist/, after a clean, so
 * dist/ holds exactly this build. See scripts/lib/bundle.ts.
 *   node --import tsx ../../scripts/build-app.ts src/main.ts
 */
import { relative } from 'node:path';
import { bundle, clean } from './lib/bundle';

const entries = process.argv.slice(2);
if (entries.length === 0) {
  process.stderr.write('usage: build-app.ts <entry.ts>...\n');
  process.exit(2);
}
const cwd = process.cwd();
await clean(cwd);
const { outputs } = await bundle({ cwd, entries });
process.stdout.write(`built ${outputs.map((o) => relative(cwd, o)).join(', ')}\n`);
