/**
 * The apply rule of docs/decisions/0005-versions-make-events-commute.md, storage-free: an event
 * changes what an application holds only when its version is newer. Removals are kept as tombstones
 * (the row stays, marked removed, with its version), so an older event that arrives late cannot
 * bring a removed row back.
 */
export function isNewer(held: number | undefined | null, incoming: number): boolean {
  return held === undefined || held === null || incoming > held;
}
