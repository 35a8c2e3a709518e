/**
 * Runs one server (Postgres, redis-server) for the process that started it, and makes sure the
 * server never outlives that process: when the starter goes away, however it ended (SIGKILL
 * included), this guard's stdin closes and it stops the server in order, letting the apps the
 * starter ran finish first. Plain JavaScript, so it starts in a bare `node` without a loader.
 *
 * Usage: node server-guard.mjs '<json>' where json = { command, args, cwd, uid?, gid?,
 *   stopTimeoutMs, orphan: { kind: 'postgres' } | { kind: 'redis', port } }
 * Signals SIGINT / SIGTERM / SIGHUP sent to the guard are passed on to the server; the guard
 * exits when the server does, with its exit code.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';

const spec = JSON.parse(process.argv[2] ?? '{}');
const server = spawn(spec.command, spec.args, {
  cwd: spec.cwd,
  ...(spec.uid === undefined ? {} : { uid: spec.uid, gid: spec.gid }),
  stdio: ['ignore', 'inherit', 'inherit'],
});
server.once('error', (error) => {
  process.stderr.write(`server-guard: ${error.message}\n`);
  process.exit(1);
});
server.once('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));

let escalating = false;
function stopServer(signal) {
  if (server.exitCode !== null || server.signalCode !== null) return;
  server.kill(signal);
  if (escalating) return;
  escalating = true;
  setTimeout(() => server.kill('SIGKILL'), spec.stopTimeoutMs ?? 15_000).unref();
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => stopServer(signal));

/** Connected clients of a Redis server, the asking connection excluded; 0 when it cannot ask. */
function redisClients(port) {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (n) => {
      socket.destroy();
      resolve(n);
    };
    socket.setTimeout(1_000, () => done(0));
    socket.once('error', () => done(0));
    socket.once('connect', () => socket.write('INFO clients\r\n'));
    socket.on('data', (data) => {
      reply += data.toString();
      const match = reply.match(/connected_clients:(\d+)/);
      if (match) done(Number(match[1]) - 1);
    });
  });
}

async function onStarterGone() {
  const graceUntil = Date.now() + (spec.orphanGraceMs ?? 30_000);
  if (spec.orphan?.kind === 'postgres') {
    // Smart shutdown: Postgres waits for its clients (the apps, stopping on their own now) to
    // disconnect, then checkpoints and exits; a fast one if they are not gone in time.
    server.kill('SIGTERM');
    setTimeout(() => stopServer('SIGINT'), Math.max(0, graceUntil - Date.now())).unref();
    return;
  }
  if (spec.orphan?.kind === 'redis') {
    while (Date.now() < graceUntil && (await redisClients(spec.orphan.port)) > 0) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  stopServer('SIGTERM');
}

process.stdin.on('data', () => {});
process.stdin.once('close', () => void onStarterGone());
process.stdin.once('error', () => void onStarterGone());
