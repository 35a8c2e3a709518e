import { workspaceTestConfig } from '@historical-sync/local-stack/vitest-config';

// Root-level tests exercise the commands in scripts/ (start, seed) as a user runs them.
export default workspaceTestConfig({ test: { include: ['test/**/*.test.ts'] } });
