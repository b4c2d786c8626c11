import { describe, expect, it } from "vitest";
import {
  __GFP_NOWARN,
  fifoReplacement,
  GFP_KERNEL,
  LayerFault,
  MADV_COLD,
  MADV_FREE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_LOCKED,
  MAP_PRIVATE,
  Machine,
  PROT_READ,
  PROT_WRITE,
  type Process,
  type ReplacementLayer,
  xv6Frames,
} from "../../../sim/index.ts";
import { vmstat } from "../../support/vmstat.ts";

const PAGE = 4096;
const BASE = 0x100000000;

function boot(opts: { debugVm?: number; replacement?: ReplacementLayer } = {}) {
  const m = Machine.boot({
    ramBytes: 4 << 20,
    swapBytes: 4 << 20,
    debugVm: opts.debugVm ?? 3,
    layers: opts.replacement === undefined ? {} : { replacement: opts.replacement },
  });
  const p = m.spawn("t");
  return { m, p, reclaim: m.kernel.taskParts.reclaim };
}

function mapPages(p: Process, at: number, pages: number, extra = 0): void {
  expect(p.sys.mmap(at, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | extra)).toBe(at);
}

function writePages(p: Process, at: number, pages: number, tag: number): void {
  for (let i = 0; i < pages; i++) p.mem.write32(at + i * PAGE, tag + i);
}

/** Which of `pages` pages at `at` hold a swap entry now. */
function swappedOut(p: Process, at: number, pages: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < pages; i++) if (p.mm.pt.explain(at + i * PAGE).includes("swap entry")) out.push(i);
  return out;
}

function meminfo(m: Machine, name: string): number {
  const line = m.proc
    .meminfo()
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  return Number(line?.split(/\s+/)[1]);
}

describe("the two-list policy (second chance, promotion)", () => {
  it("new pages enter the inactive list; a page referenced since the last look gets a second chance, the unreferenced one goes", () => {
    const { m, p, reclaim } = boot();
    mapPages(p, BASE, 3);
    writePages(p, BASE, 3, 100);
    expect([meminfo(m, "Inactive(anon)"), meminfo(m, "Active(anon)")]).toEqual([12, 0]);
    // Each page was referenced by its fault: every one is looked at once, then the oldest goes.
    expect(reclaim.tryToFreePages(1, 0)).toBe(1);
    expect(swappedOut(p, BASE, 3)).toEqual([0]);
    expect([vmstat(m, "pgscan_direct"), vmstat(m, "pgsteal_direct"), vmstat(m, "pswpout")]).toEqual([4, 1, 1]);
    m.check();
  });

  it("a page referenced twice while inactive is promoted to the active list", () => {
    const { m, p, reclaim } = boot();
    mapPages(p, BASE, 3);
    writePages(p, BASE, 3, 100);
    reclaim.tryToFreePages(1, 0);
    // Pages 1 and 2 are inactive with PG_referenced; page 1 is referenced again.
    p.mem.write32(BASE + PAGE, 7);
    expect(reclaim.tryToFreePages(1, 0)).toBe(1);
    expect(swappedOut(p, BASE, 3)).toEqual([0, 2]);
    expect([meminfo(m, "Active(anon)"), meminfo(m, "Inactive(anon)")]).toEqual([4, 0]);
    expect([p.mem.read32(BASE), p.mem.read32(BASE + PAGE), p.mem.read32(BASE + 2 * PAGE)]).toEqual([100, 7, 102]);
    m.check();
  });

  it("MADV_COLD moves an active page back to the inactive list", () => {
    const { m, p, reclaim } = boot();
    mapPages(p, BASE, 3);
    writePages(p, BASE, 3, 100);
    reclaim.tryToFreePages(1, 0);
    p.mem.write32(BASE + PAGE, 7);
    reclaim.tryToFreePages(1, 0);
    expect(meminfo(m, "Active(anon)")).toBe(4);
    expect(p.sys.madvise(BASE + PAGE, PAGE, MADV_COLD)).toBe(0);
    expect([meminfo(m, "Active(anon)"), meminfo(m, "Inactive(anon)")]).toEqual([0, 4]);
    // Cold and not referenced since: the next victim.
    expect(reclaim.tryToFreePages(1, 0)).toBe(1);
    expect(swappedOut(p, BASE, 3)).toEqual([0, 1, 2]);
    m.check();
  });

  it("a refault of a page reclaim evicted counts workingset_refault_anon and a major fault", () => {
    const { m, p, reclaim } = boot();
    mapPages(p, BASE, 2);
    writePages(p, BASE, 2, 100);
    reclaim.tryToFreePages(1, 0);
    const major = vmstat(m, "pgmajfault");
    expect(p.mem.read32(BASE)).toBe(100);
    expect([vmstat(m, "workingset_refault_anon"), vmstat(m, "pgmajfault") - major]).toEqual([1, 1]);
    m.check();
  });
});

