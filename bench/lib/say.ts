/** The benchmarks' output: plain lines on stdout, so the last one stays parseable JSON. */
export const say = (line: string) => process.stdout.write(`${line}\n`);
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
