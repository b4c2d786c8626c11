/**
 * `memsim frag [FILES...]`: fragmentation over time (sim/frag.ts). A trace
 * file (.rep, .jsonl) is replayed with each allocator side by side; a script
 * (.msh, any other file) runs on one machine whose buddy allocator and slab
 * caches are sampled. No file: the bundled binary-bal.rep trace.
 */
import { readFileSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { allocatorNames, TEACHING_ALLOCATORS } from "../../userspace/alloc/index.ts";
import { FRAG_MEASURES, type FragSample, type FragSeries } from "../frag.ts";
import { ScriptLineError, scriptFragSeries } from "../frag_script.ts";
import { traceFragSeries } from "../frag_user.ts";
import { MALLOCLAB_DIR } from "../trace/malloclab.ts";
import { readTrace } from "../trace/read.ts";
import { ReplayHost } from "../trace/spawn.ts";
import { TraceError } from "../trace/trace.ts";
import { InputError, UsageError } from "./args.ts";
import type { Command, CommandCtx } from "./command.ts";
import { RAM_OPTION } from "./run.ts";

/**
 * The allocators a trace is replayed with by default: the C library's
 * malloc, the teaching ones, then Mesh (userspace/alloc/mesh.ts), whose
 * meshing of spans shows beside the others' fragmentation.
 */
export const FRAG_DEFAULT_ALLOCATORS: readonly string[] = ["malloc", ...TEACHING_ALLOCATORS, "mesh"];

/** The trace `memsim frag` samples without a file. */
export const FRAG_DEFAULT_TRACE = join(MALLOCLAB_DIR, "binary-bal.rep");

function isTrace(file: string): boolean {
  const ext = extname(file).toLowerCase();
  return ext === ".rep" || ext === ".jsonl" || ext === ".ndjson";
}

function allocatorsArg(ctx: CommandCtx): string[] {
  const given = ctx.args.str("allocator");
  if (given === undefined) return [...FRAG_DEFAULT_ALLOCATORS];
  const names = given.split(",").filter((s) => s !== "");
  const known = new Set(allocatorNames());
  for (const n of names) if (!known.has(n)) throw new UsageError(`unknown allocator '${n}' (see 'memsim trace list')`);
  return names;
}

/** The series of one file. Throws InputError for a file that cannot be read or replayed. */
function seriesOf(ctx: CommandCtx, file: string): FragSeries[] {
  const interval = ctx.args.int("interval", 0);
  if (!isTrace(file)) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new InputError(`cannot read '${file}': ${(e as NodeJS.ErrnoException).code ?? "unreadable"}`);
    }
    const opts = { ramBytes: ctx.args.int("ram", 64 << 20), seed: ctx.seed, log: ctx.log, onBoot: ctx.watch };
    try {
      return scriptFragSeries(text, basename(file), { ...opts, interval: Math.max(1, interval), order: ctx.args.int("order", 3) });
    } catch (e) {
      if (e instanceof ScriptLineError) throw new InputError(e.message);
      throw e;
    }
  }
  try {
    const trace = readTrace(file);
    const host = new ReplayHost();
    ctx.watch(host.machine);
    const every = interval > 0 ? interval : Math.max(1, Math.ceil(trace.numOps / 10));
    return traceFragSeries(trace, { allocators: allocatorsArg(ctx), interval: every, spawn: host.spawn, release: host.release });
  } catch (e) {
    const unfit = e instanceof Error && (e.message.includes("out of memory") || e.message.includes("no heap census"));
    if (e instanceof TraceError || unfit) throw new InputError((e as Error).message);
    throw e;
  }
}

function num(v: number, key: string): string {
  return key === "external" || key === "utilisation" ? v.toFixed(3) : String(v);
}

const COLUMNS: ReadonlyArray<[keyof FragSample, string]> = [
  ["t", "t"],
  ["heapBytes", "heap"],
  ["requestedBytes", "requested"],
  ["grantedBytes", "granted"],
  ["freeBytes", "free"],
  ["largestFreeBytes", "largest"],
  ...FRAG_MEASURES.map((m) => [m.key, m.label.replace(" (B)", "")] as [keyof FragSample, string]),
];

/** One series as a right-aligned table, a row per sample. */
export function renderFragSeries(s: FragSeries): string {
  const rows = [COLUMNS.map(([, h]) => h), ...s.samples.map((x) => COLUMNS.map(([k]) => num(x[k], k)))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  const lines = rows.map((r) => r.map((c, i) => c.padStart(widths[i] as number)).join("  "));
  return [`## ${s.name} (${s.kind}) on ${s.workload}`, ...lines].join("\n");
}

function runFrag(ctx: CommandCtx): number {
  const files = ctx.args.pos.length > 0 ? [...ctx.args.pos] : [FRAG_DEFAULT_TRACE];
  const series = files.flatMap((f) => seriesOf(ctx, f));
  if (ctx.json) ctx.io.out.write(`${JSON.stringify({ series })}\n`);
  else ctx.io.out.write(`${series.map(renderFragSeries).join("\n\n")}\n`);
  return 0;
}

/** `memsim frag`. */
export const fragCommand: Command = {
  name: "frag",
  summary: "fragmentation over time: internal, external, overhead and utilisation of each allocator on a trace or script",
  description: [
    "A trace (.rep, .jsonl) is replayed with each allocator; a script runs on one machine and its buddy",
    "allocator and slab caches are sampled. The clock is operations (traces) or script lines.",
    "internal = granted - requested bytes; external = the share of free bytes that cannot serve a",
    "request (userspace: 1 - largest free block / free; buddy: unusable index of --order; slab: free",
    "slots / slots); overhead = heap - granted - free; utilisation = requested / heap.",
  ].join("\n"),
  options: [
    {
      name: "allocator",
      short: "a",
      kind: "string",
      arg: "NAMES",
      help: "comma-separated allocators for traces (default malloc, the teaching ones and mesh)",
    },
    {
      name: "interval",
      short: "i",
      kind: "int",
      arg: "N",
      help: "a sample every N operations or lines (default: a tenth of a trace, every line of a script)",
      min: 1,
    },
    {
      name: "order",
      kind: "int",
      arg: "K",
      help: "the buddy request order external fragmentation is measured for (default 3)",
      min: 0,
      max: 10,
    },
    RAM_OPTION,
  ],
  positionals: [{ name: "FILES", help: "traces or scripts (default: the bundled binary-bal.rep)", optional: true, rest: true }],
  run: runFrag,
};
