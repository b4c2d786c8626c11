/**
 * Every memory syscall argument fuzzed: NaN, Infinity, negative, fractional,
 * past 2^53, huge lengths, unaligned and kernel addresses, among ordinary
 * values. Each call returns a number Linux could return for it (an address,
 * 0, the break, or -errno from the syscall's documented list), with the exact
 * errno where Linux's rule is plain; no call throws; the checkers pass after
 * each; and the process's own mappings are never disturbed by a failed call.
 */
import fc from "fast-check";
import { expect } from "vitest";
import {
  EACCES,
  EBADF,
  EEXIST,
  EFAULT,
  EINVAL,
  ENOMEM,
  EOVERFLOW,
  EPERM,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PAGE_OFFSET,
  PROT_READ,
  PROT_WRITE,
  type Process,
  SIGKILL,
  TASK_SIZE,
} from "../../../sim/index.ts";
import { type PropertyModel, runModel, type StoryStats } from "../../support/budget.ts";

const PAGE = 4096;
const BASE = 0x100000000;
const START_BRK = 0x555555559000;

/** Numbers no syscall should choke on. */
const WILD = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -0,
  -1,
  -PAGE,
  0.5,
  PAGE + 0.25,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 64,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  2 ** 31,
  2 ** 32,
  2 ** 32 - 1,
  TASK_SIZE,
  TASK_SIZE - PAGE,
  TASK_SIZE + PAGE,
  2 ** 48,
  PAGE_OFFSET,
  PAGE_OFFSET + 5 * PAGE,
  BASE + 1,
  BASE + 123,
  BASE,
  0,
  1,
  PAGE,
  START_BRK + 3 * PAGE,
];

const wild = fc.oneof(
  fc.constantFrom(...WILD),
  fc.integer({ min: -1000, max: 1 << 20 }),
  fc.double({ noNaN: false }),
  fc.nat(64).map((n) => BASE + n * PAGE),
  fc.nat(16).map((n) => n * PAGE),
);
const smallFlags = fc.oneof(fc.nat(0x1fffff), fc.constantFrom(...WILD), fc.integer({ min: -5, max: 40 }));

/** What each syscall may return as -errno (its Linux man page's list, those memsim can meet). */
const ERRNOS: Record<string, number[]> = {
  mmap: [EINVAL, ENOMEM, EEXIST, EPERM, EACCES, EBADF, EOVERFLOW],
  munmap: [EINVAL, ENOMEM],
  mprotect: [EINVAL, ENOMEM, EACCES],
  madvise: [EINVAL, ENOMEM],
  mremap: [EINVAL, ENOMEM, EFAULT, EPERM],
};

const isPlainInt = (v: number) => Number.isSafeInteger(v);
const aligned = (v: number) => isPlainInt(v) && v >= 0 && v % PAGE === 0;

/** The exact errno Linux's argument checks give, where they are plain; undefined when the outcome depends on state. */
function expected(call: string, a: number[]): number | undefined {
  const [x, y, z] = a as [number, number, number];
  switch (call) {
    case "munmap":
      if (!aligned(x)) return -EINVAL;
      if (!isPlainInt(y) || y <= 0 || x + y > TASK_SIZE) return -EINVAL;
      return undefined;
    case "mprotect":
      if (!aligned(x)) return -EINVAL;
      if (isPlainInt(y) && y === 0 && isPlainInt(z) && z >= 0 && z <= 7) return 0;
      return undefined;
    case "madvise":
      if (!aligned(x)) return -EINVAL;
      return undefined;
    case "mmap": {
      // sys_mmap: the offset first; a mapping without MAP_ANONYMOUS needs a file (fd -1: EBADF); then length and type.
      const [off, flags] = [a[4] as number, a[3] as number];
      if (isPlainInt(off) && off % PAGE !== 0) return -EINVAL;
      // A value C cannot pass (NaN, a fraction, flags past 32 bits) has no Linux rule to hold memsim to.
      if (!a.every((v) => isPlainInt(v) && v >= 0) || flags >= 2 ** 32 || (a[2] as number) < 0 || (a[2] as number) >= 2 ** 32)
        return undefined;
      if (!(flags & MAP_ANONYMOUS)) return -EBADF;
      if (isPlainInt(y) && y === 0) return -EINVAL;
      return undefined;
    }
    case "mremap":
      if (!aligned(x)) return -EINVAL;
      if (isPlainInt(z) && z === 0) return -EINVAL;
      return undefined;
    default:
      return undefined;
  }
}

interface Real {
  m: Machine;
  p: Process;
  stats: StoryStats;
}

/** The model: whether the OOM killer has ended the process (no command runs after that). */
interface Model {
  killed: boolean;
}

