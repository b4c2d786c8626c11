import { describe, expect, it } from "vitest";
import { LockStat, renderLockStat } from "../../../kernel/locking/lock_stat.ts";
import { type FramesLayer, MAP_ANONYMOUS, MAP_PRIVATE, Machine, PROT_READ, PROT_WRITE, xv6Frames } from "../../../sim/index.ts";
import { frames as perCpuKalloc } from "../../../sim/lab/kalloc/solution.ts";

const RULE = "-".repeat(223);
const HEAD =
  "                              class name    con-bounces    contentions   waittime-min   waittime-max waittime-total   waittime-avg    acq-bounces   acquisitions   holdtime-min   holdtime-max holdtime-total   holdtime-avg";

describe("modelled locks", () => {
  it("two threads' mmaps on two CPUs serialise on mmap_lock: every one after the first waits, on the clock too", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, cpus: 2 });
    const p = m.spawn("app");
    const t = p.spawnThread("worker", { stackBytes: 4096 });
    if (t === null) throw new Error("no thread");
    const mmap = () => p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    const r = m.run([
      { thread: p, ops: [mmap, mmap] },
      { thread: t, ops: [mmap, mmap] },
    ]);
    expect(r.steps.map((s) => [s.cpu, s.startNs, s.waitNs, s.endNs])).toEqual([
      [0, 0, 0, 100],
      [1, 0, 100, 200],
      [0, 100, 100, 300],
      [1, 200, 100, 400],
    ]);
    expect(m.proc.lockStat()).toBe(
      `lock_stat version 0.4\n${RULE}\n${HEAD}\n${RULE}\n\n` +
        "                        &mm->mmap_lock-W:              3              3           0.10           0.10           0.30           0.10              3              4           0.10           0.10           0.40           0.10\n",
    );
    expect(m.clock.breakdown().at(-1)).toEqual({ kind: "lockWait", count: 300, costNs: 1, ns: 300 });
  });

  it("a user mutex two CPUs hold serialises their operations; another mutex does not wait; getcpu names the CPU", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, cpus: 2 });
    const p = m.spawn("app");
    const t = p.spawnThread("worker", { stackBytes: 4096 });
    if (t === null) throw new Error("no thread");
    const cpus: number[] = [];
    const hold = (uaddr: number) => () => {
      cpus.push(p.sys.getcpu());
      return p.sys.mutexHold(uaddr);
    };
    // Round-robin: CPU 0 then CPU 1. Each operation costs OP_BASE_NS = 100 (no access, no fault):
    // the same mutex makes CPU 1's first operation start at 0 and wait 100; mutex 0x2000 waits for nothing
    // and CPU 0's second op (0x1000 again) waits until CPU 1 released it at 200.
    const r = m.run([
      { thread: p, ops: [hold(0x1000), hold(0x1000)] },
      { thread: t, ops: [hold(0x1000), hold(0x2000)] },
    ]);
    expect(cpus).toEqual([0, 1, 0, 1]);
    expect(r.steps.map((s) => [s.cpu, s.startNs, s.waitNs, s.endNs])).toEqual([
      [0, 0, 0, 100],
      [1, 0, 100, 200],
      [0, 100, 100, 300],
      [1, 200, 0, 300],
    ]);
    const mutex = m.kernel.locks.classes.find((c) => c.name === "pthread_mutex");
    expect([mutex?.acquisitions, mutex?.contentions, mutex?.waitTotal]).toEqual([4, 2, 200]);
    expect(m.clock.breakdown().at(-1)).toEqual({ kind: "lockWait", count: 200, costNs: 1, ns: 200 });
  });

  it("page allocations on two CPUs without per-CPU lists contend on the zone lock", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, cpus: 2, pcpBatch: -1 });
    const p = m.spawn("app");
    const t = p.spawnThread("worker", { stackBytes: 4096 });
    if (t === null) throw new Error("no thread");
    const pfns: number[] = [];
    const alloc = () => pfns.push(m.kernel.allocPages(0) ?? -1);
    m.run([
      { thread: p, ops: [alloc, alloc] },
      { thread: t, ops: [alloc, alloc] },
    ]);
    const zone = m.kernel.locks.classes.find((c) => c.name === "&zone->lock");
    expect([zone?.acquisitions, zone?.contentions, zone?.acqBounces, zone?.waitTotal]).toEqual([4, 3, 3, 300]);
    for (const pfn of pfns) m.kernel.freePages(pfn, 0);
    m.check();
  });

  it("a frames layer with a lock per CPU contends only where two CPUs take the same lock (a steal)", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, cpus: 2, layers: { frames: perCpuKalloc } });
    const p = m.spawn("app");
    const t = p.spawnThread("worker", { stackBytes: 4096 });
    if (t === null) throw new Error("no thread");
    const pfns: number[] = [];
    const alloc = () => pfns.push(m.kernel.allocPages(0) ?? -1);
    const r = m.run([
      { thread: p, ops: [alloc, alloc] },
      { thread: t, ops: [alloc, alloc] },
    ]);
    // CPU 0 holds kmem:0 to 100. CPU 1's list is empty: it steals, taking kmem:0 (waits to 100) and
    // kmem:1, held to 200. CPU 0's second alloc waits for kmem:0 to 200; CPU 1's second takes kmem:1 alone.
    expect(r.steps.map((s) => [s.cpu, s.startNs, s.waitNs, s.endNs])).toEqual([
      [0, 0, 0, 100],
      [1, 0, 100, 200],
      [0, 100, 100, 300],
      [1, 200, 0, 300],
    ]);
    const zone = m.kernel.locks.classes.find((c) => c.name === "&zone->lock");
    expect([zone?.acquisitions, zone?.contentions, zone?.waitTotal]).toEqual([5, 2, 200]);
    for (const pfn of pfns) m.kernel.freePages(pfn, 0);
    m.check();
  });

  it("a frames layer that takes a lock it did not declare is a LayerFault", () => {
    const undeclared: FramesLayer = (boot) => {
      const allocPages = () => {
        boot.acquire(0);
        return -1;
      };
      return Object.assign(xv6Frames(boot), { allocPages });
    };
    const m = Machine.boot({ ramBytes: 16 << 20, layers: { frames: undeclared } });
    expect(() => m.kernel.allocPages(0)).toThrow("frames layer: acquire(0): the layer declares no locks (FrameAllocator.locks)");
  });

  it("readers share a rw lock, a writer waits for them all, and a reader waits for the writer", () => {
    const ls = new LockStat(3);
    expect(ls.acquire("&mm->mmap_lock-R", "mm1", "read", 0, 0)).toBe(0);
    ls.release("&mm->mmap_lock-R", "mm1", "read", 0, 500);
    expect(ls.acquire("&mm->mmap_lock-R", "mm1", "read", 1, 100)).toBe(100);
    ls.release("&mm->mmap_lock-R", "mm1", "read", 100, 700);
    expect(ls.acquire("&mm->mmap_lock-W", "mm1", "write", 2, 200)).toBe(700);
    ls.release("&mm->mmap_lock-W", "mm1", "write", 700, 900);
    expect(ls.acquire("&mm->mmap_lock-R", "mm1", "read", 0, 800)).toBe(900);
    expect(ls.acquire("&mm->mmap_lock-W", "mm2", "write", 0, 800)).toBe(800);
    expect(ls.waitNs).toBe(500 + 100);
    const [w, rd] = ls.classes;
    expect([w?.acquisitions, w?.contentions, w?.waitMax]).toEqual([2, 1, 500]);
    expect([rd?.acquisitions, rd?.contentions, rd?.acqBounces, rd?.waitTotal]).toEqual([3, 1, 2, 100]);
    expect(renderLockStat(new LockStat(1))).toBe(`lock_stat version 0.4\n${RULE}\n${HEAD}\n${RULE}\n`);
  });
});
