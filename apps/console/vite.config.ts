/**
 * The console's build: static files under dist/, served by the API at /console (its
 * `CONSOLE_DIR`). No inline script or style in the output, so the API's CSP needs nothing more.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Inlined assets would be data: URLs; every asset stays a file served from 'self'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});
