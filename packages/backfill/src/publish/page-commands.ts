/**
 * A page as Redis commands: the page query's rows read as Postgres sent them (a binary COPY,
 * page-bytes.ts) and framed as one XADD per event, so the worker never builds an event object.
 */
import type { Resource } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { type EventContext, type PageRequest, pageQuery, RESOURCE_DEFINITIONS } from '../resources';
import { type CopyRow, copyBinary, forEachRow, uuidText, xaddBytes } from './page-bytes';

/** A page rendered as Redis commands: what the worker publishes without touching each event. */
export interface RenderedPage {
  rows: number;
  /** The page's first row and its event, checked against the full contract. */
  firstId: string;
  firstEvent: string | null;
  /** The page's last id: its checkpoint once published. */
  lastId: string;
  /** The first row Postgres could not render (a NULL event), if any: the page must not go out. */
  unrenderedId: string | null;
  /** Each row's id and data-dependent fields (`rowSchema`), for resources that have them. */
  checked: Array<{ id: string } & Record<string, unknown>>;
  /** One `XADD` per rendered row, in id order, in Redis's protocol. */
  commands: Buffer;
}

/**
 * The next page after `request.after`, as the page's XADD commands (`prefix` is resp.ts's
 * xaddPrefix for the stream), built from the rows' bytes as Postgres sent them (page-bytes.ts).
 * Empty: null.
 */
export async function renderPageCommands(
  db: Db,
  resource: Resource,
  request: PageRequest,
  context: EventContext,
  prefix: Buffer,
): Promise<RenderedPage | null> {
  const columns = Object.keys(RESOURCE_DEFINITIONS[resource].rowSchema?.shape ?? {});
  const data = await copyBinary(db, pageQuery(resource, request, context, columns).compile(db));
  const events: Buffer[] = [];
  const checked: RenderedPage['checked'] = [];
  let first: CopyRow | undefined;
  let last: CopyRow | undefined;
  let unrendered: Buffer | undefined;
  let rows = 0;
  forEachRow(data, (row) => {
    rows += 1;
    first ??= row;
    last = row;
    const event = row[1];
    if (event) events.push(event);
    else unrendered ??= row[0] as Buffer;
    if (columns.length) {
      const fields: Record<string, unknown> = { id: uuidText(row[0] as Buffer) };
      columns.forEach((column, i) => {
        fields[column] = row[i + 2]?.toString('utf8') ?? null;
      });
      checked.push(fields as RenderedPage['checked'][number]);
    }
  });
  if (!first || !last) return null;
  return {
    rows,
    firstId: uuidText(first[0] as Buffer),
    firstEvent: first[1]?.toString('utf8') ?? null,
    lastId: uuidText(last[0] as Buffer),
    unrenderedId: unrendered ? uuidText(unrendered) : null,
    checked,
    commands: xaddBytes(prefix, events),
  };
}
