import { describe, expect, it } from "vitest";
import type { Thread } from "../../../kernel/thread.ts";
import { Machine } from "../../../sim/machine.ts";
import { runSmpAlloc } from "../../../sim/smp_alloc.ts";
import type { UserProcess } from "../../../userspace/env.ts";
import { HEAP_MAX_SIZE } from "../../../userspace/malloc/arena_heap.ts";
import { createMalloc } from "../../../userspace/malloc/index.ts";
import { M_ARENA_MAX, M_TCACHE_COUNT, type Malloc } from "../../../userspace/malloc/malloc.ts";

/** A process with a second thread on a machine of `cpus` CPUs. */
function twoThreads(cpus = 2) {
  const m = Machine.boot({ ramBytes: 64 << 20, cpus, seed: 1 });
  const p = m.spawn("app");
  const t = p.spawnThread("t1", { stackBytes: 4096 }) as Thread;
  expect(t).not.toBeNull();
  return { m, p, main: p.threads[0] as Thread, t, heap: () => p.libc.heap as Malloc };
}

const hex = (v: number) => `0x${v.toString(16)}`;

describe("arenas per thread, as glibc creates them", () => {
  it("the first thread takes the main arena on the brk heap; a second thread gets an arena on a 64 MiB-aligned mmapped heap", () => {
    const { m, p, main, t, heap } = twoThreads();
    let x = 0;
    let y = 0;
    m.run([
      { thread: main, ops: [() => (x = p.libc.malloc(100))] },
      { thread: t, ops: [() => (y = p.libc.malloc(100))] },
    ]);
    // main: the brk heap at 0x555555559000, header 1024 bytes, the first chunk's payload at +0x410
    expect(hex(x)).toBe("0x555555559410");
    // t1: the heap is the 2 * 64 MiB PROT_NONE reservation rounded up to 64 MiB (mmap's top-down placement gives
    // 0x7fffec000000 .. 0x7ffff4000000, whose aligned half is 0x7ffff0000000); heap_info 32 bytes, the arena
    // header 1024, so the first payload is at heap + 32 + 1024 + 16 = +0x430
    expect(hex(y)).toBe("0x7ffff0000430");
    const arenas = heap().arenas.list;
    expect(arenas.map((a) => [hex(a.heap), hex(a.base)])).toEqual([
      ["0x0", "0x555555559000"],
      ["0x7ffff0000000", "0x7ffff0000020"],
    ]);
    expect((arenas[1] as { heap: number }).heap % HEAP_MAX_SIZE).toBe(0);
    // main: 1024 header + a run of four 112-byte chunks + a 32-byte top = 1504 bytes of brk, all but the top in use;
    // arena 1: new_heap's 32 KiB, of which heap_info 32 + header 1024 + the run's 448 are in use (the top is 31264)
    expect(p.libc.mallocStats()).toBe(
      "Arena 0:\nsystem bytes     =       1504\nin use bytes     =       1472\n" +
        "Arena 1:\nsystem bytes     =      32768\nin use bytes     =       1504\n" +
        "Total (incl. mmap):\nsystem bytes     =      34272\nin use bytes     =       2976\n" +
        "max mmap regions =          0\nmax mmap bytes   =          0\n",
    );
    heap().check();
    m.check();
  });

  it("/proc/PID/maps shows the heap as glibc's: the read-write part grown with mprotect, the rest of the 64 MiB PROT_NONE", () => {
    const { m, p, t } = twoThreads();
    m.run([{ thread: t, ops: [() => p.libc.malloc(40000)] }]);
    // new_heap made HEAP_MIN_SIZE (32 KiB) read-write; a 40016-byte chunk left a top of 32768 - 1056 = 31712,
    // so grow_heap took pageUp(32768 + 40016 + 32 - 31712) = 45056 = 0xb000 bytes
    const lines = p.proc
      .maps()
      .split("\n")
      .filter((l) => l.startsWith("7ffff0") || l.startsWith("7ffff4"));
    expect(lines).toEqual(["7ffff0000000-7ffff000b000 rw-p 00000000 00:00 0 ", "7ffff000b000-7ffff4000000 ---p 00000000 00:00 0 "]);
    (p.libc.heap as Malloc).check();
    m.check();
  });

  it("a chunk freed by another thread goes back to the arena it came from", () => {
    const { m, p, main, t, heap } = twoThreads();
    let y = 0;
    // 2000 bytes: past the tcache's 1032, so free goes to an arena
    m.run([{ thread: t, ops: [() => (y = p.libc.malloc(2000)), () => p.libc.malloc(10)] }]);
    const a1 = heap().arenas.list[1];
    const before = heap().mallinfo2().ordblks;
    m.run([{ thread: main, ops: [() => p.libc.free(y)] }]);
    // the freed 2016-byte chunk sits in a bin of t1's arena (the main thread never made its own heap)
    expect(heap().mallinfo2().ordblks).toBe(before + 1);
    expect(heap().arenas.forChunk(y - 16)).toBe(a1);
    expect(heap().arena.base).toBe(0);
    let z = 0;
    m.run([{ thread: t, ops: [() => (z = p.libc.malloc(2000))] }]);
    expect(z).toBe(y);
    heap().check();
    m.check();
  });

  it("past M_ARENA_MAX threads share the arenas there are, round-robin", () => {
    const m = Machine.boot({ ramBytes: 64 << 20, cpus: 4, seed: 1 });
    const p = m.spawn("app");
    expect(p.libc.mallopt(M_ARENA_MAX, 2)).toBe(1);
    const threads = [p.threads[0] as Thread];
    for (let i = 1; i < 4; i++) threads.push(p.spawnThread(`t${i}`, { stackBytes: 4096 }) as Thread);
    const got: number[] = [];
    m.run(threads.map((thread, i) => ({ thread, ops: [() => (got[i] = p.libc.malloc(3000))] })));
    const h = p.libc.heap as Malloc;
    // main -> main arena, t1 -> a new arena (2 = the limit), t2 -> reused: the ring's next after main (t1's),
    // t3 -> the next after that (main's)
    expect(h.arenas.list.length).toBe(2);
    const arenaOf = (va: number) => h.arenas.list.indexOf(h.arenas.forChunk(va - 16));
    expect(got.map(arenaOf)).toEqual([0, 1, 1, 0]);
    h.check();
  });

  it("fork: the child's only thread keeps the forking thread's arena, and every heap is copied", () => {
    const { m, p, t, heap } = twoThreads();
    let y = 0;
    let child: ReturnType<typeof p.fork> = null;
    m.run([{ thread: t, ops: [() => (y = p.libc.malloc(3000)), () => (child = p.fork())] }]);
    if (child === null) throw new Error("fork failed");
    const c = child as NonNullable<ReturnType<typeof p.fork>>;
    const ch = c.libc.heap as Malloc;
    expect(ch.arenas.list.map((a) => hex(a.heap))).toEqual(heap().arenas.list.map((a) => hex(a.heap)));
    // the child's thread (tid = its pid) frees and mallocs in the arena it inherited
    c.libc.free(y);
    expect(c.libc.malloc(3000)).toBe(y);
    ch.check();
    heap().check();
  });
});