describe("kswapd and direct reclaim", () => {
  it("a fault that leaves free pages below the low watermark wakes kswapd, which reclaims to the high one", () => {
    const { m, p, reclaim } = boot({ debugVm: 1 });
    const marks = reclaim.watermarks();
    expect(marks).toEqual({ min: 62, low: 77, high: 92 });
    mapPages(p, BASE, 1000);
    let n = 0;
    while (vmstat(m, "kswapd_wakeups") === 0) p.mem.write32(BASE + n * PAGE, 1 + n++);
    // Woken with free one below low, kswapd took free to high: it looked at all 909 pages once (each referenced by its fault), then at 16 again.
    expect([n, reclaim.nrFree()]).toEqual([909, marks.high]);
    expect([vmstat(m, "pgscan_kswapd"), vmstat(m, "pgsteal_kswapd"), vmstat(m, "pswpout"), vmstat(m, "pgscan_direct")]).toEqual([
      925, 16, 16, 0,
    ]);
    for (let i = 0; i < n; i++) expect(p.mem.read32(BASE + i * PAGE)).toBe(1 + i);
    m.check();
  });

  it("an allocation the page allocator refuses at the min watermark reclaims SWAP_CLUSTER_MAX pages in the faulting task", () => {
    const { m, p } = boot({ debugVm: 1 });
    mapPages(p, BASE, 65);
    for (let i = 0; i < 64; i++) p.mem.write32(BASE + i * PAGE, 1 + i);
    // The kernel takes every page the allocator gives above min (kswapd wakes only after a user fault).
    const held: number[] = [];
    for (
      let pfn = m.kernel.pages.allocPages(0, GFP_KERNEL | __GFP_NOWARN);
      pfn >= 0;
      pfn = m.kernel.pages.allocPages(0, GFP_KERNEL | __GFP_NOWARN)
    )
      held.push(pfn);
    p.mem.write32(BASE + 64 * PAGE, 65);
    expect([vmstat(m, "pgscan_direct"), vmstat(m, "pgsteal_direct")]).toEqual([96, 32]);
    for (const pfn of held) m.kernel.pages.freePages(pfn, 0);
    for (let i = 0; i < 65; i++) expect(p.mem.read32(BASE + i * PAGE)).toBe(1 + i);
    m.check();
  });
});

describe("reclaim on a frames layer without zones", () => {
  it("xv6's allocator: watermarks are computed from its managed pages, kswapd and reclaim work the same", () => {
    const m = Machine.boot({ ramBytes: 4 << 20, swapBytes: 4 << 20, debugVm: 1, layers: { frames: xv6Frames } });
    const p = m.spawn("t");
    const reclaim = m.kernel.taskParts.reclaim;
    expect(reclaim.watermarks()).toEqual({ min: 62, low: 77, high: 92 });
    mapPages(p, BASE, 1000);
    let n = 0;
    while (vmstat(m, "kswapd_wakeups") === 0) p.mem.write32(BASE + n * PAGE, 1 + n++);
    expect(reclaim.nrFree()).toBe(92);
    for (let i = 0; i < n; i++) expect(p.mem.read32(BASE + i * PAGE)).toBe(1 + i);
    m.check();
  });
});

