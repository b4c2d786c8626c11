/**
 * `memsim trace ...`: the malloc-lab driver on the command line.
 *
 *   memsim trace run [files|dirs...] [--allocator NAME] [--json] [--events FILE] [--ftrace FILE]
 *   memsim trace list
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { allocatorNames, findAllocator } from "../../userspace/alloc/index.ts";
import { malloclabFiles } from "./malloclab.ts";
import { readTrace } from "./read.ts";
import { type ReplayOptions, replayTraces } from "./replay.ts";
import { formatTable, toJson } from "./report.ts";
import { ReplayHost } from "./spawn.ts";
import { type Trace, TraceError } from "./trace.ts";

/** Where output goes (process.stdout / process.stderr satisfy it). */
export interface Output {
  write(s: string): unknown;
}

/** The allocator a run uses without --allocator. */
export const DEFAULT_ALLOCATOR = "malloc";

const USAGE = [
  "usage: memsim trace run [files|dirs...] [--allocator NAME] [--json] [--events FILE] [--ftrace FILE]",
  "       memsim trace list",
  "",
  "run   replays malloc-lab traces (.rep or JSON lines; a directory means its",
  "      .rep and .jsonl files) with mdriver's checks and measures, and prints",
  "      mdriver's table, or with --json { traces, meanUtil, kops, perfIndex }.",
  "      With no files it replays the eleven bundled CS:APP traces.",
  `      --allocator NAME  a registered allocator (default ${DEFAULT_ALLOCATOR}); see 'list'`,
  "      --events FILE     every event of the replay machine as JSON lines, every run",
  "      --ftrace FILE     the same in ftrace text format (the timed runs are traced too,",
  "                        so their throughput includes writing the events)",
  "list  prints the registered allocators",
  "",
].join("\n");

/**
 * Runs `memsim trace <args>`. Returns the exit status: 0 when every trace is
 * valid, 1 when one is not, 2 for bad usage or a malformed trace.
 */
export function traceCommand(
  args: string[],
  out: Output,
  err: Output,
  host: Pick<ReplayOptions, "spawn" | "release"> = new ReplayHost(),
): number {
  const [sub, ...rest] = args;
  if (sub === "list") {
    if (rest.length > 0) return usageError(err, `list takes no arguments (got '${rest[0]}')`);
    for (const name of allocatorNames()) out.write(`${name.padEnd(28)} ${findAllocator(name)?.summary}\n`);
    return 0;
  }
  if (sub === undefined) return usageError(err, "missing trace command (run or list)");
  if (sub === "help" || sub === "--help" || sub === "-h") {
    out.write(USAGE);
    return 0;
  }
  if (sub !== "run") return usageError(err, `unknown trace command '${sub}'`);
  const parsed = parseRunArgs(rest);
  if (typeof parsed === "string") return usageError(err, parsed);
  if (!findAllocator(parsed.allocator)) {
    return usageError(err, `unknown allocator '${parsed.allocator}' (known: ${allocatorNames().join(", ")})`);
  }
  let traces: Trace[];
  try {
    traces = expandFiles(parsed.files).map(readTrace);
  } catch (e) {
    if (e instanceof TraceError) {
      err.write(`memsim trace: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const result = replayTraces(traces, { allocator: parsed.allocator, spawn: host.spawn, release: host.release, timedRuns: 3 });
  out.write(parsed.json ? `${JSON.stringify(toJson(result), null, 2)}\n` : formatTable(result));
  return result.traces.every((t) => t.valid) ? 0 : 1;
}

function usageError(err: Output, what: string): number {
  err.write(`memsim trace: ${what}\n${USAGE}`);
  return 2;
}

function parseRunArgs(args: string[]): { files: string[]; allocator: string; json: boolean } | string {
  const files: string[] = [];
  let allocator = DEFAULT_ALLOCATOR;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--json") json = true;
    else if (a === "--allocator") {
      const v = args[++i];
      if (v === undefined) return "--allocator needs a name";
      allocator = v;
    } else if (a.startsWith("--allocator=")) allocator = a.slice("--allocator=".length);
    else if (a.startsWith("-")) return `unknown option '${a}'`;
    else files.push(a);
  }
  return { files: files.length === 0 ? malloclabFiles() : files, allocator, json };
}

/** Files as given; a directory stands for its .rep and .jsonl files, sorted. A missing path stays, for readTrace to report. */
function expandFiles(paths: string[]): string[] {
  const files: string[] = [];
  for (const p of paths) {
    let dir = false;
    try {
      dir = statSync(p).isDirectory();
    } catch {
      // readTrace names the missing file.
    }
    if (!dir) files.push(p);
    else for (const f of readdirSync(p).sort()) if (/\.(rep|jsonl)$/.test(f)) files.push(join(p, f));
  }
  return files;
}