describe("two threads on the default malloc (threadtest)", () => {
  /** The default malloc with one arena for all threads (M_ARENA_MAX 1), as glibc's lone main arena and its lock. */
  const oneArena = {
    name: "malloc (1 arena)",
    create: (q: UserProcess) => {
      const a = createMalloc(q);
      expect(a.libc.mallopt(M_ARENA_MAX, 1)).toBe(1);
      return a;
    },
  };

  it("per-thread arenas and tcaches: no thread waits for a malloc mutex; one shared arena makes them wait", () => {
    const own = runSmpAlloc("threadtest", "malloc", 2, { objects: 256, rounds: 2 }, "every step");
    const shared = runSmpAlloc("threadtest", oneArena, 2, { objects: 256, rounds: 2 }, "every step");
    // 2 rounds of 256 blocks over both threads, each malloc and each free one operation: 2 * 256 * 2
    expect(own.ops).toBe(1024);
    expect(shared.ops).toBe(1024);
    expect(own.waitNsByClass.pthread_mutex ?? 0).toBe(0);
    expect(shared.waitNsByClass.pthread_mutex ?? 0).toBeGreaterThan(0);
    expect(own.makespanNs).toBeLessThan(shared.makespanNs);
  });

  it("the tcache off: each thread still locks only its own arena", () => {
    const noCache = {
      name: "malloc (no tcache)",
      create: (q: UserProcess) => {
        const a = createMalloc(q);
        expect(a.libc.mallopt(M_TCACHE_COUNT, 0)).toBe(1);
        return a;
      },
    };
    const r = runSmpAlloc("threadtest", noCache, 2, { objects: 256, rounds: 2 }, "every step");
    expect(r.waitNsByClass.pthread_mutex ?? 0).toBe(0);
  });
});
