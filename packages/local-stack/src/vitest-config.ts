/**
 * The vitest settings every workspace shares: real services from the global setup, timeouts for
 * integration tests, and a JSON report per workspace when the root test command asks for one
 * (it adds the reports up into one closing line).
 */
import { readFileSync } from 'node:fs';
import { defineConfig, mergeConfig, type ViteUserConfig } from 'vitest/config';

export function workspaceTestConfig(overrides: ViteUserConfig = {}): ViteUserConfig {
  const reportDir = process.env.TEST_REPORT_DIR;
  const manifest = JSON.parse(readFileSync(`${process.cwd()}/package.json`, 'utf8'));
  const name = String(manifest.name).replace(/[@/]/g, '_');
  return mergeConfig(
    defineConfig({
      test: {
        globalSetup: [new URL('./vitest-global-setup.ts', import.meta.url).pathname],
        testTimeout: 60_000,
        hookTimeout: 60_000,
        reporters: reportDir
          ? ['default', ['json', { outputFile: `${reportDir}/${name}.json` }]]
          : ['default'],
      },
    }),
    overrides,
  );
}
