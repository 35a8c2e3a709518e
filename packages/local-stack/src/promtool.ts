/**
 * Finds Prometheus's `promtool` for the tests that check the metrics the processes serve,
 * installing Debian's `prometheus` package (which ships it) when it is missing and this process
 * may (root with apt-get), as Chromium, Postgres and Redis are; otherwise the error says what to
 * install. `PROMTOOL_PATH` names the tool and is then the only place looked at.
 */
import { accessSync, constants } from 'node:fs';
import { aptInstall } from './apt';
import { execFileAsync } from './process';

export const PROMTOOL_INSTALL_HINT =
  'promtool was not found. Install it (Debian/Ubuntu: apt-get install --no-install-recommends ' +
  'prometheus; macOS: brew install prometheus) or set PROMTOOL_PATH to its executable. As root ' +
  'on Debian/Ubuntu, the tests install it themselves.';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function locatePromtool(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('/bin/sh', ['-c', 'command -v promtool'], { env });
    const path = stdout.trim();
    return path && isExecutable(path) ? path : undefined;
  } catch {
    return undefined; // not on PATH
  }
}

export interface FindPromtoolOptions {
  env?: NodeJS.ProcessEnv;
  /** Install when missing (default: when this process may, i.e. root with apt-get). */
  mayInstall?: boolean;
}

export async function findPromtool(options: FindPromtoolOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const named = env.PROMTOOL_PATH;
  if (named) {
    if (isExecutable(named)) return named;
    throw new Error(`PROMTOOL_PATH (${named}) is not an executable file. ${PROMTOOL_INSTALL_HINT}`);
  }
  const found = await locatePromtool(env);
  if (found) return found;
  if (options.mayInstall === false) throw new Error(PROMTOOL_INSTALL_HINT);
  // Without recommends (aptInstall's rule): the node exporter it recommends is not needed.
  await aptInstall(['prometheus'], PROMTOOL_INSTALL_HINT);
  const installed = await locatePromtool(env);
  if (!installed) throw new Error(PROMTOOL_INSTALL_HINT);
  return installed;
}
