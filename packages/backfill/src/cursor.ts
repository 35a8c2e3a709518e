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

/** The key a cursor holds, checked against `shape`; a 400 naming `cursor` when it is not one. */
export function decodeCursor(cursor: string, shape: readonly RegExp[]): string[] {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  if (
    !Array.isArray(key) ||
    key.length !== shape.length ||
    !key.every((part, i) => typeof part === 'string' && (shape[i] as RegExp).test(part))
  ) {
    throw new BadCursorError();
  }
  return key as string[];
}
