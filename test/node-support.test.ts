/** `npm start`'s check of the running Node against package.json `engines`. */
import { describe, expect, it } from 'vitest';
import { enginesNode, nodeSupport } from '../scripts/lib/node-support';
import { ROOT } from './helpers';

const RANGE = '^20.20.2 || ^22.23.0 || ^24.21.0';

describe('nodeSupport', () => {
  it.each(['v20.20.2', '20.21.0', 'v22.23.0', 'v22.30.1', '24.21.0', 'v24.100.0'])(
    'accepts %s',
    (version) => {
      expect(nodeSupport(version, RANGE)).toBeUndefined();
    },
  );

  it.each([
    'v20.19.0',
    'v20.20.1',
    'v21.7.3',
    'v22.22.9',
    'v23.11.0',
    'v24.20.0',
    'v25.0.0',
    'v18.20.4',
  ])('warns on %s, naming the version and the supported range', (version) => {
    expect(nodeSupport(version, RANGE)).toBe(
      `warning: Node ${version.slice(1)} is not a supported version (package.json engines: ${RANGE}, the releases the tests run on); expect surprises`,
    );
  });

  it('refuses an engines range it cannot read', () => {
    expect(() => nodeSupport('v22.23.0', '>=22')).toThrow(/caret ranges joined by \|\|/);
  });

  it('supports the Node running the tests, by the repository’s own engines', () => {
    expect(nodeSupport(process.version, enginesNode(ROOT))).toBeUndefined();
  });
});
