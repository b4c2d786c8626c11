/**
 * malloc through the layers below it. The stories of memsim's own malloc
 * (its exact heap, its mmap threshold, glibc's abort messages) run on
 * p.libc when it is memsim's; the rest holds for any malloc layer (the
 * vitest project malloc-implicit reruns them on a student's).
 */
import { describe, expect, it } from "vitest";
import { ProcessKilled } from "../../kernel/signal.ts";
import { SIGABRT } from "../../kernel/uapi/signal.ts";
import type { Machine } from "../../sim/machine.ts";
import { bootMachine, ON_MEMSIM_MALLOC } from "../support/boot.ts";

/** A machine without per-CPU page lists, so MemFree moves page by page. */
function boot() {
  const m = bootMachine({ ramBytes: 64 << 20, pcpBatch: -1 });
  m.spawn("warm-up").exit(0);
  const before = memFreeKb(m);
  const p = m.spawn("app");
  return { m, p, libc: p.libc, before };
}

function memFreeKb(m: Machine): number {
  return Number(/MemFree:\s+(\d+) kB/.exec(m.proc.meminfo())![1]);
}

function heapRssKb(smaps: string): number {
  const at = smaps.indexOf("[heap]");
  return Number(/Rss:\s+(\d+) kB/.exec(smaps.slice(at))![1]);
}

describe("any malloc layer: heap pages come with first touches and go back at exit", () => {
  it("blocks written byte by byte fault their pages in; exit returns every page", () => {
    const { m, p, libc, before } = boot();
    const faults = p.minflt;
    const blocks = Array.from({ length: 50 }, (_, i) => libc.malloc(1000 + 37 * i));
    for (const [i, q] of blocks.entries()) libc.memset(q, i, 1000 + 37 * i);
    // 95325 bytes written: at least 24 pages, each brought in by a fault
    expect(p.minflt - faults).toBeGreaterThanOrEqual(24);
    expect(heapRssKb(p.proc.smaps())).toBeGreaterThanOrEqual(96);
    expect(blocks.map((q) => p.mem.read8(q + 999))).toEqual(blocks.map((_, i) => i));
    for (const q of blocks.filter((_, i) => i % 3 === 0)) libc.free(q);
    libc.mallocCheck();
    p.exit(0);
    expect(memFreeKb(m)).toBe(before);
    m.check();
  });
});

describe.skipIf(!ON_MEMSIM_MALLOC)("memsim's malloc -> brk -> page fault -> buddy", () => {
  it("the heap grows with brk, its pages arrive on first touch, and a trim gives them back", () => {
    const { m, p, libc, before } = boot();
    const a = libc.malloc(100000);
    const b = libc.malloc(100000);
    // 1024-byte arena header + two 100016-byte chunks + a 32-byte top = 201088 bytes: 50 pages
    expect(p.proc.maps()).toContain("555555559000-55555558b000 rw-p 00000000 00:00 0                          [heap]\n");
    // only the pages malloc wrote headers into are present: the header's, b's and the top's
    expect(heapRssKb(p.proc.smaps())).toBe(12);
    const faults = p.minflt;
    libc.memset(a, 0x11, 100000);
    libc.memset(b, 0x22, 100000);
    expect(p.minflt - faults).toBe(47);
    expect(heapRssKb(p.proc.smaps())).toBe(200);
    expect(memFreeKb(m)).toBeLessThanOrEqual(before - 200);
    libc.free(b);
    libc.free(a);
    // the top passed M_TRIM_THRESHOLD: brk gave all but the header's page and a page of top back
    expect(p.proc.maps()).toContain("555555559000-55555555b000 rw-p 00000000 00:00 0                          [heap]\n");
    expect(heapRssKb(p.proc.smaps())).toBe(8);
    libc.mallocCheck();
    p.exit(0);
    expect(memFreeKb(m)).toBe(before);
    m.check();
  });

  it("a free span inside the heap is decommitted: smaps Rss drops, MemFree rises", () => {
    const { m, p, libc } = boot();
    const ps = Array.from({ length: 140 }, () => libc.malloc(4000));
    const guard = libc.malloc(100);
    for (const q of ps) libc.memset(q, 0x5a, 4000);
    const rss = heapRssKb(p.proc.smaps());
    const free = memFreeKb(m);
    expect(rss).toBe(552);
    for (const q of ps) libc.free(q);
    expect(heapRssKb(p.proc.smaps())).toBeLessThanOrEqual(12);
    expect(memFreeKb(m)).toBeGreaterThanOrEqual(free + 536);
    expect(p.proc.maps()).toContain("[heap]");
    libc.free(guard);
    libc.mallocCheck();
    m.check();
  });
});

