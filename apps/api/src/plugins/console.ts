/**
 * Serves the operator console's built files (apps/console) at /console. The API finds them by a
 * path (`CONSOLE_DIR`), never by importing the console: apps do not depend on each other. When
 * the folder has no build, the API still starts and /console says how to make one.
 *
 * The files are public (a sign-in page and its script); every piece of data they show comes
 * from the key-guarded /admin routes. Their CSP is stricter than the rest of the API's (which
 * allows Bull Board's inline script): no inline script or style at all.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where the console is served; its page and files are not part of the API's document. */
export const CONSOLE_PATH = '/console';

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'self'",
  "form-action 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const BUILD_HINT =
  'The console is not built. Build it with `npm run build -w @historical-sync/console` ' +
  '(`npm start` and `npm test` build it when missing), then restart the API.';

/**
 * The repository's apps/console/dist: found upward from this file, so it holds from the sources
 * and from a compiled copy alike; else apps/console/dist under the working directory.
 */
export function defaultConsoleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'apps', 'console', 'package.json'))) {
      return join(dir, 'apps', 'console', 'dist');
    }
    const parent = dirname(dir);
    if (parent === dir) return join(process.cwd(), 'apps', 'console', 'dist');
    dir = parent;
  }
}

export async function registerConsole(app: FastifyInstance, consoleDir: string): Promise<void> {
  await app.register(async (scope) => {
    scope.addHook('onSend', async (_request, reply: FastifyReply, payload) => {
      reply.header('content-security-policy', CONSOLE_CSP);
      return payload;
    });
    if (!existsSync(join(consoleDir, 'index.html'))) {
      app.log.warn({ consoleDir }, 'console not built: /console explains how to build it');
      const notBuilt = async (_request: unknown, reply: FastifyReply) =>
        reply.status(503).type('text/plain; charset=utf-8').send(`${BUILD_HINT}\n`);
      scope.get(CONSOLE_PATH, { schema: { hide: true } }, notBuilt);
      scope.get(`${CONSOLE_PATH}/*`, { schema: { hide: true } }, notBuilt);
      return;
    }
    scope.get(CONSOLE_PATH, { schema: { hide: true } }, async (_request, reply) =>
      reply.redirect(`${CONSOLE_PATH}/`),
    );
    await scope.register(fastifyStatic, {
      root: consoleDir,
      prefix: '/console/',
      decorateReply: false,
      index: 'index.html',
      // Hashed asset names change with their content: cache them for good; index.html never.
      setHeaders: (reply, path) => {
        reply.header(
          'cache-control',
          path.endsWith('index.html') ? 'no-cache' : 'public, max-age=31536000, immutable',
        );
      },
    });
  });
}
