/**
 * The console's one way to the API: every request carries the signed-in key as a Bearer token.
 * No cookies: `credentials: 'omit'`, so nothing ambient ever authenticates a request.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export interface Api {
  get<T>(path: string, signal?: AbortSignal): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  /** The raw response of a streaming request (the run's live view). */
  stream(path: string, signal: AbortSignal): Promise<Response>;
}

export function createApi(key: string): Api {
  const headers = (json: boolean): Record<string, string> => ({
    authorization: `Bearer ${key}`,
    ...(json ? { 'content-type': 'application/json' } : {}),
  });
  const send = async <T>(method: string, path: string, body?: unknown, signal?: AbortSignal) => {
    const response = await fetch(path, {
      method,
      headers: headers(body !== undefined),
      body: body === undefined ? null : JSON.stringify(body),
      credentials: 'omit',
      signal: signal ?? null,
    });
    const text = await response.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (!response.ok) {
      const error = (json ?? {}) as { message?: string; field?: string };
      throw new ApiError(
        response.status,
        error.message ?? `${response.status} ${response.statusText}`,
        error.field,
      );
    }
    return json as T;
  };
  return {
    get: (path, signal) => send('GET', path, undefined, signal),
    post: (path, body) => send('POST', path, body ?? {}),
    stream: (path, signal) =>
      fetch(path, {
        headers: { ...headers(false), accept: 'text/event-stream' },
        credentials: 'omit',
        signal,
      }),
  };
}

/** Query string of the set values only. */
export function query(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
