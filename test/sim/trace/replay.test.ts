import { describe, expect, it } from "vitest";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../../kernel/uapi/mman.ts";
import { Machine } from "../../../sim/machine.ts";
import { HeapWatch } from "../../../sim/trace/heap_watch.ts";
import { parseRep } from "../../../sim/trace/rep.ts";
import { perfIndex, replayTrace, replayTraces, type TraceSetResult } from "../../../sim/trace/replay.ts";
import { formatTable, toJson } from "../../../sim/trace/report.ts";
import type { Allocator } from "../../../userspace/alloc/allocator.ts";
import { HeapCorruption } from "../../../userspace/alloc/allocator.ts";
import { createFreeList } from "../../../userspace/alloc/freelist.ts";
import type { UserProcess } from "../../../userspace/env.ts";
import { testSpawner } from "../../support/process.ts";

const spawn = testSpawner({ ramBytes: 32 << 20 });
const rep = (body: string, ids: number) => parseRep(`${ids}\n${body.trim().split("\n").length}\n${body}`, "t.rep");

/** firstfit with one method replaced: the broken allocators the driver must catch. */
function broken(patch: (a: Allocator, proc: UserProcess) => Partial<Allocator>) {
  return (proc: UserProcess): Allocator => {
    const a = createFreeList(proc);
    const p = patch(a, proc);
    return {
      name: "broken",
      proc,
      malloc: p.malloc ?? ((n) => a.malloc(n)),
      free: p.free ?? ((x, n) => a.free(x, n)),
      realloc: p.realloc ?? ((x, o, n) => a.realloc(x, o, n)),
      check: p.check ?? (() => a.check()),
      stats: () => a.stats(),
    };
  };
}

const TWO = "a 0 100\na 1 200\nf 0\nf 1\n";

describe("the checked run catches what mdriver catches", () => {
  const cases: Array<[string, string, (a: Allocator, proc: UserProcess) => Partial<Allocator>, RegExp]> = [
    [
      "a misaligned payload",
      TWO,
      (a) => ({ malloc: (n) => a.malloc(n + 8) + 8 }),
      /^t\.rep line 3: malloc\(100\) for id 0: payload 0x[0-9a-f]+ is not 16-byte aligned$/,
    ],
    [
      "a payload outside the heap",
      TWO,
      () => ({ malloc: () => 0x10000 }),
      /^t\.rep line 3: malloc\(100\) for id 0: payload \[0x10000, 0x10064\) lies outside the heap$/,
    ],
    [
      "overlapping payloads",
      TWO,
      (a) => {
        let last = 0;
        return { malloc: (n) => (last === 0 ? (last = a.malloc(n)) : last + 64) };
      },
      /^t\.rep line 4: malloc\(200\) for id 1: payload \[0x[0-9a-f]+, 0x[0-9a-f]+\) overlaps id 0 at \[/,
    ],
    [
      "a payload overwritten by a later malloc",
      TWO,
      (a, proc) => {
        let first = 0;
        return {
          malloc: (n) => {
            const p = a.malloc(n);
            if (first === 0) first = p;
            else proc.mem.write8(first + 7, 0xee ^ proc.mem.read8(first + 7));
            return p;
          },
        };
      },
      /^t\.rep line 5: payload of id 0 at 0x[0-9a-f]+ was overwritten before its free \(byte \+7\)$/,
    ],
    [
      "a realloc that does not copy",
      "a 0 100\nr 0 5000\nf 0\n",
      (a) => ({
        realloc: (x, o, n) => {
          const q = a.malloc(n);
          a.free(x, o);
          return q;
        },
      }),
      /^t\.rep line 4: realloc\(0x[0-9a-f]+, 5000\) of id 0 to 0x[0-9a-f]+: payload byte \+0 differs \(not kept by realloc, or overwritten earlier\)$/,
    ],
    ["malloc returning NULL", TWO, () => ({ malloc: () => 0 }), /^t\.rep line 3: malloc\(100\) for id 0 returned NULL$/],
    [
      "an allocator that crashes",
      TWO,
      (_a, proc) => ({ malloc: () => proc.mem.read32(0x20) }),
      /^t\.rep line 3: malloc\(100\) for id 0 crashed: SegmentationFault: pid \d+: SIGSEGV \(SEGV_MAPERR\) at (0x)?20 on read$/,
    ],
    [
      "a heap checker that fails at the end",
      TWO,
      () => ({
        check: () => {
          throw new HeapCorruption("X-1", "made up");
        },
      }),
      /^t\.rep: heap check at the end: HeapCorruption: X-1: made up$/,
    ],
  ];
  for (const [what, body, patch, message] of cases) {
    it(what, () => {
      const r = replayTrace(rep(body, 2), { allocator: broken(patch), spawn, timedRuns: 0 });
      expect(r.valid).toBe(false);
      expect(r.util).toBe(0);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]).toMatch(message);
    });
  }

  it("the same trace with the unbroken allocator is valid", () => {
    const r = replayTrace(rep(TWO, 2), { allocator: broken(() => ({})), spawn, timedRuns: 0 });
    expect(r.errors).toEqual([]);
  });
});

