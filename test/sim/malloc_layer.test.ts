/**
 * layers.malloc (kernel/LAYERS.md): the factory of every process's libc
 * heap. memsim's malloc comes through it like any other; a student's
 * implicit list runs p.libc; wrong layers are LayerFaults naming them, at
 * the debug levels sim/malloc_watch.ts documents.
 */
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  LayerFault,
  LiveBlocks,
  Machine,
  Malloc,
  type MallocEnv,
  type MallocHeap,
  type MallocLayer,
  memsimMalloc,
  type Process,
  SegmentationFault,
} from "../../sim/index.ts";
import { createMalloc } from "../../userspace/malloc/index.ts";
import {
  brokenFactory,
  fractionMalloc,
  ImplicitList,
  implicitList,
  misalignedMalloc,
  noForkMalloc,
  overlappingMalloc,
  pastBreakMalloc,
  throwingMalloc,
  wildMalloc,
} from "../support/student_malloc.ts";

const H = 0x555555559000;

function boot(malloc: MallocLayer | undefined, debugVm = 1) {
  const m = Machine.boot({ ramBytes: 16 << 20, debugVm, layers: malloc === undefined ? {} : { malloc } });
  return { m, p: m.spawn("app") };
}

/** The LayerFault `act` throws (fails the test when it throws something else, or nothing). */
function layerFaultOf(act: () => unknown): LayerFault {
  try {
    act();
  } catch (e) {
    expect(e).toBeInstanceOf(LayerFault);
    return e as LayerFault;
  }
  throw new Error("expected a LayerFault");
}

describe("Machine.boot with layers.malloc", () => {
  it("takes a function and refuses anything else, naming the entry", () => {
    expect(() => Machine.boot({ layers: { malloc: "implicit" as unknown as MallocLayer } })).toThrow(
      new ConfigError("Machine.boot: layers.malloc must be a function, got string"),
    );
    expect(Machine.boot({ layers: { malloc: implicitList } }).spawn("x").libc.heap.name).toBe("implicit");
  });

  it("the default is memsim's malloc, made by the same factory a lab passes: the same heap, call for call", () => {
    const run = (malloc: MallocLayer | undefined) => {
      const { p } = boot(malloc);
      const out = [p.libc.malloc(0), p.libc.malloc(1000), p.libc.malloc(200_000), p.libc.realloc(p.libc.malloc(50), 5000)];
      p.libc.free(out[1] as number);
      out.push(p.libc.malloc(900), p.libc.syscalls);
      return out;
    };
    const { p } = boot(undefined);
    expect(p.libc.heap).toBeInstanceOf(Malloc);
    expect(p.libc.heap.name).toBe("memsim");
    expect(run(undefined)).toEqual(run(memsimMalloc));
    expect(run(undefined).slice(0, 2)).toEqual([H + 1024 + 16, H + 1024 + 128 + 16]);
  });

  it("the factory gets the process's memory and raw system calls, nothing more", () => {
    let env: MallocEnv | undefined;
    const spy: MallocLayer = (e) => {
      env = e;
      return new ImplicitList(e);
    };
    const { p } = boot(spy);
    p.libc.malloc(10);
    const got = env as MallocEnv;
    expect(Object.keys(got).sort()).toEqual([
      "abort",
      "brk",
      "getcpu",
      "gettid",
      "madvise",
      "mem",
      "mmap",
      "mprotect",
      "mremap",
      "munmap",
      "mutexHold",
      "nprocs",
      "pid",
      "sbrk",
    ]);
    expect(got.pid).toBe(p.pid);
    // outside a scheduler's operation the caller is the leader: tid = pid, CPU 0
    expect([got.gettid(), got.getcpu(), got.mutexHold(0x1000)]).toEqual([p.pid, 0, 0]);
    expect(got.mmap(0, 4096, 3, 0x02)).toBe(-9); // raw: -EBADF (a file mapping without a file)
    expect(p.libc.errno).toBe(0);
    expect(got.sbrk(0)).toBe(p.libc.sbrk(0));
  });
});

