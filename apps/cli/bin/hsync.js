#!/usr/bin/env node
// In a checkout, tsx (a development dependency) is installed and the CLI runs from its TypeScript,
// so `hsync` always runs the sources as they are. An install without development dependencies
// (the image) has no tsx: there it runs the compiled build (`npm run build`, dist/main.js). The
// loader is resolved next to this file, so `hsync` works from any directory.
let register;
try {
  ({ register } = await import('tsx/esm/api'));
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
}
if (register) {
  register();
  await import('../src/main.ts');
} else {
  await import('../dist/main.js');
}
