/**
 * The periodic progress line, written only when the counts moved since the last one: an idle
 * consumer repeating the same totals every 30 s buries the lines that matter.
 */
export function progressReporter<Counts extends Record<string, number>>(
  counts: Readonly<Counts>,
  log: (counts: Counts) => void,
): () => void {
  // The totals at start count as said: nothing happened yet, so nothing to report.
  let last = JSON.stringify(counts);
  return () => {
    const now = JSON.stringify(counts);
    if (now === last) return;
    last = now;
    log({ ...counts });
  };
}