describe("measures", () => {
  it("utilisation is peak live payload over peak heap: 300 / (80-byte root + 16 + one 4096-byte page)", () => {
    const r = replayTrace(rep("a 0 100\na 1 200\nf 0\na 2 50\nf 1\nf 2\n", 3), { allocator: "firstfit", spawn, timedRuns: 0 });
    expect(r).toMatchObject({ valid: true, ops: 6, peakLive: 300, peakHeap: 4192, util: 300 / 4192, secs: 0, kops: 0, faults: null });
    expect(r.syscalls).toEqual({ brk: 4, mmap: 0, munmap: 0, mremap: 0, other: 0 });
  });

  it("mapped bytes count in the heap: a pool's 100-byte request gets a page of its own", () => {
    const r = replayTrace(rep("a 0 100\nf 0\n", 1), { allocator: "pool", spawn, timedRuns: 0 });
    expect(r).toMatchObject({ valid: true, peakLive: 100, peakHeap: 112 + 4096 });
    expect(r.syscalls).toEqual({ brk: 2, mmap: 1, munmap: 1, mremap: 0, other: 0 });
  });

  it("a timed run reports the page faults of the real process it ran in", () => {
    const r = replayTrace(rep(TWO, 2), { allocator: "firstfit", spawn, timedRuns: 1 });
    expect(r.faults).toBe(2); // the root's page and the heap's first page, both touched by headers
  });

  it("a trace set's totals: the mean of the utilisations, and no perf index once a trace is invalid", () => {
    const good = rep("a 0 100\nf 0\n", 1);
    const bad = rep("a 0 1000000000\nf 0\n", 1);
    const r = replayTraces([good, bad], { allocator: "firstfit", spawn, timedRuns: 0 });
    expect(r.traces.map((t) => t.valid)).toEqual([true, false]);
    expect(r.meanUtil).toBe(100 / 4192 / 2);
    expect([r.perfIndex, r.utilPoints, r.thruPoints]).toEqual([0, 0, 0]);
  });

  it("mdriver's perf index: 60 points of utilisation, 40 of throughput capped at 600 Kops/s", () => {
    expect(perfIndex(0.9, 600_000, 2)).toEqual({ util: 54, thru: 20, total: 74 });
    expect(perfIndex(0.5, 6_000_000, 1)).toEqual({ util: 30, thru: 40, total: 70 });
    expect(perfIndex(1, 10, 0)).toEqual({ util: 60, thru: 0, total: 60 });
  });
});

