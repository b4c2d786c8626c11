import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VmaTree } from "../../../kernel/mm/vma_tree.ts";

type Range = { start: number; end: number; gapStart: number; value: number };

/** Brute-force top-down search over a sorted list of ranges. */
function refTopDown(rs: Range[], len: number, low: number, high: number): number {
  const sorted = [...rs].sort((a, b) => a.start - b.start);
  let best = -1;
  let prevEnd = 0;
  for (let i = 0; i <= sorted.length; i++) {
    const r = sorted[i];
    const top = Math.min(r ? r.gapStart : Number.POSITIVE_INFINITY, high);
    const bottom = Math.max(prevEnd, low);
    if (top - bottom >= len) best = Math.max(best, top - len);
    if (r) prevEnd = r.end;
  }
  return best;
}

describe("VmaTree", () => {
  it("finds, walks and searches gaps exactly like a sorted list", () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("ins" as const),
        page: fc.integer({ min: 1, max: 120 }),
        pages: fc.integer({ min: 1, max: 8 }),
        guard: fc.integer({ min: 0, max: 3 }),
      }),
      fc.record({ kind: fc.constant("del" as const), i: fc.nat() }),
      fc.record({ kind: fc.constant("end" as const), i: fc.nat(), pages: fc.integer({ min: 1, max: 12 }) }),
      fc.record({
        kind: fc.constant("gap" as const),
        len: fc.integer({ min: 1, max: 8 }),
        low: fc.integer({ min: 0, max: 60 }),
        high: fc.integer({ min: 0, max: 160 }),
      }),
      fc.record({ kind: fc.constant("find" as const), page: fc.integer({ min: 0, max: 450 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 120, size: "max" }), (ops) => {
        const t = new VmaTree();
        let rs: Range[] = [];
        const overlaps = (s: number, e: number, skip?: Range) => rs.some((r) => r !== skip && s < r.end && r.start < e);
        for (const o of ops) {
          if (o.kind === "ins") {
            const start = o.page;
            const end = o.page + o.pages;
            if (overlaps(start, end)) continue;
            const r = { start, end, gapStart: Math.max(0, start - o.guard), value: start * 10 };
            rs.push(r);
            t.insert(r.start, r.end, r.gapStart, r.value);
          } else if (o.kind === "del" && rs.length) {
            const r = rs[o.i % rs.length]!;
            rs = rs.filter((x) => x !== r);
            t.remove(r.start);
          } else if (o.kind === "end" && rs.length) {
            const r = rs[o.i % rs.length]!;
            const end = r.start + o.pages;
            if (overlaps(r.start, end, r)) continue;
            r.end = end;
            t.setEnd(t.lookup(r.start), end);
          } else if (o.kind === "gap") {
            expect(t.topDownGap(o.len, o.low, o.high)).toBe(refTopDown(rs, o.len, o.low, o.high));
          } else if (o.kind === "find") {
            const want = [...rs].sort((a, b) => a.start - b.start).find((r) => r.end > o.page);
            const n = t.findVma(o.page);
            expect(n === -1 ? undefined : t.value(n)).toBe(want?.value);
          }
          expect(t.validate()).toBeNull();
        }
        const walked: number[] = [];
        t.forEach((n) => {
          walked.push(t.start(n));
        });
        expect(walked).toEqual(rs.map((r) => r.start).sort((a, b) => a - b));
      }),
      { numRuns: 100 },
    );
  });

  it("65530 ranges: insert, top-down search and remove stay logarithmic", () => {
    const t = new VmaTree();
    let high = 2 ** 46;
    for (let i = 0; i < 65530; i++) {
      const a = t.topDownGap(4096, 65536, high);
      t.insert(a, a + 4096, a, a);
      high = a; // like mmap_base moving down only in this test
    }
    expect(t.size).toBe(65530);
    expect(t.validate()).toBeNull();
    expect(t.topDownGap(4096, 65536, 2 ** 46)).toBe(2 ** 46 - 65531 * 4096);
  });
});
