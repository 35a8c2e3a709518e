import { workspaceTestConfig } from './src/vitest-config';

export default workspaceTestConfig();
