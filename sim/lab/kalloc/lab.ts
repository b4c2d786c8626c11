/**
 * Lab "kalloc" (the frames lab's per-CPU part, xv6's kalloctest): the
 * student's `frames` layer keeps a free list per CPU, each under its own
 * lock (`boot.acquire(i)`), and steals from other CPUs when its own list is
 * empty. Checks on a 4-CPU machine: a CPU whose list boot left empty still
 * gets every frame, the counts add up across CPUs, processes run on every
 * CPU, and kalloctest's loops contend on the allocator's locks far less
 * than on one global list (xv6's kalloc, measured the same way in the same
 * check: contentions on the modelled locks, kernel/locking/lock_stat.ts).
 */
import { xv6Frames } from "../../../kernel/labs/kalloc.ts";
import type { FramesLayer } from "../../../kernel/mm/frames.ts";
import { GFP_KERNEL } from "../../../kernel/mm/gfp.ts";
import type { Process } from "../../../kernel/process.ts";
import type { Operation, Program } from "../../../kernel/sched.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../../kernel/uapi/mman.ts";
import { Machine } from "../../machine.ts";
import { checkers, expectEq, expectTrue, freeFrames, note } from "../trial.ts";
import { CheckFailed, type Lab, type LabCheck } from "../types.ts";

/** What a kalloc-lab submission exports. */
export interface KallocSubmission {
  readonly frames: FramesLayer;
}

const PAGE = 4096;
const CPUS = 4;
/** kalloctest's loops: per CPU, ROUNDS rounds of BATCH allocations then their frees. */
const ROUNDS = 40;
const BATCH = 8;
/** The per-CPU lists must cut contentions to a tenth of one global list's at least. */
const FACTOR = 10;

function kallocMachine(frames: FramesLayer): Machine {
  return Machine.boot({ ramBytes: 8 << 20, seed: 1, cpus: CPUS, layers: { frames } });
}

function booted(sub: KallocSubmission, log: string[]): Machine {
  const m = kallocMachine(sub.frames);
  note(log, `booted 8 MiB, ${CPUS} CPUs, on your allocator: ${freeFrames(m)} frames free`);
  return m;
}

/** One process per CPU running `ops(cpu)`: program i runs on CPU i. */
function perCpu(m: Machine, ops: (cpu: number) => Operation[]): Array<Program & { thread: Process }> {
  return Array.from({ length: CPUS }, (_, cpu) => ({ thread: m.spawn(`cpu${cpu}`), ops: ops(cpu) }));
}

/** The zone-lock class (the allocator's locks) of `m`. */
function zoneLock(m: Machine): { acquisitions: number; contentions: number } {
  const z = m.kernel.locks.classes.find((c) => c.name === "&zone->lock");
  return { acquisitions: z?.acquisitions ?? 0, contentions: z?.contentions ?? 0 };
}

/** kalloctest: on every CPU, ROUNDS rounds of BATCH kallocs then their kfrees, round-robin. Returns the failed allocations. */
function kalloctest(m: Machine): number {
  let failed = 0;
  const programs = perCpu(m, () => {
    const held: number[] = [];
    const ops: Operation[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      ops.push(() => {
        for (let i = 0; i < BATCH; i++) {
          const pfn = m.kernel.allocPages(0, GFP_KERNEL);
          if (pfn === null) failed++;
          else held.push(pfn);
        }
        return held.length;
      });
      ops.push(() => {
        while (held.length > 0) m.kernel.freePages(held.pop() as number, 0);
        return 0;
      });
    }
    return ops;
  });
  m.run(programs);
  return failed;
}

