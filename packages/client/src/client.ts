/**
 * The admin API's client: `client.call('getRun', { params: { orgId, runId } })` builds the URL
 * from the route's template, sends the key and the JSON body, and answers the route's type from
 * the route table. The types come from the contracts; only method and path strings are code here,
 * so a page using this carries no schema library.
 *
 * A failure becomes the caller's own error (`ClientErrors`): the CLI prints one line naming the
 * API's error, the console shows the message and reads the status.
 */
import type {
  EventRouteName,
  JsonRouteName,
  RouteAnswer,
  RouteInput,
  RouteName,
} from '@historical-sync/contracts';
import { ROUTE_PATHS } from './paths';

/** How a failed request becomes the caller's error. */
export interface ClientErrors {
  /** No answer at all: nothing listens, DNS, a timeout, an abort. Default: fetch's own error. */
  unreachable?(error: unknown): Error;
  /** An answer whose body is not JSON (a proxy's page, not the API). */
  notJson?(request: { method: string; url: string }, response: Response): Error;
  /** An error status; `body` is the API's error body (`ApiError`) when it sent one. */
  refused(response: Response, body: unknown): Error;
}

export interface ClientOptions {
  /** Prepended to every path: the API's origin, or '' for the page's own (the console). */
  baseUrl: string;
  apiKey: string;
  /** A request that takes longer is abandoned, so a hung API never hangs its caller. */
  timeoutMs?: number;
  /** `'omit'` in a browser: nothing ambient (a cookie) ever authenticates a request. */
  credentials?: RequestInit['credentials'];
  errors: ClientErrors;
}

/** The input argument: optional where the route needs nothing (no params, no required body). */
type InputArgs<N extends RouteName> =
  object extends RouteInput<N> ? [input?: RouteInput<N>] : [input: RouteInput<N>];

export interface Client {
  /** Sends the request and answers its JSON, typed by the route's success statuses. */
  call<N extends JsonRouteName>(name: N, ...input: InputArgs<N>): Promise<RouteAnswer<N>>;
  /**
   * Opens an event-stream route and answers the raw response (read its body as it comes); a
   * refusal is the response's status, not an error, so the caller can fall back.
   */
  open<N extends EventRouteName>(name: N, ...input: InputArgs<N>): Promise<Response>;
}

/** `/admin/organizations/:orgId/…` with each `:name` replaced by its value, encoded. */
function fillPath(template: string, params: Record<string, unknown> = {}): string {
  return template.replace(/:(\w+)/g, (_, name: string) => {
    const value = params[name];
    // The types make every parameter required; a caller casting its way past them learns here.
    if (value === undefined || value === null)
      throw new Error(`${template}: no value for :${name}`);
    return encodeURIComponent(String(value));
  });
}

/** `?a=1&b=x` of the set values only ('' when none): an unset filter is no filter. */
function queryString(query: Record<string, unknown> = {}): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export function createClient(options: ClientOptions): Client {
  const base = options.baseUrl.replace(/\/+$/, '');
  const { errors } = options;

  const send = async (
    name: RouteName,
    input: { params?: object; query?: object; body?: unknown; signal?: AbortSignal } = {},
    accept?: string,
  ) => {
    const { method, path } = ROUTE_PATHS[name];
    const url = `${base}${fillPath(path, input.params as Record<string, unknown>)}${queryString(
      input.query as Record<string, unknown>,
    )}`;
    // The API reads a POST or PATCH without a body as `{}`; sending `{}` says the same plainly.
    const body = input.body ?? (method === 'POST' || method === 'PATCH' ? {} : undefined);
    const signals = [
      ...(input.signal ? [input.signal] : []),
      ...(options.timeoutMs ? [AbortSignal.timeout(options.timeoutMs)] : []),
    ];
    try {
      const response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${options.apiKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(accept ? { accept } : {}),
        },
        body: body === undefined ? null : JSON.stringify(body),
        ...(options.credentials ? { credentials: options.credentials } : {}),
        signal: signals.length > 1 ? AbortSignal.any(signals) : (signals[0] ?? null),
      });
      return { method, url, response };
    } catch (error) {
      throw errors.unreachable ? errors.unreachable(error) : error;
    }
  };

  return {
    call: async (name, ...[input]) => {
      const { method, url, response } = await send(name, input);
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        throw errors.notJson
          ? errors.notJson({ method, url }, response)
          : new Error(`${method} ${url} answered ${response.status} with a body that is not JSON`);
      }
      if (!response.ok) throw errors.refused(response, parsed);
      // The API serialises each answer through the route's response schema: this is its type.
      return parsed as RouteAnswer<typeof name>;
    },
    open: async (name, ...[input]) => (await send(name, input, 'text/event-stream')).response,
  };
}
