import { describe, expect, it } from "vitest";
import {
  __GFP_NOWARN,
  GFP_KERNEL,
  GFP_NOWAIT,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  PROT_READ,
  PROT_WRITE,
  xv6Frames,
} from "../../../sim/index.ts";
import { vmstat } from "../../support/vmstat.ts";

const PAGE = 4096;

/**
 * 16 MiB (4096 frames, one zone of eight page blocks): two processes touch
 * their pages in turns until about 300 frames are left, then b exits,
 * leaving a's pages every other frame (the `compaction` scenario's setup).
 */
function fragmented() {
  const m = Machine.boot({ ramBytes: 16 << 20, seed: 1, debugVm: 1 });
  const a = m.spawn("a");
  const b = m.spawn("b");
  const pages = Math.floor((m.kernel.buddy.nrFreePages() + m.kernel.buddy.nrPcpPages() - 300) / 2);
  const rw = PROT_READ | PROT_WRITE;
  const va = a.sys.mmap(0, pages * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS);
  const vb = b.sys.mmap(0, pages * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let i = 0; i < pages; i++) {
    a.mem.write32(va + i * PAGE, 0x1000 + i);
    b.mem.write32(vb + i * PAGE, 7);
  }
  b.exit(0);
  m.kernel.drainPcp();
  return { m, a, va, pages };
}

function readsBack(a: ReturnType<typeof fragmented>["a"], va: number, pages: number): number {
  let same = 0;
  for (let i = 0; i < pages; i++) if (a.mem.read32(va + i * PAGE) === 0x1000 + i) same++;
  return same;
}

describe("compaction", () => {
  it("direct compaction in the slow path makes an order-9 block for a request that may wait", () => {
    const { m, a, va, pages } = fragmented();
    // GFP_NOWAIT may not compact: it fails, and wakes kcompactd (which runs after the next kswapd, not yet).
    expect(m.kernel.allocPages(9, GFP_NOWAIT | __GFP_NOWARN)).toBeNull();
    expect(vmstat(m, "compact_stall")).toBe(0);
    const pfn = m.kernel.allocPages(9, GFP_KERNEL | __GFP_NOWARN);
    expect(pfn).not.toBeNull();
    // One direct compaction, and it succeeded; pages moved and every byte of a still reads back.
    expect([vmstat(m, "compact_stall"), vmstat(m, "compact_success"), vmstat(m, "compact_fail")]).toEqual([1, 1, 0]);
    expect(vmstat(m, "pgmigrate_success")).toBeGreaterThan(0);
    expect(readsBack(a, va, pages)).toBe(pages);
    m.check();
  });

  it("compact_memory leaves the survivor's bytes in place and the checkers pass; it counts its scans", () => {
    const { m, a, va, pages } = fragmented();
    m.kernel.compactMemory();
    // compact_isolated counts sources and targets: every migrated page had one of each, so it is at least twice the moves.
    const moved = vmstat(m, "pgmigrate_success");
    expect(moved).toBeGreaterThan(0);
    expect(vmstat(m, "compact_isolated")).toBeGreaterThanOrEqual(2 * moved);
    expect(vmstat(m, "compact_migrate_scanned")).toBeGreaterThan(0);
    expect(vmstat(m, "compact_free_scanned")).toBeGreaterThan(0);
    expect(readsBack(a, va, pages)).toBe(pages);
    m.check();
  });

  it("a failed order-9 request wakes kcompactd, which compacts after the next kswapd run", () => {
    const { m, a, va, pages } = fragmented();
    expect(m.kernel.allocPages(9, GFP_NOWAIT | __GFP_NOWARN)).toBeNull();
    expect(vmstat(m, "compact_daemon_wake")).toBe(0);
    m.kernel.taskParts.reclaim.kswapd();
    expect(vmstat(m, "compact_daemon_wake")).toBe(1);
    // kcompactd made the block: the request that may not wait now succeeds, with no direct compaction.
    expect(m.kernel.allocPages(9, GFP_NOWAIT | __GFP_NOWARN)).not.toBeNull();
    expect(vmstat(m, "compact_stall")).toBe(0);
    // Not woken again: a second kswapd run does not compact.
    m.kernel.taskParts.reclaim.kswapd();
    expect(vmstat(m, "compact_daemon_wake")).toBe(1);
    expect(readsBack(a, va, pages)).toBe(pages);
    m.check();
  });

  it("does nothing on a frames layer that cannot isolate free blocks (xv6)", () => {
    const m = Machine.boot({ ramBytes: 8 << 20, seed: 1, layers: { frames: xv6Frames } });
    m.kernel.compactMemory();
    expect([vmstat(m, "compact_migrate_scanned"), vmstat(m, "compact_free_scanned")]).toEqual([0, 0]);
    m.check();
  });
});

describe("/proc/pagetypeinfo", () => {
  it("counts free blocks per order and type and the page blocks of each type; the rows add up to buddyinfo", () => {
    const m = Machine.boot({ ramBytes: 8 << 20, seed: 1, pcpBatch: -1 });
    const text = m.proc.pagetypeinfo();
    const lines = text.split("\n");
    expect(lines.slice(0, 4)).toEqual([
      "Page block order: 9",
      "Pages per block:  512",
      "",
      "Free pages count per migrate type at order       0      1      2      3      4      5      6      7      8      9     10 ",
    ]);
    expect(lines[8]).toBe("Number of blocks type     Unmovable      Movable  Reclaimable ");
    // Per order, the three type rows add up to /proc/buddyinfo's count.
    const rows = lines.slice(4, 7).map((l) => l.slice(44).trim().split(/\s+/).map(Number));
    const buddy = m.proc.buddyinfo().slice(22).trim().split(/\s+/).map(Number);
    expect(buddy.map((_, o) => rows.reduce((n, r) => n + (r[o] as number), 0))).toEqual(buddy);
    // 2048 frames are four page blocks, all Movable at boot (as Linux marks them).
    expect(lines[9]).toBe("Node 0, zone      DMA            0            4            0 ");
    // The first Unmovable request finds no Unmovable list and falls back to the largest Movable block: the order-10
    // block at 0x400, two page blocks, which it claims whole (page_alloc_lists.ts), then splits down to its page.
    expect(m.kernel.allocPages(0, GFP_KERNEL)).toBe(0x400);
    expect(m.proc.pagetypeinfo().split("\n")[9]).toBe("Node 0, zone      DMA            2            2            0 ");
    m.check();
  });
});