describe("output", () => {
  const result: TraceSetResult = {
    allocator: "demo",
    traces: [
      {
        name: "a.rep",
        valid: true,
        util: 0.987,
        ops: 5694,
        secs: 0.0123456,
        kops: 461.2,
        errors: [],
        peakLive: 0,
        peakHeap: 0,
        syscalls: { brk: 0, mmap: 0, munmap: 0, mremap: 0, other: 0 },
        faults: 3,
      },
      {
        name: "b.rep",
        valid: true,
        util: 0.5,
        ops: 100,
        secs: 0.001,
        kops: 100,
        errors: [],
        peakLive: 0,
        peakHeap: 0,
        syscalls: { brk: 0, mmap: 0, munmap: 0, mremap: 0, other: 0 },
        faults: 1,
      },
    ],
    meanUtil: 0.7435,
    kops: 432.5,
    perfIndex: 73.46,
    utilPoints: 44.61,
    thruPoints: 28.85,
  };

  it("mdriver's table, with the trace file after each row", () => {
    expect(formatTable(result)).toBe(
      [
        "Results for demo:",
        "trace  valid  util     ops      secs      Kops  trace file",
        " 0       yes   99%    5694  0.012346       461  a.rep",
        " 1       yes   50%     100  0.001000       100  b.rep",
        "Total          74%    5794  0.013346       433",
        "",
        "Perf index = 45 (util) + 29 (thru) = 73/100",
        "",
      ].join("\n"),
    );
  });

  it("errors come first and invalid rows show dashes", () => {
    const t = result.traces[1]!;
    const r = { ...result, traces: [result.traces[0]!, { ...t, valid: false, errors: ["b.rep line 3: broken"] }] };
    expect(formatTable(r)).toBe(
      [
        "ERROR [trace 1]: b.rep line 3: broken",
        "",
        "Results for demo:",
        "trace  valid  util     ops      secs      Kops  trace file",
        " 0       yes   99%    5694  0.012346       461  a.rep",
        " 1        no     -       -         -         -  b.rep",
        "Total            -       -         -         -",
        "",
        "Terminated with 1 errors",
        "",
      ].join("\n"),
    );
  });

  it("the JSON object has exactly the fields the CLI documents", () => {
    expect(toJson(result)).toEqual({
      traces: [
        { name: "a.rep", valid: true, util: 0.987, ops: 5694, secs: 0.0123456, kops: 461.2, errors: [] },
        { name: "b.rep", valid: true, util: 0.5, ops: 100, secs: 0.001, kops: 100, errors: [] },
      ],
      meanUtil: 0.7435,
      kops: 432.5,
      perfIndex: 73.46,
    });
  });
});

describe("HeapWatch: the driver's own record of the heap", () => {
  it("tracks the break and merges, splits and drops mapped ranges", () => {
    const proc = Machine.boot({ ramBytes: 8 << 20 }).spawn("w");
    const w = new HeapWatch(proc);
    const sys = w.proc.sys;
    const start = w.brkStart;
    sys.brk(start + 5000);
    expect(w.heapBytes()).toBe(5000);
    expect(w.contains(start, 5000)).toBe(true);
    expect(w.contains(start + 4000, 1001)).toBe(false);
    const a = sys.mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    expect(w.heapBytes()).toBe(5000 + 3 * 4096);
    expect(w.contains(a + 100, 3 * 4096 - 100)).toBe(true);
    expect(sys.munmap(a + 4096, 4096)).toBe(0);
    expect(w.mmappedBytes).toBe(2 * 4096);
    expect(w.contains(a, 4096)).toBe(true);
    expect(w.contains(a + 4000, 200)).toBe(false);
    expect(w.contains(a + 2 * 4096, 4096)).toBe(true);
    sys.brk(start);
    expect(w.heapBytes()).toBe(2 * 4096);
    expect(w.peakHeap).toBe(5000 + 3 * 4096);
    expect(w.counts).toEqual({ brk: 2, mmap: 1, munmap: 1, mremap: 0, other: 0 });
  });
});
