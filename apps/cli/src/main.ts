/** The hsync entry point: wires the CLI to the process (argv, streams, env, exit code). */
import { runCli } from './cli';

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: {
    write: (text) => process.stdout.write(text),
    isTTY: process.stdout.isTTY === true,
    get columns() {
      return process.stdout.columns;
    },
  },
  stderr: { write: (text) => process.stderr.write(text) },
  env: process.env,
});
