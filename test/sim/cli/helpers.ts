/**
 * Test helpers for the CLI: run `memsim ARGS` in-process with captured
 * streams, compare text with a golden file (UPDATE_GOLDEN=1 rewrites them),
 * and run the real executable as a child process.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { expect } from "vitest";
import { cli } from "../../../sim/cli/cli.ts";
import { memoryIo } from "../../../sim/cli/io.ts";

export const ROOT = join(import.meta.dirname, "..", "..", "..");
export const GOLDEN = join(ROOT, "test", "golden");

/** What a command printed and returned. */
export interface Ran {
  status: number;
  out: string;
  err: string;
}

/** Runs `memsim ...argv` in this process. */
export async function memsim(argv: string[], input?: Readable): Promise<Ran> {
  const io = memoryIo(input);
  const status = await cli(argv, io);
  return { status, out: io.out.text, err: io.err.text };
}

/**
 * Compares text with test/golden/NAME. With UPDATE_GOLDEN=1 it writes the
 * file instead; without, a missing file fails.
 */
export function expectGolden(name: string, text: string): void {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === "1") {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    return;
  }
  if (!existsSync(file))
    throw new Error(`golden file ${name} is missing: run UPDATE_GOLDEN=1 npx vitest run --config test/vitest.config.ts test/sim/cli`);
  expect(text, `output differs from test/golden/${name} (UPDATE_GOLDEN=1 rewrites it after review)`).toBe(readFileSync(file, "utf8"));
}

/** Runs the real executable (`node tsx sim/cli/main.ts ...`) through bash, so pipes work. */
export function shellRun(command: string): Ran {
  const tsx = join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");
  const main = join(ROOT, "sim", "cli", "main.ts");
  const r = spawnSync("bash", ["-o", "pipefail", "-c", command.replaceAll("MEMSIM", `node ${tsx} ${main}`)], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status ?? -1, out: r.stdout, err: r.stderr };
}
