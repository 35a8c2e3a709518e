import { commandExists, execFileAsync, isRoot } from './process';

/**
 * Installs Debian packages when the process may (root with apt-get); otherwise throws `hint`.
 * Runs `apt-get update` first because a fresh machine's package lists may be empty.
 */
export async function aptInstall(packages: string[], hint: string): Promise<void> {
  if (!isRoot() || !(await commandExists('apt-get'))) {
    throw new Error(hint);
  }
  process.stderr.write(`local-stack: installing ${packages.join(' ')} with apt-get\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const options = { env, maxBuffer: 64 * 1024 * 1024 };
  await execFileAsync('apt-get', ['update'], options);
  await execFileAsync(
    'apt-get',
    ['install', '-y', '--no-install-recommends', ...packages],
    options,
  );
}
