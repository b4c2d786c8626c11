import { describe, expect, it } from "vitest";
import { MAP_ANONYMOUS, MAP_PRIVATE, Machine, PROT_READ, PROT_WRITE } from "../../sim/index.ts";
import { M_ARENA_MAX } from "../../userspace/malloc/malloc.ts";

const EIGHT = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);

/** A process and a second thread on 2 CPUs with the cache model; user allocations tracked when `sites`. */
function twoCpus(sites: "sites" | "no-sites") {
  const m = Machine.boot({
    ramBytes: 16 << 20,
    cpus: 2,
    cache: true,
    allocSites: sites === "sites" ? { sampleBytes: 1, scope: "user" } : null,
  });
  const p = m.spawn("app");
  const t = p.spawnThread("worker", { stackBytes: 16384 });
  if (t === null) throw new Error("no thread");
  return { m, p, t };
}

describe("the false-sharing detector", () => {
  it("active: two threads on two CPUs each malloc and write an 8-byte object, and both objects share one line", () => {
    const { m, p, t } = twoCpus("sites");
    // One arena for both threads: with its own arena (the default) the worker's object would sit on its own heap.
    expect(p.libc.mallopt(M_ARENA_MAX, 1)).toBe(1);
    let x = 0;
    let y = 0;
    m.run([
      { thread: p, ops: [() => (x = p.libc.malloc(8)), () => p.mem.write(x, EIGHT)] },
      { thread: t, ops: [() => (y = p.libc.malloc(8)), () => p.mem.write(y, EIGHT)] },
    ]);
    // The heap's first chunks: x at line offset 0x10 (bytes 16-23), y one 32-byte chunk later (bytes 48-55).
    // CPU 0's first malloc also initialised the heap's first bytes (0-11, no block of the program's);
    // bytes 40-43 are the top chunk's size word, rewritten by both mallocs (true sharing).
    expect([x % 64, y % 64, Math.floor(x / 64) === Math.floor(y / 64)]).toEqual([16, 48, true]);
    expect(m.proc.falseSharing()).toBe(
      "false sharing (active): line 0x51400 va 0x555555559400\n" +
        "  CPU 0 bytes 0-11: no tracked allocation\n" +
        "  CPU 0 bytes 16-23: malloc(8) = 0x555555559410 pid 1 on CPU 0\n" +
        "  CPU 1 bytes 48-55: malloc(8) = 0x555555559430 pid 1 on CPU 1\n" +
        "  shared bytes 40-43\n",
    );
    m.check();
  });

  it("passive: an object of CPU 0's freed and reallocated by a thread on CPU 1 while CPU 0 writes its neighbour", () => {
    const { m, p, t } = twoCpus("sites");
    let x = 0;
    let y = 0;
    let z = 0;
    const alloc2 = () => {
      x = p.libc.malloc(8);
      y = p.libc.malloc(8);
    };
    m.run(
      [
        { thread: p, ops: [alloc2, () => p.mem.write(x, EIGHT)] },
        { thread: t, ops: [() => p.libc.free(y), () => (z = p.libc.malloc(8)), () => p.mem.write(z, EIGHT)] },
      ],
      { schedule: { kind: "explicit", steps: [0, 1, 1, 1, 0] } },
    );
    // Both first objects come from CPU 0 (no active sharing); y's chunk, freed on CPU 1, waits in CPU 1's
    // thread's tcache and is handed back to it as z. The tcache writes the chunk's link and key (bytes 48-63)
    // and never its size word (bytes 40-43, CPU 0's alone now, from the split that made y).
    expect(z).toBe(y);
    expect(m.proc.falseSharing()).toBe(
      "false sharing (passive): line 0x51400 va 0x555555559400\n" +
        "  CPU 0 bytes 0-11: no tracked allocation\n" +
        "  CPU 0 bytes 16-23: malloc(8) = 0x555555559410 pid 1 on CPU 0\n" +
        "  CPU 0 bytes 40-43: no tracked allocation\n" +
        "  CPU 1 bytes 48-63: malloc(8) = 0x555555559430 pid 1 on CPU 1, reusing a block of CPU 0\n",
    );
    m.check();
  });

  it("no false sharing when each thread's object is line-aligned (memalign 64)", () => {
    const { m, p, t } = twoCpus("sites");
    let x = 0;
    let y = 0;
    m.run([
      { thread: p, ops: [() => (x = p.libc.memalign(64, 64)), () => p.mem.write(x, EIGHT)] },
      { thread: t, ops: [() => (y = p.libc.memalign(64, 64)), () => p.mem.write(y, EIGHT)] },
    ]);
    expect([x % 64, y % 64]).toEqual([0, 0]);
    expect(m.proc.falseSharing()).toBe("no false sharing\n");
  });

  it("without allocation tracking: disjoint bytes of one line are reported with unknown owners; the same bytes are true sharing", () => {
    const { m, p, t } = twoCpus("no-sites");
    const a = p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    m.run([
      { thread: p, ops: [() => p.mem.write32(a, 1), () => p.mem.write32(a + 4, 1), () => p.mem.write32(a + 128, 1)] },
      { thread: t, ops: [() => p.mem.write8(a + 63, 2), () => p.mem.write8(a + 129, 2)] },
    ]);
    // Line 0: CPU 0 bytes 0-7, CPU 1 byte 63 (false sharing). Line 2: CPU 1's byte 129 lies in CPU 0's word at 128:
    // every byte CPU 1 wrote there CPU 0 wrote too, so only CPU 0 has private bytes (true sharing, not reported).
    const pa = m.kernel.mmu.peek(p.mm.pt, a);
    const line = pa - (pa % 4096);
    expect(m.proc.falseSharing()).toBe(
      `false sharing (unknown): line 0x${line.toString(16)} va 0x${a.toString(16)}\n` +
        "  CPU 0 bytes 0-7: no tracked allocation\n" +
        "  CPU 1 bytes 63-63: no tracked allocation\n",
    );
  });

  it("false sharing makes each write a coherence miss: CPU 1's writes to its own bytes invalidate CPU 0's line", () => {
    const { m, p, t } = twoCpus("no-sites");
    const a = p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    p.mem.write8(a + 2048, 0); // fault the page in, away from line 0
    const inv = () => (m.stats().cache as { cpus: Array<{ invalidations: number }> }).cpus.map((c) => c.invalidations);
    const before = inv();
    m.run([
      { thread: p, ops: [() => p.mem.write32(a, 1), () => p.mem.write32(a, 2), () => p.mem.write32(a, 3)] },
      { thread: t, ops: [() => p.mem.write32(a + 32, 1), () => p.mem.write32(a + 32, 2), () => p.mem.write32(a + 32, 3)] },
    ]);
    // Round-robin alternates the CPUs: 6 writes, each after the first takes the line from the other CPU.
    const after = inv();
    expect([(after[0] as number) - (before[0] as number), (after[1] as number) - (before[1] as number)]).toEqual([3, 2]);
  });
});
