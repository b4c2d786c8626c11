import { describe, expect, it } from "vitest";
import { GFP_HIGHUSER_MOVABLE, GFP_KERNEL, Machine } from "../../../sim/index.ts";

const MiB = 1 << 20;
/** Page blocks are order 9 (512 frames) on a default machine. */
const PAGEBLOCK = 512;

interface BuddyView {
  pcpRefills: number;
  zones: Array<{ name: string; pcp: Array<{ count: number; byOrder: number[] }> }>;
}

function buddy(m: Machine): BuddyView {
  return (m.stats() as { buddy: BuddyView }).buddy;
}

function alloc0(m: Machine, gfp: number): number {
  const pfn = m.kernel.pages.allocPages(0, gfp);
  if (pfn < 0) throw new Error("order-0 allocation failed");
  return pfn;
}

describe("per-CPU lists per migrate type", () => {
  it("an Unmovable request with no Unmovable block falls back straight to the caller; the next one refills its list once", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB, pcpBatch: 8 });
    m.kernel.drainPcp();
    const refills = [buddy(m).pcpRefills];
    // After boot every Normal page block is Movable (pagetypeinfo: 12 free order-10 Movable blocks, 0 Unmovable), so the
    // first GFP_KERNEL page comes from the fallback: the top order-10 block at 0x3c00 (16 MiB + 11 * 4 MiB = pfn 0x3c00)
    // is claimed for Unmovable and its head handed over directly, with no refill.
    const first = alloc0(m, GFP_KERNEL);
    refills.push(buddy(m).pcpRefills);
    // The claimed block's split halves are now Unmovable free blocks: the second request refills 8 pages (batch 8).
    const u = alloc0(m, GFP_KERNEL);
    refills.push(buddy(m).pcpRefills);
    m.kernel.pages.freePages(u, 0);
    // Freed to the list of its page block's type (Unmovable) and popped back: no refill.
    expect(alloc0(m, GFP_KERNEL)).toBe(u);
    refills.push(buddy(m).pcpRefills);
    expect(first).toBe(0x3c00);
    expect(refills.map((r) => r - (refills[0] as number))).toEqual([0, 0, 1, 1]);
    m.check();
  });

  it("a free goes to the list of its page block's type: each request type gets its own page back, not the last one freed", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB, pcpBatch: 8 });
    m.kernel.drainPcp();
    const u = alloc0(m, GFP_KERNEL);
    const mv = alloc0(m, GFP_HIGHUSER_MOVABLE);
    // Unmovable and Movable pages come from page blocks of different types, so from different blocks.
    expect(Math.floor(u / PAGEBLOCK)).not.toBe(Math.floor(mv / PAGEBLOCK));
    m.kernel.pages.freePages(mv, 0);
    m.kernel.pages.freePages(u, 0);
    // One list for all types would hand u (freed last) to the Movable request; per-type lists give each its own page.
    expect(alloc0(m, GFP_HIGHUSER_MOVABLE)).toBe(mv);
    expect(alloc0(m, GFP_KERNEL)).toBe(u);
    m.check();
  });

  it("the per-CPU page count of a zone is the sum over its lists of every type: 7 + 7 order-0 pages after one refill of each", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB, pcpBatch: 8 });
    m.kernel.drainPcp();
    // The first GFP_KERNEL page claims a page block through the fallback (no refill, previous test); the second refills.
    alloc0(m, GFP_KERNEL);
    alloc0(m, GFP_KERNEL);
    alloc0(m, GFP_HIGHUSER_MOVABLE);
    // The second GFP_KERNEL and the Movable request each refilled their type's list with 8 pages (batch 8) and took one.
    const normal = buddy(m).zones.find((z) => z.name === "Normal");
    expect(normal?.pcp[0]?.count).toBe(14);
    expect(normal?.pcp[0]?.byOrder).toEqual([14, 0, 0, 0]);
    m.check();
  });
});
