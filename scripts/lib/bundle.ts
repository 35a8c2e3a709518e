/**
 * The production build of a process: one ESM file per entry point, made by esbuild. The
 * workspace packages it imports (`@historical-sync/*`, TypeScript sources) are compiled into it;
 * every other package stays an `import` that plain `node` resolves from node_modules, so the
 * runtime needs the production dependencies and the bundle, nothing else (no tsx, no TypeScript,
 * no workspace sources). Type checking is `tsc`'s job (each workspace's `build` runs it first).
 */
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { build, type Plugin } from 'esbuild';

/**
 * The oldest Node that runs the output: the services need what engines allows (22, 24), but
 * `npm start -- --production` and the tests also run it on the tooling's Node 20 (README).
 */
const TARGET = 'node20';
const WORKSPACE_SCOPE = '@historical-sync/';
/** A file a module reads next to itself, e.g. `new URL('./server-guard.mjs', import.meta.url)`. */
const SIBLING_ASSET = /new URL\(\s*['"](\.\/[^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g;

/** Packages from node_modules stay imports; workspace packages and relative paths are bundled. */
const externalDependencies: Plugin = {
  name: 'external-dependencies',
  setup(plugin) {
    plugin.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith(WORKSPACE_SCOPE)) return undefined;
      return { path: args.path, external: true };
    });
  },
};

export interface BundleResult {
  /** The compiled entry points, absolute. */
  outputs: string[];
}

/**
 * Bundles each entry (a path relative to `cwd`) to `<outdir>/<name>.js` with its source map.
 * Each file is written beside its final name and renamed over it, so a process starting from the
 * output meanwhile never reads half a file.
 */
export async function bundle(options: {
  cwd: string;
  entries: string[];
  outdir?: string;
}): Promise<BundleResult> {
  const outdir = resolve(options.cwd, options.outdir ?? 'dist');
  const result = await build({
    absWorkingDir: options.cwd,
    entryPoints: options.entries,
    outdir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: TARGET,
    // Class and function names survive bundling (errors and logs show them).
    keepNames: true,
    sourcemap: 'linked',
    metafile: true,
    write: false,
    logLevel: 'warning',
    plugins: [externalDependencies],
  });
  await mkdir(outdir, { recursive: true });
  const suffix = `.${process.pid}.${Date.now()}.tmp`;
  for (const file of result.outputFiles) {
    await mkdir(dirname(file.path), { recursive: true });
    await writeFile(file.path + suffix, file.contents);
    await rename(file.path + suffix, file.path);
  }
  await copySiblingAssets(options.cwd, Object.keys(result.metafile.inputs), outdir);
  const outputs = Object.entries(result.metafile.outputs)
    .filter(([, output]) => output.entryPoint)
    .map(([path]) => resolve(options.cwd, path));
  return { outputs };
}

/** Files the bundled modules locate through import.meta.url must sit next to the bundle. */
async function copySiblingAssets(cwd: string, inputs: string[], outdir: string) {
  for (const input of inputs) {
    if (!/\.[cm]?[jt]s$/.test(input)) continue;
    const path = resolve(cwd, input);
    const text = await readFile(path, 'utf8');
    for (const [, asset] of text.matchAll(SIBLING_ASSET)) {
      const source = join(dirname(path), asset as string);
      const target = join(outdir, basename(asset as string));
      await copyFile(source, `${target}.tmp`);
      await rename(`${target}.tmp`, target);
    }
  }
}

/** Removes a previous build's output folder, so that a `build` leaves only its own files. */
export async function clean(cwd: string, outdir = 'dist'): Promise<void> {
  await rm(resolve(cwd, outdir), { recursive: true, force: true });
}
