/**
 * The package's use cases name what was unknown (a tenant, an application, a run), never a
 * request field: the API maps the kind to the field its route took the id from.
 */
import { randomUUID } from 'node:crypto';
import { UnknownEntityError } from '@historical-sync/domain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlRun } from '../src/runs/controls';
import { getApplication, getTenant } from '../src/runs/tenants';
import { type BackfillTestContext, createBackfillTestContext } from '../src/testing';

describe('unknown entities', () => {
  let t: BackfillTestContext;
  beforeAll(async () => {
    t = await createBackfillTestContext('unknown_entities');
  });
  afterAll(async () => {
    await t?.close();
  });

  const refusal = async (attempt: Promise<unknown>) => {
    const error = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UnknownEntityError);
    const { entity, field, statusCode } = error as UnknownEntityError;
    return { entity, field, statusCode };
  };

  it('say which kind of thing was unknown, and name no request field', async () => {
    const tenantId = randomUUID();
    expect(await refusal(getTenant(t.db, tenantId))).toEqual({
      entity: 'tenant',
      field: undefined,
      statusCode: 404,
    });
    expect(await refusal(getApplication(t.db, 'nope'))).toEqual({
      entity: 'application',
      field: undefined,
      statusCode: 404,
    });
    expect(await refusal(controlRun(t.db, t.barrier, tenantId, randomUUID(), 'pause'))).toEqual({
      entity: 'run',
      field: undefined,
      statusCode: 404,
    });
  });
});
