/**
 * Helpers every lab's checks use: boot a small machine with the student's
 * layers, log what the student's code made the kernel do (page faults,
 * frames allocated and freed), compare against what was expected, and turn
 * whatever the kernel threw into a sentence.
 */
import type { PageFaultLayer } from "../../kernel/lab_layers.ts";
import type { KernelApi } from "../../kernel/mm/lab_api.ts";
import { LayerFault } from "../../kernel/panic.ts";
import { ProcessKilled, SegmentationFault } from "../../kernel/signal.ts";
import { SEGV_ACCERR, SIGKILL } from "../../kernel/uapi/signal.ts";
import type { Layers } from "../config.ts";
import { Machine } from "../machine.ts";
import { CheckFailed } from "./types.ts";

const PF_WRITE = 2;
const MAX_LOG = 24;

/** Boots the lab machine (8 MiB by default, seed 1, debugVm 1) with `layers`. */
export function labMachine(layers: Layers, ramBytes: number = 8 << 20): Machine {
  return Machine.boot({ ramBytes, seed: 1, layers });
}

/** `layer`, logging each fault it is handed and what it returned (or threw) into `log`. */
export function tracedFault(layer: PageFaultLayer, log: string[]): PageFaultLayer {
  return (f, k, next) => {
    const what = `  page fault: ${f.errorCode & PF_WRITE ? "write" : "read"} at 0x${f.address.toString(16)}${f.vma === 0 ? " (no VMA)" : ""}`;
    try {
      const r = layer(f, k, next);
      note(log, `${what} -> your handler returned ${faultName(k, r)}`);
      return r;
    } catch (e) {
      note(log, `${what} -> your handler threw ${describe(e)}`);
      throw e;
    }
  };
}

function faultName(k: KernelApi, r: number): string {
  const names: Record<number, string> = {
    [k.FAULT_OK]: "FAULT_OK",
    [k.FAULT_MAPERR]: "FAULT_MAPERR",
    [k.FAULT_ACCERR]: "FAULT_ACCERR",
    [k.FAULT_OOM]: "FAULT_OOM",
    [k.FAULT_SIGBUS]: "FAULT_SIGBUS",
  };
  return names[r] ?? String(r);
}

/** Adds a line to a check's log (at most 24 lines; the rest are counted). */
export function note(log: string[], line: string): void {
  if (log.length < MAX_LOG) log.push(line);
  else if (log.length === MAX_LOG) log.push("  ... (more not shown)");
}

/** Frames free in `m` (per-CPU lists drained first). */
export function freeFrames(m: Machine): number {
  m.kernel.drainPcp();
  return ((m.kernel.meminfoValues().MemFree ?? 0) / 4) | 0;
}

/** Fails the check unless `got === want`: "WHAT: expected WANT, got GOT". */
export function expectEq(log: string[], what: string, got: unknown, want: unknown): void {
  note(log, `${what}: ${show(got)}`);
  if (got !== want) throw new CheckFailed(`${what}: expected ${show(want)}, got ${show(got)}`);
}

/** Fails the check unless `ok`, with `why`. */
export function expectTrue(ok: boolean, why: string): void {
  if (!ok) throw new CheckFailed(why);
}

/** Runs `fn`; returns the error it threw, or null. */
export function caught(fn: () => void): unknown {
  try {
    fn();
    return null;
  } catch (e) {
    return e;
  }
}

/**
 * Runs an access the check expects to fail and notes "WHAT: succeeded" or
 * what it threw. Returns the error, or null when the access succeeded.
 */
export function attempt(log: string[], what: string, fn: () => void): unknown {
  const e = caught(fn);
  note(log, `${what}: ${e === null ? "succeeded" : describe(e)}`);
  return e;
}

/** What an attempted write ended in, for an expectation's message. */
export function writeOutcome(e: unknown): string {
  return e === null ? "a successful write" : describe(e);
}

/** Fails the check unless `e` is a SIGSEGV with SEGV_ACCERR; notes the si_code. */
export function expectAccErr(log: string[], e: unknown): void {
  expectTrue(e instanceof SegmentationFault, `expected SIGSEGV (SEGV_ACCERR), got ${writeOutcome(e)}`);
  expectEq(log, "si_code", (e as SegmentationFault).code, SEGV_ACCERR);
}

/** Fails the check unless `e` says `who` was killed by SIGKILL (the out-of-memory kill, not a signal it could catch). */
export function expectKilled(e: unknown, who: string): void {
  const killed = e instanceof ProcessKilled && !(e instanceof SegmentationFault) && e.signo === SIGKILL;
  if (!killed) throw new CheckFailed(`expected ${who} killed by SIGKILL, got ${writeOutcome(e)}`);
}

/** Runs the invariant checkers; a broken one fails the check with its message. */
export function checkers(m: Machine, log: string[]): void {
  const e = caught(() => m.check());
  if (e !== null) throw new CheckFailed(`the kernel's checkers found a broken invariant: ${describe(e)}`);
  note(log, "  invariant checkers: all pass");
}

/** One line for an error thrown by the kernel or the student's code. */
export function describe(e: unknown): string {
  if (e instanceof LayerFault) {
    const cause = e.cause instanceof Error ? ` (cause: ${e.cause.name}: ${e.cause.message})` : "";
    return `LayerFault: ${e.message}${cause}`;
  }
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

function show(v: unknown): string {
  if (typeof v === "number" && Number.isInteger(v) && v >= 256) return `0x${v.toString(16)}`;
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}
