/** The `adbandit` command line (see program.ts; `npx adbandit --help`). */
import { run } from "./program.ts";

process.exitCode = await run(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
});