describe("a student's implicit free list behind p.libc", () => {
  it("boundary tags: exact addresses, coalescing, a break grown by sbrk alone, no glibc extras", () => {
    const { m, p } = boot(implicitList, 2);
    const a = p.libc.malloc(100);
    const b = p.libc.malloc(100);
    // pad 0, prologue at H + 8, the first block's header at H + 24: payload H + 32; 100 B -> a 128-byte block
    expect([a, b]).toEqual([H + 32, H + 160]);
    expect(p.libc.mallocUsableSize(a)).toBe(112);
    expect(p.sys.brk(0)).toBe(H + 32 + 4096);
    p.libc.free(a);
    p.libc.free(b);
    expect(p.libc.malloc(200)).toBe(H + 32);
    expect(p.libc.mallinfo2().arena).toBe(0);
    expect(p.libc.mallopt(1, 64)).toBe(0);
    expect(p.libc.memalign(64, 10)).toBe(0);
    expect(
      p.proc
        .maps()
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.slice(l.lastIndexOf(" ") + 1)),
    ).toEqual(["[heap]", "[stack]"]);
    p.libc.mallocCheck();
    m.check();
  });

  it("a forked child goes on from the parent's heap and its JS state; the two diverge", () => {
    const { m, p } = boot(implicitList, 2);
    const a = p.libc.malloc(64);
    const b = p.libc.malloc(64);
    p.mem.fill(b, 0x5b, 64);
    p.libc.free(a);
    const c = p.fork() as Process;
    expect(c.libc.heap.name).toBe("implicit");
    const x = c.libc.malloc(64);
    expect(x).toBe(a); // first fit
    c.libc.free(b);
    c.mem.fill(x, 0xcc, 64);
    expect(p.libc.malloc(64)).toBe(a);
    expect(c.libc.malloc(64)).toBe(b);
    expect([...p.mem.read(b, 64)].every((v) => v === 0x5b)).toBe(true);
    p.libc.mallocCheck();
    c.libc.mallocCheck();
    c.exit(0);
    p.exit(0);
    m.check();
  });

  it("replays the eleven CS:APP traces through the C library", async () => {
    const { replayTraces } = await import("../../sim/trace/replay.ts");
    const { readMalloclab } = await import("../../sim/trace/malloclab.ts");
    const m = Machine.boot({ ramBytes: 256 << 20, debugVm: 0 });
    const r = replayTraces(readMalloclab(), {
      allocator: (proc) => createMalloc(proc, implicitList),
      spawn: () => m.spawn("mdriver"),
      release: (proc) => (proc as Process).exit(0),
      timedRuns: 0,
    });
    expect(r.traces.map((t) => [t.name, t.valid, t.errors])).toEqual(r.traces.map((t) => [t.name, true, []]));
    expect(r.traces).toHaveLength(11);
    // An implicit list searches every block per malloc: about 15 s alone on
    // CI's cores, several times that when the machine is shared.
  }, 240_000);
});

