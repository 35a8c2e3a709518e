import { workspaceTestConfig } from '@historical-sync/local-stack/vitest-config';

export default workspaceTestConfig();
