/**
 * Which Node releases the project supports: the root package.json `engines.node`, the one place
 * that says so (test/node-binaries.ts runs the compiled apps on the lowest release of each line it
 * names). `npm start` warns on any other, since npm itself only warns in `npm ci`'s scroll.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** `engines.node` of the package.json in `root`. */
export function enginesNode(root: string): string {
  const { engines } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    engines?: { node?: string };
  };
  if (!engines?.node) throw new Error(`${join(root, 'package.json')} has no engines.node`);
  return engines.node;
}

const parse = (version: string) => version.replace(/^v/, '').split('.').map(Number);

/**
 * undefined when `version` (`v22.23.0` or `22.23.0`) is within `range`, caret ranges joined by
 * `||` as `engines` writes them; else the one-line warning to print.
 */
export function nodeSupport(version: string, range: string): string | undefined {
  const minimums = range.split('||').map((part) => /^\s*\^(\d+\.\d+\.\d+)\s*$/.exec(part)?.[1]);
  if (minimums.some((minimum) => !minimum))
    throw new Error(`engines.node should be caret ranges joined by ||, is ${range}`);
  const [major = 0, minor = 0, patch = 0] = parse(version);
  const supported = minimums.some((minimum) => {
    const [minMajor = 0, minMinor = 0, minPatch = 0] = parse(minimum as string);
    if (major !== minMajor) return false;
    return minor > minMinor || (minor === minMinor && patch >= minPatch);
  });
  if (supported) return undefined;
  return `warning: Node ${version.replace(/^v/, '')} is not a supported version (package.json engines: ${range}, the releases the tests run on); expect surprises`;
}