const checks: LabCheck<KallocSubmission>[] = [
  {
    name: "boots",
    weight: 1,
    explain: `A ${CPUS}-CPU machine boots on the allocator and its checkers (yours included) pass.`,
    run(sub, log) {
      const m = booted(sub, log);
      expectTrue(freeFrames(m) > 0, "MemFree is 0 after boot: the allocator reports no free frame");
      checkers(m, log);
    },
  },
  {
    name: "steals-every-frame",
    weight: 2,
    explain: "Boot puts every frame on CPU 0's list; a thread on CPU 1 still allocates all of them (stealing), each once, then NULL.",
    run(sub, log) {
      const m = booted(sub, log);
      const got: number[] = [];
      const grab: Operation = () => {
        for (let pfn = m.kernel.allocPages(0, GFP_KERNEL); pfn !== null; pfn = m.kernel.allocPages(0, GFP_KERNEL)) got.push(pfn);
        return got.length;
      };
      // Program i runs on CPU i: CPU 0 idles, CPU 1 allocates until NULL.
      const programs = perCpu(m, (cpu) => (cpu === 1 ? [grab] : [() => 0]));
      const free = freeFrames(m);
      m.run(programs);
      note(log, `CPU 1 allocated ${got.length} frames before the allocator said none is left`);
      expectEq(log, "frames CPU 1 allocated", got.length, free);
      expectEq(log, "distinct frames", new Set(got).size, got.length);
      for (const pfn of got) m.kernel.freePages(pfn, 0);
      checkers(m, log);
    },
  },
  {
    name: "counts-add-up",
    weight: 1,
    explain:
      "Each CPU allocates 100 frames and frees 50 on its own list: MemFree drops by 200 in all, then comes back; MemTotal never moves.",
    run(sub, log) {
      const m = booted(sub, log);
      const total = m.kernel.meminfoValues().MemTotal;
      const held: number[][] = [];
      const programs = perCpu(m, (cpu) => {
        held[cpu] = [];
        const mine = held[cpu] as number[];
        return [
          () => {
            let failed = 0;
            for (let i = 0; i < 100; i++) {
              const pfn = m.kernel.allocPages(0, GFP_KERNEL);
              if (pfn === null) failed++;
              else mine.push(pfn);
            }
            return failed;
          },
          () => {
            for (let i = 0; i < 50 && mine.length > 0; i++) m.kernel.freePages(mine.pop() as number, 0);
            return mine.length;
          },
        ];
      });
      const free = freeFrames(m);
      const r = m.run(programs);
      expectEq(log, "allocations that failed", r.steps.filter((s) => s.op === 0 && s.result !== "0").length, 0);
      // 4 CPUs x (100 - 50) frames still held.
      expectEq(log, "MemFree change, in frames", freeFrames(m) - free, -200);
      for (const mine of held) for (const pfn of mine) m.kernel.freePages(pfn, 0);
      expectEq(log, "MemFree change after freeing the rest", freeFrames(m) - free, 0);
      expectEq(log, "MemTotal", m.kernel.meminfoValues().MemTotal, total);
      checkers(m, log);
    },
  },
  {
    name: "processes-run",
    weight: 1,
    explain:
      "A process on each CPU maps and writes 64 pages (its faults allocate on its CPU), reads them back and exits; every frame comes back.",
    run(sub, log) {
      const m = booted(sub, log);
      m.kernel.dropCaches();
      const before = freeFrames(m);
      const programs = perCpu(m, (cpu) => {
        let a = 0;
        return [
          (t) => {
            a = t.group.sys.mmap(0, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
            for (let j = 0; j < 64; j++) t.group.mem.write32(a + j * PAGE, cpu * 1000 + j);
            return 0;
          },
          (t) => {
            let bad = 0;
            for (let j = 0; j < 64; j++) if (t.group.mem.read32(a + j * PAGE) !== cpu * 1000 + j) bad++;
            return bad;
          },
        ];
      });
      const r = m.run(programs);
      for (const p of programs) if (p.thread.state === "running") p.thread.exit(0);
      expectEq(log, "pages read back wrong or killed", r.steps.filter((s) => s.op === 1 && s.result !== "0").length, 0);
      m.kernel.dropCaches();
      expectEq(log, "frames not given back after every process exited", before - freeFrames(m), 0);
      checkers(m, log);
    },
  },
  {
    name: "kalloctest-contention",
    weight: 3,
    explain: `kalloctest on ${CPUS} CPUs (${ROUNDS} rounds of ${BATCH} kallocs and kfrees each): every allocation succeeds and the allocator's locks see at most 1/${FACTOR} of the contentions of one global list.`,
    run(sub, log) {
      const base = kallocMachine(xv6Frames);
      const baseFailed = kalloctest(base);
      if (baseFailed > 0) throw new Error(`the global-list baseline failed ${baseFailed} allocations`);
      const global = zoneLock(base);
      const m = booted(sub, log);
      const failed = kalloctest(m);
      const mine = zoneLock(m);
      note(log, `one global list (xv6 kalloc): ${global.acquisitions} lock acquisitions, ${global.contentions} contended`);
      note(log, `yours: ${mine.acquisitions} lock acquisitions, ${mine.contentions} contended`);
      expectEq(log, "allocations that failed", failed, 0);
      if (mine.contentions * FACTOR > global.contentions)
        throw new CheckFailed(
          `${mine.contentions} contended acquisitions, more than 1/${FACTOR} of one global list's ${global.contentions}: are the lists really per CPU?`,
        );
      checkers(m, log);
    },
  },
];

/** The per-CPU frame-allocator lab. */
export const kallocLab: Lab<KallocSubmission> = {
  name: "kalloc",
  title: "Per-CPU free lists with stealing (xv6 kalloctest): the frames lab on 4 CPUs, graded on lock contention",
  studentFiles: ["kalloc.ts"],
  exports: ["frames"],
  checks,
  timeLimitMs: 15_000,
};
