/**
 * The native baseline of the malloc bench: sim/bench/native/replay.c, built
 * with the host's C compiler (`cc -O2`) into a temporary directory, replays a
 * trace with the host C library's malloc (glibc on Linux). Without a compiler
 * the rows that need it say "skipped".
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OP_ALLOC, OP_FREE, type Trace } from "../trace/trace.ts";

/** The environment variable through which the main bench process hands the built replay to its children. */
export const NATIVE_ENV = "MEMSIM_BENCH_NATIVE_REPLAY";

/** Compiles replay.c; returns the executable's path, or null when there is no `cc` or it fails. */
export function buildNativeReplay(): string | null {
  const dir = mkdtempSync(join(tmpdir(), "memsim-bench-"));
  const exe = join(dir, "replay");
  const src = join(import.meta.dirname, "native", "replay.c");
  // -fno-builtin: the compiler may not fold a malloc/free pair away.
  const r = spawnSync("cc", ["-O2", "-fno-builtin", "-o", exe, src], { encoding: "utf8" });
  return r.status === 0 ? exe : null;
}

/** The trace in replay.c's input format (the four-line .rep header, one op a line). */
function repText(t: Trace): string {
  const lines = [String(t.suggestedHeap), String(t.numIds), String(t.numOps), String(t.weight)];
  for (let i = 0; i < t.numOps; i++) {
    const k = t.kind[i] as number;
    const id = t.id[i] as number;
    lines.push(k === OP_FREE ? `f ${id}` : `${k === OP_ALLOC ? "a" : "r"} ${id} ${t.size[i] as number}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * ns per op of the host malloc replaying `t` (fastest of `runs`), or null
 * when the replay cannot run. "warm": glibc keeps its heap between runs and
 * an untimed run comes first (the allocator alone); "cold": each run pays
 * the host's page faults for what glibc trimmed (see replay.c).
 */
export function nativeNsPerOp(exe: string, t: Trace, runs: number, mode: "warm" | "cold"): number | null {
  const dir = mkdtempSync(join(tmpdir(), "memsim-trace-"));
  const file = join(dir, t.name);
  writeFileSync(file, repText(t));
  const r = spawnSync(exe, [file, String(runs), mode], { encoding: "utf8" });
  const ns = Number(r.stdout.trim());
  return r.status === 0 && ns > 0 ? ns : null;
}
