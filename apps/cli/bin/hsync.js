#!/usr/bin/env node
// The CLI is TypeScript run through tsx, like the services (there is no compiled output). The
// loader is registered from here, resolved next to this file, so `hsync` works from any directory.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
