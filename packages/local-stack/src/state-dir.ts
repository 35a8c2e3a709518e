import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The workspace root: the nearest folder upwards whose package.json declares workspaces. */
export function findWorkspaceRoot(from = process.cwd()): string {
  let dir = resolve(from);
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).workspaces) return dir;
    const parent = dirname(dir);
    if (parent === dir) return resolve(from);
    dir = parent;
  }
}

/** Where local servers keep data: `LOCAL_STATE_DIR`, else `.data/` at the workspace root. */
export function localStateDir(name: string, from?: string): string {
  return join(process.env.LOCAL_STATE_DIR ?? join(findWorkspaceRoot(from), '.data'), name);
}