describe("a wrong malloc layer is a LayerFault naming it", () => {
  it("one that throws", () => {
    const { m, p } = boot(throwingMalloc);
    const f = layerFaultOf(() => p.libc.malloc(100));
    expect(f.layer).toBe("malloc");
    expect(f.message).toBe("malloc layer: 'thrower' malloc(100) threw: Error: out of ideas");
    expect((f.cause as Error).message).toBe("out of ideas");
    m.check();
  });

  it("one whose free or realloc throws: the message names the call and its pointer", () => {
    const refusing: MallocLayer = () =>
      ({
        name: "refuser",
        malloc: () => 0,
        free: () => {
          throw new Error("no free");
        },
        realloc: () => {
          throw new Error("no realloc");
        },
        fork: () => {
          throw new Error("no fork");
        },
      }) as unknown as MallocHeap;
    const { m, p } = boot(refusing);
    expect(layerFaultOf(() => p.libc.free(H + 16)).message).toBe("malloc layer: 'refuser' free(0x555555559010) threw: Error: no free");
    expect(layerFaultOf(() => p.libc.realloc(H + 16, 10)).message).toBe(
      "malloc layer: 'refuser' realloc(0x555555559010, 10) threw: Error: no realloc",
    );
    m.check();
  });

  it("one that hands out an address where nothing is mapped", () => {
    const { m, p } = boot(wildMalloc);
    expect(layerFaultOf(() => p.libc.malloc(100)).message).toBe(
      "malloc layer: 'wild' malloc(100) returned 0x10000, outside every writable mapping of the process (0x10000 is not mapped)",
    );
    m.check();
  });

  it("one that hands out memory past the break it asked for", () => {
    const { p } = boot(pastBreakMalloc);
    expect(layerFaultOf(() => p.libc.malloc(100)).message).toBe(
      "malloc layer: 'pastbreak' malloc(100) returned 0x555555759000, outside every writable mapping of the process (0x555555759000 is not mapped)",
    );
  });

  it("one that hands out read-only memory", () => {
    const readOnly: MallocLayer = (env) => {
      const heap = new ImplicitList(env);
      return {
        name: "rodata",
        fork: (c) => heap.fork(c),
        free: (q) => heap.free(q),
        realloc: (q, n) => heap.realloc(q, n),
        malloc: () => env.mmap(0, 4096, 1, 0x22),
      };
    };
    const { p } = boot(readOnly);
    expect(layerFaultOf(() => p.libc.malloc(16)).message).toBe(
      "malloc layer: 'rodata' malloc(16) returned 0x7ffff7ffe000, outside every writable mapping of the process (0x7ffff7ffe000 is in a mapping without write permission)",
    );
  });

  it("one whose blocks are not 16-byte aligned, or not integers: at every debug level", () => {
    const { p } = boot(misalignedMalloc, 0);
    expect(layerFaultOf(() => p.libc.malloc(100)).message).toBe(
      "malloc layer: 'misaligned' malloc(100) returned 0x555555559008, not 16-byte aligned (malloc promises 16, as glibc on x86-64)",
    );
    const q = boot(fractionMalloc, 0).p;
    expect(layerFaultOf(() => q.libc.malloc(100)).message).toBe(
      "malloc layer: 'fraction' malloc(100) returned 93824992251904.5, it must return 0 or a user address",
    );
  });

  it("one that hands out a block overlapping a live one: caught at debugVm 2, where the live blocks are recorded", () => {
    const { m, p } = boot(overlappingMalloc, 2);
    const a = p.libc.malloc(100);
    p.libc.malloc(100);
    expect(layerFaultOf(() => p.libc.malloc(100)).message).toBe(
      `malloc layer: 'overlapper' malloc(100) returned 0x555555559010, which overlaps the live block 0x555555559000-0x555555559064 it handed out before`,
    );
    expect(a).toBe(H);
    m.check();
  });

  it("at debugVm 1 the overlap goes unseen (no record), and a freed block may be handed out again at any level", () => {
    const { p } = boot(overlappingMalloc, 1);
    p.libc.malloc(100);
    p.libc.malloc(100);
    expect(p.libc.malloc(100)).toBe(H + 16);
    const q = boot(overlappingMalloc, 2).p;
    const a = q.libc.malloc(100);
    q.libc.malloc(100);
    q.libc.free(a);
    expect(q.libc.malloc(50)).toBe(H + 16);
  });

  it("a forked child inherits the record of live blocks", () => {
    const { p } = boot(overlappingMalloc, 2);
    p.libc.malloc(100);
    p.libc.malloc(100);
    const c = p.fork() as Process;
    expect(layerFaultOf(() => c.libc.malloc(100)).message).toMatch(
      /^malloc layer: 'overlapper' malloc\(100\) returned 0x555555559010, which overlaps/,
    );
  });

  it("a factory that throws, or makes a heap without fork", () => {
    const { p } = boot(brokenFactory);
    expect(layerFaultOf(() => p.libc).message).toBe("malloc layer: the factory 'broken' threw: TypeError: cannot read the heap");
    const q = boot(noForkMalloc).p;
    expect(layerFaultOf(() => q.libc).message).toBe(
      "malloc layer: the factory 'noForkMalloc' returned 'forkless', not a heap with a name, malloc, free, realloc and fork",
    );
  });

  it("a layer whose fork throws fails the fork with a LayerFault; the child is gone, nothing leaks", () => {
    const badFork: MallocLayer = (env) => {
      const heap = new ImplicitList(env);
      return {
        name: "nofork",
        malloc: (n) => heap.malloc(n),
        free: (q) => heap.free(q),
        realloc: (q, n) => heap.realloc(q, n),
        fork: () => {
          throw new Error("fork? what fork");
        },
      };
    };
    const { m, p } = boot(badFork);
    p.libc.malloc(10);
    expect(layerFaultOf(() => p.fork()).message).toBe("malloc layer: 'nofork' fork() threw: Error: fork? what fork");
    expect(m.processes()).toEqual([p]);
    p.exit(0);
    m.check();
  });

  it("a signal from inside the layer is the process's end, not a LayerFault", () => {
    const segv: MallocLayer = (env) => {
      const heap = new ImplicitList(env);
      return {
        name: "segv",
        fork: (c) => heap.fork(c),
        free: (q) => heap.free(q),
        realloc: (q, n) => heap.realloc(q, n),
        malloc: () => env.mem.read32(0x1000),
      };
    };
    const { m, p } = boot(segv);
    expect(() => p.libc.malloc(10)).toThrow(SegmentationFault);
    expect(p.state).toBe("killed");
    m.check();
  });
});

describe("LiveBlocks", () => {
  it("keeps blocks sorted, finds overlaps on both sides, forgets freed ones", () => {
    const live = new LiveBlocks();
    expect(live.add(0x2000, 0x2040)).toBeNull();
    expect(live.add(0x1000, 0x1010)).toBeNull();
    expect(live.add(0x3000, 0x3001)).toBeNull();
    expect(live.add(0x1ff0, 0x2001)).toBe("which overlaps the live block 0x2000-0x2040 it handed out before");
    expect(live.add(0x203f, 0x2100)).toBe("which overlaps the live block 0x2000-0x2040 it handed out before");
    expect(live.add(0x2040, 0x2050)).toBeNull();
    expect(live.count).toBe(4);
    expect(live.remove(0x2000)).toBe(true);
    expect(live.remove(0x2000)).toBe(false);
    expect(live.add(0x2000, 0x2040)).toBeNull();
    for (let i = 0; i < 200; i++) expect(live.add(0x10000 + i * 16, 0x10000 + i * 16 + 16)).toBeNull();
    const c = live.clone();
    expect(c.add(0x10000 + 50 * 16, 0x10000 + 50 * 16 + 1)).toBe("which overlaps the live block 0x10320-0x10330 it handed out before");
    expect(c.count).toBe(204);
  });
});
