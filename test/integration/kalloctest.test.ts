/**
 * xv6's kalloctest as a memsim story: threads on four CPUs allocate and free
 * page frames in loops. With one free list behind one lock every operation
 * takes &zone->lock and the CPUs queue on it; with per-CPU lists a CPU goes
 * to the zone only to refill its list, so the contended acquisitions in
 * /proc/lock_stat almost vanish.
 */
import { describe, expect, it } from "vitest";
import { Machine } from "../../sim/index.ts";

const ROUNDS = 25;
const PAGES = 8;

/** Four threads of one process, one per CPU, each doing ROUNDS of "allocate PAGES frames, free them". */
function kalloctest(pcpBatch: number) {
  const m = Machine.boot({ ramBytes: 128 << 20, cpus: 4, pcpBatch, seed: 7 });
  const p = m.spawn("kalloctest");
  const threads = [p, p.spawnThread("t1"), p.spawnThread("t2"), p.spawnThread("t3")];
  const round = () => {
    const got: number[] = [];
    for (let i = 0; i < PAGES; i++) got.push(m.kernel.allocPages(0) ?? -1);
    for (const pfn of got) m.kernel.freePages(pfn, 0);
    return got.includes(-1) ? "nomem" : "ok";
  };
  const r = m.run(threads.map((t) => ({ thread: t ?? p, ops: Array.from({ length: ROUNDS }, () => round) })));
  const zone = m.kernel.locks.classes.find((c) => c.name === "&zone->lock");
  m.check();
  return {
    results: new Set(r.steps.map((s) => s.result)),
    acquisitions: zone?.acquisitions ?? 0,
    contentions: zone?.contentions ?? 0,
    lockStat: m.proc.lockStat(),
  };
}

describe("kalloctest: per-CPU lists against one locked free list", () => {
  it("without per-CPU lists every round takes the zone lock and all but the first wait; with them only the first refill of each CPU does", () => {
    const off = kalloctest(-1);
    const on = kalloctest(0);
    expect([...off.results, ...on.results]).toEqual(["ok", "ok"]);
    // pcpBatch -1: every allocation refills and every free drains (batch 1, high 0), so each
    // of the 4 x 25 rounds takes &zone->lock. Round-robin runs CPU 0, 1, 2, 3 in turn, all
    // starting at 0 ns: each round starts before the previous CPU's round released the
    // lock, so all but the very first acquisition is contended.
    expect([off.acquisitions, off.contentions]).toEqual([100, 99]);
    // Default lists (batch 7 on this 128 MiB zone): a CPU's first round refills its empty list
    // twice (7 + 1 pages for 8 allocations) and frees back onto it, under its high mark; every
    // later round is served from the list. So 4 rounds take the zone lock, and the 3 CPUs
    // after CPU 0 wait for it once each.
    expect([on.acquisitions, on.contentions]).toEqual([4, 3]);
    expect(on.lockStat).toMatch(/&zone->lock:\s+3\s+3\s/);
  });

  it("is deterministic: the same story gives the same /proc/lock_stat bytes", () => {
    expect(kalloctest(0).lockStat).toBe(kalloctest(0).lockStat);
  });
});