class Call implements fc.Command<Model, Real> {
  constructor(
    readonly call: "brk" | "mmap" | "munmap" | "mprotect" | "madvise" | "mremap",
    readonly args: number[],
  ) {}
  check = (model: Readonly<Model>) => !model.killed;
  run(model: Model, real: Real): void {
    const { p, m } = real;
    const before = p.proc.maps();
    const brk0 = p.sys.brk(0);
    const a = this.args;
    let r: number;
    switch (this.call) {
      case "brk":
        r = p.sys.brk(a[0] as number);
        break;
      case "mmap":
        r = p.sys.mmap(a[0] as number, a[1] as number, a[2] as number, a[3] as number, -1, a[4] as number);
        break;
      case "munmap":
        r = p.sys.munmap(a[0] as number, a[1] as number);
        break;
      case "mprotect":
        r = p.sys.mprotect(a[0] as number, a[1] as number, a[2] as number);
        break;
      case "madvise":
        r = p.sys.madvise(a[0] as number, a[1] as number, a[2] as number);
        break;
      default:
        r = p.sys.mremap(a[0] as number, a[1] as number, a[2] as number, a[3] as number, a[4] as number);
    }
    expect(Number.isSafeInteger(r), `${this} returned ${r}`).toBe(true);
    if (p.state !== "running") {
      // A populate or a page table past RAM (8 MiB here) can run the OOM
      // killer, whose only victim is this process, as in Linux: it dies by
      // SIGKILL while the call returns, and nothing runs after it.
      expect(p.state, `${this}`).toBe("killed");
      expect(p.exitSignal, `${this}`).toBe(SIGKILL);
      expect(Number(/^oom_kill (\d+)$/m.exec(m.proc.vmstat())?.[1])).toBeGreaterThan(0);
      model.killed = true;
      m.check();
      real.stats.checks++;
      return;
    }
    if (this.call === "brk") {
      // brk returns the new break, or the old one when it refuses; a refused brk changes nothing.
      const ok = r === a[0];
      expect(ok || r === brk0, `${this} returned 0x${r.toString(16)}`).toBe(true);
      if (!ok) expect(p.proc.maps()).toBe(before);
    } else if (r < 0) {
      expect(ERRNOS[this.call], `${this} returned ${r}`).toContain(-r);
      // A failed call that cannot have done partial work leaves the mappings as they were.
      if (r === -EINVAL && this.call !== "madvise" && this.call !== "mprotect") expect(p.proc.maps(), `${this}`).toBe(before);
    } else if (this.call === "mmap" || this.call === "mremap") {
      expect(r % PAGE, `${this} returned 0x${r.toString(16)}`).toBe(0);
      expect(r < TASK_SIZE && r >= 0x10000, `${this} returned 0x${r.toString(16)}`).toBe(true);
    } else expect(r, `${this}`).toBe(0);
    const want = expected(this.call, a);
    if (want !== undefined) expect(r, `${this}`).toBe(want);
    m.check();
    real.stats.checks++;
  }
  toString = () =>
    `${this.call}(${this.args.map((v) => (Number.isSafeInteger(v) && Math.abs(v) > 4096 ? `0x${v.toString(16)}` : String(v))).join(", ")})`;
}

const mapFlags = fc.oneof(
  smallFlags,
  fc
    .tuple(
      fc.constantFrom(MAP_PRIVATE, MAP_SHARED, 0, 3),
      fc.constantFrom(0, MAP_FIXED, MAP_FIXED_NOREPLACE),
      fc.constantFrom(MAP_ANONYMOUS, 0),
      fc.constantFrom(0, MAP_POPULATE),
    )
    .map(([a, b, c, d]) => a | b | c | d),
);
const remapFlags = fc.oneof(
  smallFlags,
  fc.constantFrom(0, MREMAP_MAYMOVE, MREMAP_MAYMOVE | MREMAP_FIXED, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, MREMAP_FIXED, 8),
);
const protArb = fc.oneof(smallFlags, fc.nat(7));

const calls = [
  wild.map((x) => new Call("brk", [x])),
  fc.tuple(wild, wild, protArb, mapFlags, wild).map((a) => new Call("mmap", a)),
  fc.tuple(wild, wild).map((a) => new Call("munmap", a)),
  fc.tuple(wild, wild, protArb).map((a) => new Call("mprotect", a)),
  fc.tuple(wild, wild, smallFlags).map((a) => new Call("madvise", a)),
  fc.tuple(wild, wild, wild, remapFlags, wild).map((a) => new Call("mremap", a)),
];

/** brk/mmap/munmap/mprotect/madvise/mremap with wild arguments in a process that owns a written mapping. */
export const SYSCALL_ARGS_MODEL: PropertyModel<Iterable<fc.Command<Model, Real>>> = {
  name: "syscall-args",
  budget: 10_000,
  storyMax: 100,
  arbitrary: (max) => fc.commands(calls, { maxCommands: max, size: "max" }),
  run(cmds) {
    const m = Machine.boot({ ramBytes: 8 << 20, debugVm: 1 });
    const p = m.spawn("fuzz");
    p.sys.mmap(BASE, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    p.mem.fill(BASE, 7, 16 * PAGE);
    const stats: StoryStats = { commands: 0, checks: 0 };
    runModel({ killed: false }, { m, p, stats }, cmds, stats);
    for (const q of m.processes()) q.exit(0);
    m.check();
    stats.checks++;
    expect(m.proc.meminfo()).toMatch(/\nCommitted_AS: +0 kB\n/);
    return stats;
  },
};
