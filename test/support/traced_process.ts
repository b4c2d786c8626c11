/**
 * A real process (Machine.spawn: MMU, page faults, VMAs) for tests of
 * userspace code, seen through a UserProcess whose system calls are
 * recorded as strace-like lines: "brk(0x555555559000) = 0x555555559000",
 * errors as "-ENOMEM". Addresses and sizes from 4096 up print in hex.
 */
import { errnoName } from "../../kernel/errno.ts";
import type { Process } from "../../kernel/process.ts";
import { Machine } from "../../sim/machine.ts";
import type { UserProcess, UserSyscalls } from "../../userspace/env.ts";

/** Where a fresh process's heap starts (its initial break). */
export const HEAP_START = 0x555555559000;

export interface Traced {
  m: Machine;
  /** The kernel's process: state, stderr, exitSignal, setrlimit, /proc. */
  p: Process;
  /** The same process with recorded system calls: hand this to userspace code. */
  proc: UserProcess;
  /** One line per system call made through `proc.sys`. */
  log: string[];
}

/** Boots a machine (64 MiB unless told) and spawns one traced process. */
export function tracedProcess(ramBytes = 64 << 20): Traced {
  const m = Machine.boot({ ramBytes, debugVm: 1 });
  const p = m.spawn("test");
  const log: string[] = [];
  const arg = (v: number) => (v >= 4096 ? `0x${v.toString(16)}` : String(v));
  const ret = (v: number) => (v < 0 ? `-${errnoName(v)}` : arg(v));
  const rec =
    (name: keyof UserSyscalls) =>
    (...args: number[]): number => {
      const r = (p.sys[name] as (...a: number[]) => number).apply(p.sys, args);
      log.push(`${name}(${args.map(arg).join(", ")}) = ${ret(r)}`);
      return r;
    };
  const sys: UserSyscalls = {
    brk: rec("brk"),
    mmap: rec("mmap"),
    munmap: rec("munmap"),
    mprotect: rec("mprotect"),
    madvise: rec("madvise"),
    mremap: rec("mremap"),
    mlock: rec("mlock"),
    mlock2: rec("mlock2"),
    munlock: rec("munlock"),
    mlockall: rec("mlockall"),
    munlockall: rec("munlockall"),
  };
  const proc: UserProcess = { pid: p.pid, mem: p.mem, sys, abort: (message) => p.abort(message) };
  return { m, p, proc, log };
}

/** Resident kilobytes of the [heap] VMA (its smaps Rss), 0 when there is no heap. */
export function heapRssKb(p: Process): number {
  const smaps = p.proc.smaps();
  const at = smaps.indexOf("[heap]");
  return at < 0 ? 0 : Number(/Rss:\s+(\d+) kB/.exec(smaps.slice(at))![1]);
}
