/**
 * Bull Board (a third-party plugin under /admin/queues): its pages, JSON API and static files.
 * It has no schemas of ours to derive from, so its routes are listed here by hand.
 */
import fc from 'fast-check';
import {
  hostileString,
  PATH_TRAVERSALS,
  type ParamValue,
  plainJsonValue,
  Ref,
  uuid,
} from './hostile-values';
import { type Body, jsonHeaders, queryString } from './requests';

export const BOARD_QUEUES = [
  'backfill-runs',
  'backfill-credits',
  'backfill-organizations',
  'backfill-memberships',
];
const BOARD = '/admin/queues';

/** A queue name: one of ours (only where the route reads) or a hostile one. */
const hostileQueueName = fc.oneof(
  fc.constantFrom(
    'nope',
    'BACKFILL-RUNS',
    'backfill-runs ',
    'bull',
    '*',
    '__proto__',
    'constructor',
  ),
  hostileString.filter((s) => s.length > 0 && !BOARD_QUEUES.includes(s)),
);
const hostileJobId = fc.oneof(
  uuid,
  fc.constantFrom('0', '-1', '1e9', 'repeat:x', '__proto__', 'id:with:colons', '*', '?'),
  hostileString.filter((s) => s.length > 0),
);
const jobStatus = fc.oneof(
  fc.constantFrom('failed ', 'FAILED', 'all', '*', 'latest', 'active\u0000'),
  hostileString,
);

type Segment = string | fc.Arbitrary<ParamValue>;
const lit = (a: fc.Arbitrary<string>): fc.Arbitrary<ParamValue> =>
  a.map((literal) => ({ literal }));
const ourQueue = lit(fc.constantFrom(...BOARD_QUEUES));
const anyQueue = fc.oneof(ourQueue, lit(hostileQueueName));
/** Job ids: a run's id on the runs queue (a real job), or hostile ones. */
const anyJob = fc.oneof(
  fc.nat().map((n): ParamValue => new Ref('run', n)),
  lit(hostileJobId),
);

/**
 * [method, path segments]. Routes that change jobs or queues get a hostile queue or job (so
 * they 404 and must change nothing); reads get real ones too.
 */
const BOARD_ROUTES: Array<[string, Segment[]]> = [
  ['GET', ['']],
  ['GET', ['/']],
  ['GET', ['/metrics-history']],
  ['GET', ['/job-schedulers']],
  ['GET', ['/api/queues']],
  ['GET', ['/api/redis/stats']],
  ['GET', ['/api/job-schedulers']],
  ['GET', ['/queue/', anyQueue]],
  ['GET', ['/queue/', anyQueue, '/', anyJob]],
  ...['metrics', 'default-job-options', 'workers', 'rate-limit', 'job-data-schema'].map(
    (tail): [string, Segment[]] => ['GET', ['/api/queues/', anyQueue, `/${tail}`]],
  ),
  ['GET', ['/api/queues/', anyQueue, '/', anyJob]],
  ['GET', ['/api/queues/', anyQueue, '/', anyJob, '/logs']],
  ['GET', ['/api/queues/', anyQueue, '/', anyJob, '/flow']],
  // Static files: traversal out of the board's folder.
  [
    'GET',
    [
      '/static/',
      fc
        .constantFrom(
          ...PATH_TRAVERSALS,
          '../../../../package.json',
          '..%2F..%2F..%2F..%2Fpackage.json',
          '%2e%2e/%2e%2e/%2e%2e/%2e%2e/package.json',
          '..%5C..%5C..%5C..%5Cpackage.json',
          '%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
          '....//....//....//etc/passwd',
        )
        .map((literal): ParamValue => ({ literal, raw: true })),
    ],
  ],
  ...[
    'pause',
    'resume',
    'empty',
    'obliterate',
    'promote',
    'concurrency',
    'rate-limit',
    'rate-limit/release',
  ].map((tail): [string, Segment[]] => [
    'PUT',
    ['/api/queues/', lit(hostileQueueName), `/${tail}`],
  ]),
  // Every queue at once: refused (403) unless the board is writable.
  ['PUT', ['/api/queues/pause']],
  ['PUT', ['/api/queues/resume']],
  ['POST', ['/api/queues/', lit(hostileQueueName), '/add']],
  ['PUT', ['/api/queues/', anyQueue, '/retry/', lit(jobStatus)]],
  ['PUT', ['/api/queues/', anyQueue, '/clean/', lit(jobStatus)]],
  ['PATCH', ['/api/queues/', anyQueue, '/job-schedulers/', lit(hostileJobId)]],
  ['PUT', ['/api/queues/', anyQueue, '/job-schedulers/', lit(hostileJobId), '/remove']],
  ['PUT', ['/api/queues/', anyQueue, '/job-schedulers/', lit(hostileJobId), '/run']],
  ...['retry', 'clean', 'promote', 'remove-unprocessed-children'].map(
    (tail): [string, Segment[]] => [
      'PUT',
      ['/api/queues/', anyQueue, '/', lit(hostileJobId), `/${tail}`],
    ],
  ),
  ...['update-data', 'delay', 'priority'].map((tail): [string, Segment[]] => [
    'PATCH',
    ['/api/queues/', anyQueue, '/', lit(hostileJobId), `/${tail}`],
  ]),
];

export interface BoardRequest {
  method: string;
  /** Path segments below /admin/queues: literal text, or values to encode when sent. */
  segments: Array<string | ParamValue>;
  query: string;
  headers: Record<string, string>;
  body?: Body;
  withoutAdminKey?: boolean;
  /** Credentials were wrong: must be refused. */
  mustReject: boolean;
}

export const BOARD_PREFIX = BOARD;

/** The board routes these models reach, as Fastify patterns (`:param` for a generated segment). */
export const BOARD_ROUTE_MODELS = BOARD_ROUTES.map(([method, segments]) => ({
  method,
  path: BOARD + segments.map((s) => (typeof s === 'string' ? s : ':param')).join(''),
}));

export const boardRequest: fc.Arbitrary<BoardRequest> = fc
  .tuple(
    fc.constantFrom(...BOARD_ROUTES),
    fc.option(plainJsonValue(3), { nil: undefined }),
    queryString,
    fc.option(
      fc.constantFrom<Record<string, string>>(
        {},
        { authorization: 'Bearer wrong-key-0123456789' },
        { authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` },
        {
          authorization: `Basic ${Buffer.from('root:test-admin-key-0123456789').toString('base64')}`,
        },
        { authorization: 'Basic %%%' },
      ),
      { freq: 4, nil: undefined },
    ),
  )
  .chain(([[method, segments], body, query, credentials]) =>
    fc
      .tuple(...segments.map((s) => (typeof s === 'string' ? fc.constant(s) : s)))
      .map((values): BoardRequest => {
        const withBody = body !== undefined && method !== 'GET';
        return {
          method,
          segments: values,
          query,
          headers: { ...(withBody ? jsonHeaders : {}), ...credentials },
          ...(withBody ? { body: { kind: 'json', value: body } as Body } : {}),
          ...(credentials ? { withoutAdminKey: true } : {}),
          mustReject: credentials !== undefined,
        };
      }),
  );
