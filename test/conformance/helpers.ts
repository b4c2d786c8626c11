/** Shared helpers for the conformance suites (one test per LINUX.md case). */

import type { BootOptions } from "../../sim/index.ts";
import { type Machine, SegmentationFault } from "../../sim/index.ts";
import { bootMachine } from "../support/boot.ts";

export const PAGE = 4096;
export const START_BRK = 0x555555559000;
export const MMAP_BASE = 0x7ffff7fff000;
export const STACK_END = 0x7ffffffff000;

/** A machine and one fresh process. */
export function boot(opts: BootOptions = {}) {
  const m = bootMachine({ ramBytes: 32 << 20, debugVm: 3, ...opts });
  const p = m.spawn("t");
  return { m, p };
}

/** The SegmentationFault `fn` throws, or a failure. */
export function segv(fn: () => unknown): SegmentationFault {
  try {
    fn();
  } catch (e) {
    if (e instanceof SegmentationFault) return e;
    throw e;
  }
  throw new Error("expected SIGSEGV, the access succeeded");
}

/** meminfo field in kB. */
export function meminfo(m: Machine, key: string): number {
  const line = m.proc
    .meminfo()
    .split("\n")
    .find((l) => l.startsWith(`${key}:`));
  if (!line) throw new Error(`no meminfo field ${key}`);
  return Number(line.split(/\s+/)[1]);
}

/** The maps lines of a process, without the padding. */
export function mapsLines(text: string): string[] {
  return text
    .trimEnd()
    .split("\n")
    .map((l) => l.replace(/ +/g, " ").trim());
}
