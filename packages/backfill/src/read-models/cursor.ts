/** Opaque keyset cursors: the sort key of a page's last row, as base64url JSON. */
import { SyncError } from '@historical-sync/domain';

class BadCursorError extends SyncError {
  constructor() {
    super(400, 'bad_request', 'cursor: is not one this API gave', 'cursor');
  }
}

export function encodeCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * A NUL, or half of a surrogate pair. Postgres text holds neither: sent as a parameter, a NUL
 * fails the whole statement (a 500) and a lone surrogate silently becomes U+FFFD. Every part of a
 * cursor's key comes from Postgres text, so neither can be in a cursor this API gave.
 */
const NOT_POSTGRES_TEXT = /[\0\p{Cs}]/u;

/** Whether Postgres text can hold `text` as it is (see NOT_POSTGRES_TEXT). */
export const isPostgresText = (text: string): boolean => !NOT_POSTGRES_TEXT.test(text);

/** What one part of a cursor's key must be: a pattern, or a check a pattern cannot express. */
export type CursorPart = RegExp | ((part: string) => boolean);

const matches = (part: string, shape: CursorPart): boolean =>
  shape instanceof RegExp ? shape.test(part) : shape(part);

/**
 * The key a cursor holds, checked against `shape` and for text Postgres can hold; a 400 naming
 * `cursor` when it is not one this API gave, before any query sees it.
 */
export function decodeCursor(cursor: string, shape: readonly CursorPart[]): string[] {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  if (
    !Array.isArray(key) ||
    key.length !== shape.length ||
    !key.every(
      (part, i) =>
        typeof part === 'string' && isPostgresText(part) && matches(part, shape[i] as CursorPart),
    )
  ) {
    throw new BadCursorError();
  }
  return key as string[];
}
