/**
 * kfree_rcu and grace periods on two CPUs: a reader inside its read-side
 * section keeps seeing an object the writer has unpublished and handed to
 * kfree_rcu; the memory is reused only after the grace period.
 */
import { describe, expect, it } from "vitest";
import { KernelPanic, Machine } from "../../sim/index.ts";

function twoCpus() {
  const m = Machine.boot({ ramBytes: 32 << 20, cpus: 2 });
  const writer = m.spawn("writer");
  const reader = writer.spawnThread("reader");
  if (reader === null) throw new Error("no thread");
  return { m, writer, reader };
}

describe("kfree_rcu and grace periods", () => {
  it("a reader on another CPU still sees the object after kfree_rcu; it is reused only after the grace period", () => {
    const { m, writer, reader } = twoCpus();
    const k = m.kernel;
    let published = 0;
    let obj = 0;
    let seen = 0;
    const log: string[] = [];
    const w = [
      () => {
        obj = k.kmalloc(64);
        k.mem.write32(obj, 0xc0ffee);
        published = obj;
      },
      () => {
        published = 0;
        k.kfreeRcu(obj);
        // The object is not free yet: the allocator cannot hand it out.
        log.push(`during: kmalloc ${k.kmalloc(64) === obj ? "reused" : "other"}`);
      },
      () => log.push(`synchronize_rcu: ${k.synchronizeRcu()}`),
      () => log.push(`after: kmalloc ${k.kmalloc(64) === obj ? "reused" : "other"}`),
    ];
    const r = [
      () => {
        k.rcuReadLock();
        seen = published;
      },
      () => log.push(`reader reads 0x${k.mem.read32(seen).toString(16)}, ${k.rcu.pending()} free pending`),
      () => {
        k.rcuReadUnlock();
        log.push(`unlock: ${k.rcu.pending()} pending, ${k.rcu.completed()} grace period`);
      },
    ];
    m.run(
      [
        { thread: writer, ops: w },
        { thread: reader, ops: r },
      ],
      {
        schedule: {
          kind: "explicit",
          steps: [
            [0, 0],
            [1, 1],
            [0, 0],
            [1, 1],
            [0, 0],
            [1, 1],
            [0, 0],
          ],
        },
        afterStep: () => m.check(),
      },
    );
    // The grace period began at kfree_rcu, with the reader inside its section: it waits for the
    // reader's rcu_read_unlock, whatever the CPUs' context switches. The deferred kfree then runs on
    // CPU 1, a remote free onto the object's slab, which is CPU 0's CPU slab: CPU 0's next kmalloc(64)
    // pops it first.
    expect(log).toEqual([
      "during: kmalloc other",
      "reader reads 0xc0ffee, 1 free pending",
      "synchronize_rcu: false",
      "unlock: 0 pending, 1 grace period",
      "after: kmalloc reused",
    ]);
    expect(m.stats()).toMatchObject({ rcu: { gpCompleted: 1, kfreeRcu: 1, freed: 1, pending: 0 } });
  });

  it("without readers synchronize_rcu completes at once and the free is done", () => {
    const { m } = twoCpus();
    const k = m.kernel;
    const obj = k.kmalloc(128);
    k.kfreeRcu(obj);
    expect(k.rcu.pending()).toBe(1);
    expect(k.synchronizeRcu()).toBe(true);
    // synchronize_rcu waits for a whole period that begins after it: the one kfree_rcu began
    // ends at CPU 0's quiescent state (the other CPU is idle), then its own: two in all.
    expect([k.rcu.pending(), k.rcu.completed()]).toEqual([0, 2]);
    expect(k.kmalloc(128)).toBe(obj);
    m.check();
  });

  it("a section begun after the grace period does not hold it; unlock without lock and synchronize inside a section panic", () => {
    const { m, writer, reader } = twoCpus();
    const k = m.kernel;
    const obj = k.kmalloc(32);
    const log: string[] = [];
    const sync = () => log.push(`synchronize ${k.synchronizeRcu()}`);
    m.run(
      [
        { thread: writer, ops: [() => k.kfreeRcu(obj), sync, sync] },
        { thread: reader, ops: [() => k.rcuReadLock(), () => log.push(`pending ${k.rcu.pending()}`), () => k.rcuReadUnlock()] },
      ],
      {
        schedule: {
          kind: "explicit",
          steps: [
            [0, 0],
            [1, 1],
            [1, 1],
            [0, 0],
            [1, 1],
            [0, 0],
          ],
        },
      },
    );
    // The reader locked after kfree_rcu began the period, so the period ended with the CPUs'
    // quiescent states (the ends of the two first operations) and the free is done. A
    // synchronize_rcu while the reader is inside waits for it (false), and passes after its unlock.
    expect(log).toEqual(["pending 0", "synchronize false", "synchronize true"]);
    expect(() => k.rcuReadUnlock()).toThrow(KernelPanic);
    k.rcuReadLock();
    expect(() => k.synchronizeRcu()).toThrow(KernelPanic);
    k.rcuReadUnlock();
  });
});