describe.skipIf(!ON_MEMSIM_MALLOC)("memsim's large malloc -> mmap -> munmap on free", () => {
  it("a 1 MiB request is a mapping of its own, gone after free", () => {
    const { m, p, libc } = boot();
    const q = libc.malloc(1 << 20);
    expect(q).toBe(0x7ffff7efe010);
    expect(p.proc.maps()).toContain("7ffff7efe000-7ffff7fff000 rw-p 00000000 00:00 0 \n");
    libc.memset(q, 1, 1 << 20);
    expect(libc.mallinfo2()).toMatchObject({ hblks: 1, hblkhd: (1 << 20) + 4096 });
    libc.free(q);
    expect(p.proc.maps()).not.toContain("7ffff7efe000");
    expect(libc.mallinfo2()).toMatchObject({ hblks: 0, hblkhd: 0 });
    m.check();
  });
});

describe.skipIf(!ON_MEMSIM_MALLOC)("a heap bug memsim's malloc detects kills the process", () => {
  it("double free: SIGABRT with glibc's message, and every page goes back", () => {
    const { m, p, libc, before } = boot();
    const a = libc.malloc(300);
    libc.malloc(300);
    libc.free(a);
    expect(() => libc.free(a)).toThrow(ProcessKilled);
    expect(p.state).toBe("killed");
    expect(p.exitSignal).toBe(SIGABRT);
    // a's 320-byte chunk waits in the tcache (it serves up to 1040): its key is found on list 18, as glibc finds it
    expect(p.stderr).toBe("free(): double free detected in tcache 2\n");
    expect(memFreeKb(m)).toBe(before);
    m.check();
  });
});

/** A malloc story: small and large blocks, realloc, free, trim. Returns what it saw; the process may die of OOM on the way. */
function mallocStory(m: Machine): string[] {
  const seen: string[] = [];
  let p: ReturnType<Machine["spawn"]>;
  try {
    p = m.spawn("story");
  } catch {
    return ["spawn=ENOMEM"];
  }
  const libc = p.libc;
  const got = (what: string, ptr: number) => {
    seen.push(`${what}=${ptr === 0 ? `0/${libc.errno}` : "ok"}`);
    return ptr;
  };
  try {
    const a = got("malloc", libc.malloc(20000));
    const b = got("malloc", libc.malloc(300000));
    if (a !== 0) libc.memset(a, 1, 20000);
    if (b !== 0) libc.memset(b, 2, 300000);
    const c = got("realloc", libc.realloc(a, 200000));
    if (c !== 0) libc.free(c);
    else libc.free(a);
    libc.free(b);
    libc.mallocCheck();
    p.exit(0);
  } catch (e) {
    if (!(e instanceof ProcessKilled)) throw e;
    seen.push(`killed(${e.signo})`);
  }
  return seen;
}

describe("fault injection along a malloc story", () => {
  it("failing the Nth page or slab allocation: malloc returns 0/ENOMEM or the process dies of OOM; nothing leaks", () => {
    const outcomes = new Set<string>();
    for (const point of ["failPageAlloc", "failSlab"] as const) {
      for (let nth = 1; nth <= 300; nth++) {
        const m = bootMachine({ ramBytes: 16 << 20, debugVm: 2 });
        m.kernel.dropCaches();
        const free0 = memFreeKb(m);
        m.faults[point]({ nth });
        const seen = mallocStory(m);
        const injected = m.faults.injected[point === "failPageAlloc" ? "pageAlloc" : "slab"];
        m.faults.clear();
        for (const q of m.processes()) q.exit(0);
        m.kernel.dropCaches();
        m.check();
        expect(memFreeKb(m), `leak with ${point} nth=${nth}: ${seen.join(" ")}`).toBe(free0);
        outcomes.add(seen.join(" "));
        if (injected === 0) break;
      }
    }
    expect(outcomes).toContain("malloc=ok malloc=ok realloc=ok");
    expect([...outcomes].some((o) => o.includes("=0/12"))).toBe(true);
    expect([...outcomes].some((o) => o.includes("killed(9)"))).toBe(true);
  });
});