describe("unevictable and lazily freed pages", () => {
  it("pages of a MAP_LOCKED mapping are unevictable and mlocked: reclaim never swaps them", () => {
    const { m, p, reclaim } = boot();
    mapPages(p, BASE, 4, MAP_LOCKED);
    writePages(p, BASE, 4, 10);
    mapPages(p, BASE + 16 * PAGE, 4);
    writePages(p, BASE + 16 * PAGE, 4, 20);
    expect([meminfo(m, "Unevictable"), meminfo(m, "Mlocked")]).toEqual([16, 16]);
    expect(reclaim.tryToFreePages(100, 0)).toBe(4);
    expect(swappedOut(p, BASE, 4)).toEqual([]);
    expect(swappedOut(p, BASE + 16 * PAGE, 4)).toEqual([0, 1, 2, 3]);
    expect(vmstat(m, "pswpout")).toBe(4);
    m.check();
  });

  it("a MADV_FREE page no one wrote since is dropped under pressure, not swapped; a written one is swapped", () => {
    const { m, p, reclaim } = boot();
    mapPages(p, BASE, 3);
    writePages(p, BASE, 3, 30);
    expect(p.sys.madvise(BASE, 3 * PAGE, MADV_FREE)).toBe(0);
    p.mem.write32(BASE + 2 * PAGE, 99);
    expect(reclaim.tryToFreePages(3, 0)).toBe(3);
    expect(vmstat(m, "pswpout")).toBe(1);
    expect(vmstat(m, "pglazyfreed")).toBe(2);
    expect([p.mem.read32(BASE), p.mem.read32(BASE + PAGE), p.mem.read32(BASE + 2 * PAGE)]).toEqual([0, 0, 99]);
    m.check();
  });
});

describe("page-cache pages and the anonymous LRU lists", () => {
  it("a file's cached pages name their inode in struct page yet sit on no LRU list, and the LRU checker accepts them", () => {
    const { m } = boot();
    m.fs.writeFile("/f", new Uint8Array(2 * PAGE + 100).fill(7));
    m.fs.sync();
    expect(m.fs.readFile("/f").length).toBe(2 * PAGE + 100);
    expect(() => m.check()).not.toThrow();
  });
});

describe("layers.replacement on a machine", () => {
  it("FIFO evicts in the order pages came in, whatever their references", () => {
    const { m, p, reclaim } = boot({ replacement: fifoReplacement });
    mapPages(p, BASE, 4);
    writePages(p, BASE, 4, 1);
    p.mem.write32(BASE, 9);
    expect(reclaim.tryToFreePages(2, 0)).toBe(2);
    expect(swappedOut(p, BASE, 4)).toEqual([0, 1]);
    m.check();
  });

  it("a victim that is not a resident page is a LayerFault naming the policy", () => {
    const bad: ReplacementLayer = () => ({
      name: "bad",
      added: () => {},
      removed: () => {},
      referenced: () => {},
      victim: () => 0,
      keep: () => {},
    });
    const { p, reclaim } = boot({ replacement: bad });
    mapPages(p, BASE, 1);
    writePages(p, BASE, 1, 1);
    let err: unknown = null;
    try {
      reclaim.tryToFreePages(1, 0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LayerFault);
    expect((err as LayerFault).layer).toBe("replacement");
    expect((err as Error).message).toContain(
      "replacement layer: 'bad' victim() returned pfn 0x0, which is not a resident evictable anonymous page",
    );
  });

  it("a policy that throws is a LayerFault with its error", () => {
    const throws: ReplacementLayer = () => ({
      name: "oops",
      added: () => {},
      removed: () => {},
      referenced: () => {},
      victim: () => {
        throw new Error("no idea");
      },
      keep: () => {},
    });
    const { p, reclaim } = boot({ replacement: throws });
    mapPages(p, BASE, 1);
    writePages(p, BASE, 1, 1);
    expect(() => reclaim.tryToFreePages(1, 0)).toThrow("replacement layer: 'oops' victim() threw: Error: no idea");
  });
});
