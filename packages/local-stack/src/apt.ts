import { commandExists, execFileAsync, isRoot } from './process';

/** One apt-get at a time from this process (Postgres and Redis are installed in parallel starts). */
let queue: Promise<unknown> = Promise.resolve();

/**
 * Installs Debian packages when the process may (root with apt-get); otherwise throws `hint`.
 * Runs `apt-get update` first because a fresh machine's package lists may be empty. Waits for
 * another apt-get's lock (another process installing) instead of failing on it.
 */
export async function aptInstall(packages: string[], hint: string): Promise<void> {
  if (!isRoot() || !(await commandExists('apt-get'))) {
    throw new Error(hint);
  }
  const install = queue.then(async () => {
    process.stderr.write(`local-stack: installing ${packages.join(' ')} with apt-get\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const options = { env, maxBuffer: 64 * 1024 * 1024 };
    const lock = ['-o', 'DPkg::Lock::Timeout=600'];
    await execFileAsync('apt-get', [...lock, 'update'], options);
    await execFileAsync(
      'apt-get',
      [...lock, 'install', '-y', '--no-install-recommends', ...packages],
      options,
    );
  });
  queue = install.catch(() => {});
  await install;
}
