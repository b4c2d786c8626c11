/**
 * The `memsim` executable: real streams in, exit status out. Everything else
 * is in cli.ts so tests can run commands in-process.
 */
import { cli } from "./cli.ts";
import { processIo } from "./io.ts";

process.exitCode = await cli(process.argv.slice(2), processIo());
