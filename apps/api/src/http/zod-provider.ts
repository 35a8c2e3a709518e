/**
 * The zod type provider for a scope: requests validated by the routes' zod schemas, answering a
 * 400 that names the field like every other route (parseRequest), and responses serialized
 * through their schemas (a body that does not match them is a 500, never a leak of extra fields).
 */
import type { FastifyInstance } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { parseRequest } from './parse';

const PART: Record<string, 'body' | 'params' | 'query'> = {
  body: 'body',
  params: 'params',
  querystring: 'query',
};

export function withZod(scope: FastifyInstance) {
  scope.setValidatorCompiler(({ schema, httpPart }) => (data: unknown) => {
    try {
      return { value: parseRequest(schema as z.ZodType, data, PART[httpPart ?? ''] ?? 'query') };
    } catch (error) {
      return { error: error as Error };
    }
  });
  scope.setSerializerCompiler(serializerCompiler);
  return scope.withTypeProvider<ZodTypeProvider>();
}
