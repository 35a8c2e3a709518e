/**
 * Capture generated from its definitions (src/capture.ts): the three captured tables' trigger
 * functions and triggers are made again from `CAPTURE_DEFINITIONS`, as a new resource's are
 * (docs/ADDING-A-RESOURCE.md). They behave as the hand-written ones of the `capture` and
 * `capture-always` migrations did; the capture tests hold them to it.
 */
import type { Kysely } from 'kysely';
import { CAPTURE_DEFINITIONS, installCapture } from '../src/capture';

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const definition of CAPTURE_DEFINITIONS) await installCapture(db, definition);
}

// The functions and triggers made here do what the previous ones did: nothing to undo.
export async function down(): Promise<void> {}
