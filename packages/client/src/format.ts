/** How a client of the API (the CLI, the console) writes what only it formats. */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `512 B`, `3.4 MiB`, `12 GiB`: binary units, as Redis's `maxmemory` counts them (`1mb` = 1 MiB). */
export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1;
  return `${value.toLocaleString('en-US', { maximumFractionDigits: digits })} ${BYTE_UNITS[unit]}`;
}
