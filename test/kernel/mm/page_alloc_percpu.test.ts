import { describe, expect, it } from "vitest";
import { __GFP_NOWARN, GFP_KERNEL, Machine } from "../../../sim/index.ts";

const MiB = 1 << 20;

interface PcpView {
  count: number;
  batch: number;
  byOrder: number[];
}
interface BuddyView {
  zones: Array<{ name: string; pcp: PcpView[] }>;
  drainAll?: number;
  drainWork?: number;
}

function buddy(m: Machine): BuddyView {
  return (m.stats() as { buddy: BuddyView }).buddy;
}

/** Pages on CPU `cpu`'s lists of the Normal zone. */
function normalPcp(m: Machine, cpu: number): number {
  const z = buddy(m).zones.find((z) => z.name === "Normal");
  return z?.pcp[cpu]?.count ?? -1;
}

/** A process and one more thread: program 0 is the leader, program 1 the thread. */
function twoThreads(m: Machine) {
  const p = m.spawn("app");
  const t = p.spawnThread("worker", { stackBytes: 4096 });
  if (t === null) throw new Error("no thread");
  return { p, t };
}

describe("per-CPU page lists, one set per CPU", () => {
  it("every zone has one list set per CPU; a one-CPU machine keeps one and shows no drain counters", () => {
    const m4 = Machine.boot({ ramBytes: 64 * MiB, cpus: 4 });
    expect(buddy(m4).zones.map((z) => z.pcp.length)).toEqual([4, 4]);
    const m1 = Machine.boot({ ramBytes: 64 * MiB });
    expect(buddy(m1).zones.map((z) => z.pcp.length)).toEqual([1, 1]);
    expect(buddy(m1).drainAll).toBeUndefined();
    m4.check();
  });

  it("a page freed on CPU 1 goes on CPU 1's list: CPU 1's next allocation gets it back, CPU 0's does not", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB, cpus: 2, pcpBatch: 8 });
    const { p, t } = twoThreads(m);
    m.kernel.drainPcp();
    const got: number[] = [];
    const counts: number[] = [];
    const alloc = () => got.push(m.kernel.allocPages(0) ?? -1);
    const free = () => m.kernel.freePages(got[0] as number, 0);
    const count1 = () => counts.push(normalPcp(m, 1));
    m.run(
      [
        { thread: p, ops: [alloc] },
        { thread: t, ops: [alloc, count1, free, count1, alloc, count1] },
      ],
      {
        schedule: {
          kind: "explicit",
          steps: [
            [1, 1],
            [1, 1],
            [1, 1],
            [1, 1],
            [1, 1],
            [1, 1],
            [0, 0],
          ],
        },
      },
    );
    // CPU 1's empty list is refilled with a batch of 8 and gives one: 7 left; the free
    // puts it back (8); the next allocation on CPU 1 pops it again (7).
    expect(counts).toEqual([7, 8, 7]);
    expect(got[1]).toBe(got[0]);
    // CPU 0 refilled its own list: its page is another one, and CPU 1's list is untouched.
    expect(got[2]).not.toBe(got[0]);
    expect(normalPcp(m, 0)).toBe(7);
    expect(normalPcp(m, 1)).toBe(7);
    m.check();
    for (const pfn of [got[0], got[2]]) m.kernel.freePages(pfn as number, 0);
    m.check();
  });

  it("drain_all_pages empties every CPU's lists and queues one work item per CPU that held pages", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB, cpus: 4, pcpBatch: 8 });
    const p = m.spawn("app");
    const ts = [p, p.spawnThread("a"), p.spawnThread("b"), p.spawnThread("c")];
    m.kernel.drainPcp();
    const before = buddy(m);
    const pfns: number[] = [];
    const alloc = () => pfns.push(m.kernel.allocPages(0) ?? -1);
    // Round-robin puts program i on CPU i: each CPU refills its empty list with 8 pages and keeps 7.
    m.run(ts.map((thread) => ({ thread: thread ?? p, ops: [alloc] })));
    expect([0, 1, 2, 3].map((c) => normalPcp(m, c))).toEqual([7, 7, 7, 7]);
    m.kernel.drainPcp();
    const after = buddy(m);
    expect((after.drainAll ?? 0) - (before.drainAll ?? 0)).toBe(1);
    expect((after.drainWork ?? 0) - (before.drainWork ?? 0)).toBe(4);
    expect(m.kernel.pages.nrPcpPages()).toBe(0);
    for (const pfn of pfns) m.kernel.freePages(pfn, 0);
    m.kernel.dropCaches();
    expect(m.kernel.pages.nrPcpPages()).toBe(0);
    expect((buddy(m).drainAll ?? 0) - (after.drainAll ?? 0)).toBe(1);
    m.check();
  });

  it("an allocation that finds nothing drains the other CPUs' lists before it fails: it gets as many pages as if they were free", () => {
    /**
     * CPU 1 allocates 100 pages and frees them onto its own list (high mark 124),
     * then CPU 0 allocates until the allocator says no. With `drainFirst` the
     * lists are drained by hand before CPU 0 starts, so CPU 1's pages are on the
     * buddy lists: CPU 0 must get exactly as many pages either way.
     */
    function story(drainFirst: boolean): { got: number; cpu1Before: number; cpu1After: number; work: number } {
      const m = Machine.boot({ ramBytes: 32 * MiB, cpus: 2, pcpBatch: 31 });
      const { t } = twoThreads(m);
      const held: number[] = [];
      const fill = () => {
        for (let i = 0; i < 100; i++) held.push(m.kernel.allocPages(0) ?? -1);
      };
      const release = () => {
        for (const pfn of held) m.kernel.freePages(pfn, 0);
      };
      m.run([{ thread: t, ops: [fill, release] }], {
        schedule: {
          kind: "explicit",
          steps: [
            [0, 1],
            [0, 1],
          ],
        },
      });
      if (held.includes(-1)) throw new Error("CPU 1 could not allocate");
      if (drainFirst) m.kernel.drainPcp();
      const cpu1Before = normalPcp(m, 1);
      const work0 = buddy(m).drainWork ?? 0;
      const mine: number[] = [];
      for (;;) {
        const pfn = m.kernel.allocPages(0, GFP_KERNEL | __GFP_NOWARN);
        if (pfn === null) break;
        mine.push(pfn);
      }
      const out = { got: mine.length, cpu1Before, cpu1After: normalPcp(m, 1), work: (buddy(m).drainWork ?? 0) - work0 };
      for (const pfn of mine) m.kernel.freePages(pfn, 0);
      m.check();
      return out;
    }
    const lazy = story(false);
    const drained = story(true);
    expect(lazy.cpu1Before).toBeGreaterThanOrEqual(100);
    expect(drained.cpu1Before).toBe(0);
    // The failing allocation drained CPU 1's list (CPU 0's own refills below the min
    // watermark are drained back too, a few times in both stories).
    expect(lazy.cpu1After).toBe(0);
    expect(lazy.work).toBeGreaterThan(drained.work);
    expect(lazy.got).toBe(drained.got);
  });
});
