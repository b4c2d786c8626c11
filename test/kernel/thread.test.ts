import { describe, expect, it } from "vitest";
import { MAP_ANONYMOUS, MAP_PRIVATE, Machine, PROT_READ, PROT_WRITE } from "../../sim/index.ts";

const RW = PROT_READ | PROT_WRITE;

describe("threads", () => {
  it("a thread shares the address space and gets its own tid and a stack with a guard page below it", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    const p = m.spawn("app");
    const a = p.sys.mmap(0, 4096, RW, MAP_PRIVATE | MAP_ANONYMOUS);
    const t = p.spawnThread("worker", { stackBytes: 8192 });
    expect(t?.tid).toBe(2);
    expect(p.mm.users).toBe(2);
    expect(t?.stackEnd).toBe(a);
    expect(t?.stackStart).toBe(a - 8192);
    // The stack (below the first mapping, top-down) merges with it, as two private anonymous rw VMAs do.
    expect(p.proc.maps()).toBe(
      "7ffff7ffb000-7ffff7ffc000 ---p 00000000 00:00 0 \n" +
        "7ffff7ffc000-7ffff7fff000 rw-p 00000000 00:00 0 \n" +
        "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]\n",
    );
    t?.mem.write32(a, 99);
    expect(p.mem.read32(a)).toBe(99);
    expect(p.proc.status()).toContain("Threads:\t2\n");
    expect(m.processes().map((x) => x.pid)).toEqual([1]);
  });

  it("a thread's exit unmaps nothing; the last thread's exit ends the process and frees its memory", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    m.kernel.dropCaches();
    const free0 = m.kernel.pages.nrFreePages();
    const p = m.spawn("app");
    const a = p.sys.mmap(0, 4096, RW, MAP_PRIVATE | MAP_ANONYMOUS);
    p.mem.write32(a, 1);
    const t = p.spawnThread("worker", { stackBytes: 8192 });
    if (t === null) throw new Error("no thread");
    const maps = p.proc.maps();
    t.exit();
    expect(t.state).toBe("exited");
    expect(p.proc.maps()).toBe(maps);
    expect(p.mm.users).toBe(1);
    expect(p.proc.status()).toContain("Threads:\t1\n");
    expect(() => t.exit()).toThrow("thread 2 (worker) has already exited");
    p.threads[0]?.exit(3);
    expect(p.describe()).toBe("exited with 3");
    m.kernel.dropCaches();
    expect(m.kernel.pages.nrFreePages()).toBe(free0);
    m.check();
  });

  it("exit (exit_group) ends every thread; sched_setaffinity then finds none", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, cpus: 2 });
    const p = m.spawn("app");
    const t = p.spawnThread("worker", { stackBytes: 4096 });
    p.exit(0);
    expect(t?.state).toBe("exited");
    expect(p.mm.users).toBe(0);
    expect(p.schedSetaffinity(t?.tid ?? 0, [0])).toBe(-3);
  });

  it("a stack that does not fit is pthread_create's failure, with nothing left behind", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, overcommit: { mode: 2, ratio: 50 } });
    const p = m.spawn("app");
    const maps = p.proc.maps();
    expect(p.spawnThread("big", { stackBytes: 64 << 20 })).toBeNull();
    expect(p.proc.maps()).toBe(maps);
    expect(p.threads.length).toBe(1);
    expect(() => p.spawnThread("odd", { stackBytes: 100 })).toThrow(RangeError);
  });
});
