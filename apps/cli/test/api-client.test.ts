/**
 * The typed client the CLI and the console share (`@historical-sync/client`), against the real
 * API process: a route named by its table key, its path parameters filled in and encoded, the
 * query's unset values left out, the body sent, the answer typed by the table; an event-stream
 * route opened; a refusal and no answer at all handed to the caller's own error.
 */
import { randomUUID } from 'node:crypto';
import { type ClientErrors, createClient, ROUTE_PATHS } from '@historical-sync/client';
import { ROUTES } from '@historical-sync/contracts';
import { findFreePort } from '@historical-sync/local-stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './helpers';

/** A refusal as the test reads it: the status and the API's error body. */
class Refused extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`refused ${status}`);
  }
}
const errors: ClientErrors = { refused: (response, body) => new Refused(response.status, body) };

async function refusal(request: Promise<unknown>): Promise<Refused> {
  const error = await request.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(Refused);
  return error as Refused;
}

describe('the shared API client', () => {
  let stack: Stack;
  let tenant: string;
  const client = () =>
    createClient({
      baseUrl: stack.cliEnv.HSYNC_API_URL as string,
      apiKey: stack.cliEnv.ADMIN_API_KEY as string,
      timeoutMs: 10_000,
      errors,
    });

  beforeAll(async () => {
    stack = await startStack('cli_client');
    tenant = stack.tenantId;
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('knows each route of the table by the same method and path', () => {
    expect(Object.keys(ROUTE_PATHS).sort()).toEqual(Object.keys(ROUTES).sort());
    for (const [name, entry] of Object.entries(ROUTES)) {
      expect(ROUTE_PATHS[name as keyof typeof ROUTE_PATHS]).toEqual({
        method: entry.method,
        path: entry.path,
      });
    }
  });

  it('fills and encodes path parameters, and leaves unset query values out', async () => {
    const api = client();
    const status = await api.call('getSyncStatus', { params: { orgId: tenant, appCode: 'crm' } });
    expect(status).toMatchObject({ tenantId: tenant, appCode: 'crm', isEnabled: false });

    // Encoded, the slash stays inside the parameter: the API names the field it refuses, where a
    // raw slash would have asked for a route that does not exist.
    const refused = await refusal(
      api.call('getSyncStatus', { params: { orgId: tenant, appCode: 'crm/sync-status' } }),
    );
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ field: 'appCode' });

    // '' and null are no filter: sent as such, the API would refuse an empty application code
    // and a status named "null".
    const page = await api.call('listRuns', {
      query: { tenantId: tenant, appCode: '', status: null, limit: 1 },
    });
    expect(page).toEqual({ runs: [], nextCursor: null });
    const tenants = await api.call('listTenants', { query: { q: tenant, limit: 1 } });
    expect(tenants.tenants.map((t) => t.tenantId)).toEqual([tenant]);
  });

  it('sends the body, answers the route type, and opens the run as an event stream', async () => {
    const api = client();
    const params = { orgId: tenant, appCode: 'crm' };
    const enabled = await api.call('toggleApplication', {
      params: { orgId: tenant, appId: 'crm' },
      body: { isEnabled: true, skipHistoricalSync: true },
    });
    expect(enabled).toMatchObject({ isEnabled: true, changed: true, runId: null });

    const counted = await api.call('syncHistorical', { params, body: { dryRun: true } });
    expect(counted).toMatchObject({ dryRun: true, appCode: 'crm', total: 70 });

    const started = await api.call('syncHistorical', { params, body: { syncCredits: false } });
    if ('dryRun' in started) throw new Error('a sync without dryRun answered counts');
    expect(started.created).toBe(true);

    const controller = new AbortController();
    const stream = await api.open('watchRun', {
      params: { orgId: tenant, runId: started.runId },
      signal: controller.signal,
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    const reader = (stream.body as ReadableStream<Uint8Array>)
      .pipeThrough(new TextDecoderStream())
      .getReader();
    let text = '';
    while (!text.includes('\n\n')) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
    }
    controller.abort();
    expect(text).toMatch(/^event: run\ndata: /);
    expect(text).toContain(`"runId":"${started.runId}"`);

    // A POST without a body (a control) is sent `{}`; an unknown run is the API's 404 naming it.
    const unknown = await refusal(
      api.call('pauseRun', { params: { orgId: tenant, runId: randomUUID() } }),
    );
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: 'not_found', field: 'runId' });
  });

  it('hands a request that got no answer to the caller, or rejects with fetch’s own error', async () => {
    const baseUrl = `http://127.0.0.1:${await findFreePort()}`;
    const seen: unknown[] = [];
    const wrapped = createClient({
      baseUrl,
      apiKey: 'k',
      errors: {
        ...errors,
        unreachable: (error) => {
          seen.push(error);
          return new Error('no answer');
        },
      },
    });
    await expect(wrapped.call('getSystem')).rejects.toThrow('no answer');
    expect(seen).toHaveLength(1);

    const plain = createClient({ baseUrl, apiKey: 'k', errors });
    await expect(plain.call('getSystem')).rejects.toBeInstanceOf(TypeError);
  });
});
