/**
 * Finds a Chromium for the browser tests, installing Debian's package when it is missing and
 * this process may (root with apt-get), as Postgres and Redis are; otherwise the error says what
 * to install. `CHROMIUM_PATH` names the browser and is then the only place looked at.
 */
import { accessSync, constants } from 'node:fs';
import { aptInstall } from './apt';
import { execFileAsync } from './process';

export const CHROMIUM_INSTALL_HINT =
  'Chromium was not found. Install it (Debian: apt-get install chromium; Ubuntu: apt-get ' +
  'install chromium-browser; macOS: brew install --cask chromium) or set CHROMIUM_PATH to its ' +
  'executable. As root on Debian/Ubuntu, the tests install it themselves.';

const NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function locateChromium(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const name of NAMES) {
    try {
      const { stdout } = await execFileAsync('/bin/sh', ['-c', `command -v ${name}`], { env });
      const path = stdout.trim();
      if (path && isExecutable(path)) return path;
    } catch {
      // not on PATH; try the next name
    }
  }
  return undefined;
}

/**
 * Flags every headless launch here uses: no sandbox (tests may run as root), no GPU, and none of
 * Chromium's background connections (updates, sync, QUIC), which a closed network refuses.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface FindChromiumOptions {
  env?: NodeJS.ProcessEnv;
  /** Install when missing (default: when this process may, i.e. root with apt-get). */
  mayInstall?: boolean;
}

export async function findChromium(options: FindChromiumOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const named = env.CHROMIUM_PATH;
  if (named) {
    if (isExecutable(named)) return named;
    throw new Error(`CHROMIUM_PATH (${named}) is not an executable file. ${CHROMIUM_INSTALL_HINT}`);
  }
  const found = await locateChromium(env);
  if (found) return found;
  if (options.mayInstall === false) throw new Error(CHROMIUM_INSTALL_HINT);
  await aptInstall(['chromium'], CHROMIUM_INSTALL_HINT);
  const installed = await locateChromium(env);
  if (!installed) throw new Error(CHROMIUM_INSTALL_HINT);
  return installed;
}
