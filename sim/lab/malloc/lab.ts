/**
 * Lab "malloc" (CS:APP's malloc lab): the student's mm.ts (mm_init,
 * mm_malloc, mm_free, mm_realloc over memlib's mem_sbrk) replayed on the
 * eleven bundled traces by the lab's mdriver (mdriver.ts): a correctness
 * check per trace, then utilisation and throughput (on the cost clock)
 * against the lab's targets, each with mdriver's table.
 */
import { MALLOCLAB_TRACES, readMalloclab } from "../../trace/malloclab.ts";
import { note } from "../trial.ts";
import { CheckFailed, type Lab, type LabCheck } from "../types.ts";
import { libcMallocCheck } from "./libc_check.ts";
import { type MallocSubmission, type MdriverResult, mdriverTable, runMdriver, THRU_TARGET } from "./mdriver.ts";

/** Mean utilisation the utilisation check asks for. */
export const UTIL_TARGET = 0.8;

/** One mdriver run per submission per worker: every check reads it (the traces are replayed once). */
const runs = new WeakMap<MallocSubmission, MdriverResult>();

function mdriver(sub: MallocSubmission): MdriverResult {
  let r = runs.get(sub);
  if (r === undefined) {
    r = runMdriver(sub);
    runs.set(sub, r);
  }
  return r;
}

function table(log: string[], r: MdriverResult): void {
  for (const line of mdriverTable(r)) note(log, line);
}

function traceCheck(index: number, file: string): LabCheck<MallocSubmission> {
  const name = file.replace(/-bal\.rep$/, "");
  return {
    name: `trace-${name}`,
    weight: 1,
    explain: `${file} replays correctly: payloads 16-byte aligned, inside the heap, never overlapping, their bytes kept until free and across realloc.`,
    run(sub, log) {
      const row = mdriver(sub).rows[index]!;
      note(log, `${file}: ${row.valid ? "valid" : "invalid"}, util ${(row.util * 100).toFixed(0)}%, ${row.ops} ops`);
      if (!row.valid) throw new CheckFailed(row.errors[0] ?? `${file} is invalid`);
    },
  };
}

const checks: LabCheck<MallocSubmission>[] = [
  ...MALLOCLAB_TRACES.map((f, i) => traceCheck(i, f)),
  {
    name: "utilization",
    weight: 4,
    explain: `Every trace valid and a mean utilisation (peak live payload / peak heap) of at least ${UTIL_TARGET * 100}%.`,
    run(sub, log) {
      const r = mdriver(sub);
      table(log, r);
      if (!r.valid) throw new CheckFailed("a trace is invalid: utilisation counts only when all are valid");
      if (r.meanUtil < UTIL_TARGET)
        throw new CheckFailed(`mean utilisation ${(r.meanUtil * 100).toFixed(1)}%, below ${UTIL_TARGET * 100}%`);
    },
  },
  {
    name: "throughput",
    weight: 4,
    explain: `Every trace valid and at least ${THRU_TARGET / 1e3} Kops per simulated second on the machine's cost clock (the same on every computer).`,
    run(sub, log) {
      const r = mdriver(sub);
      table(log, r);
      if (!r.valid) throw new CheckFailed("a trace is invalid: throughput counts only when all are valid");
      if (r.thru < THRU_TARGET)
        throw new CheckFailed(`throughput ${(r.thru / 1e3).toFixed(0)} Kops per simulated second, below ${THRU_TARGET / 1e3}`);
    },
  },
  {
    name: "libc-malloc",
    weight: 2,
    explain:
      "Booted as the process's libc malloc (layers.malloc), realloc-bal.rep through p.libc keeps every block's bytes, and /proc/PID/maps's [heap] spans what mem_sbrk grew.",
    run(sub, log) {
      const t = readMalloclab()[MALLOCLAB_TRACES.indexOf("realloc-bal.rep")];
      if (t === undefined) throw new Error("realloc-bal.rep is not bundled");
      libcMallocCheck(sub, t, log);
    },
  },
];

/** The malloc lab. */
export const mallocLab: Lab<MallocSubmission> = {
  name: "malloc",
  title: "Malloc lab (CS:APP): mm_init, mm_malloc, mm_free, mm_realloc over mem_sbrk",
  studentFiles: ["mm.ts"],
  exports: ["mm_init", "mm_malloc", "mm_free", "mm_realloc"],
  checks,
  timeLimitMs: 120_000,
};
