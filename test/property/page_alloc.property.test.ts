import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { __GFP_NOWARN, __GFP_ZERO, GFP_ATOMIC, GFP_DMA, GFP_KERNEL, Machine } from "../../sim/index.ts";

/** The reference model: the live blocks, each [pfn, order, fill byte]. */
interface Model {
  live: Array<[number, number, number]>;
}

interface Real {
  m: Machine;
  managed: number;
}

const GFPS = [GFP_KERNEL, GFP_ATOMIC, GFP_DMA, GFP_KERNEL | __GFP_ZERO];

function pagesHeld(model: Model): number {
  return model.live.reduce((n, [, o]) => n + (1 << o), 0);
}

function freeAndPcp(m: Machine): number {
  return m.kernel.buddy.nrFreePages() + m.kernel.buddy.nrPcpPages();
}

class Alloc implements fc.Command<Model, Real> {
  constructor(
    readonly order: number,
    readonly gfpIndex: number,
    readonly tag: number,
  ) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const gfp = (GFPS[this.gfpIndex] as number) | __GFP_NOWARN;
    const pfn = real.m.kernel.allocPages(this.order, gfp);
    if (pfn === null) return;
    expect(pfn % (1 << this.order)).toBe(0);
    if (gfp & GFP_DMA) expect(pfn + (1 << this.order)).toBeLessThanOrEqual(4096);
    for (const [p, o] of model.live) {
      const overlap = pfn < p + (1 << o) && p < pfn + (1 << this.order);
      expect(overlap, `block ${pfn}/${this.order} overlaps live ${p}/${o}`).toBe(false);
    }
    const kva = real.m.kernel.pfnToKva(pfn);
    if (gfp & __GFP_ZERO) expect(real.m.kernel.mem.read8(kva + 4095)).toBe(0);
    real.m.kernel.mem.fill(kva, this.tag, 4096 << this.order);
    model.live.push([pfn, this.order, this.tag]);
    real.m.check("buddy");
    expect(freeAndPcp(real.m) + pagesHeld(model)).toBe(real.managed);
  }
  toString(): string {
    return `alloc(${this.order}, ${this.gfpIndex})`;
  }
}

class Free implements fc.Command<Model, Real> {
  constructor(readonly index: number) {}
  check(model: Readonly<Model>): boolean {
    return model.live.length > 0;
  }
  run(model: Model, real: Real): void {
    const i = this.index % model.live.length;
    const [pfn, order, tag] = model.live[i] as [number, number, number];
    const kva = real.m.kernel.pfnToKva(pfn);
    const bytes = real.m.kernel.mem.read(kva, 4096 << order);
    expect(bytes.every((b) => b === tag)).toBe(true);
    real.m.kernel.freePages(pfn, order);
    model.live.splice(i, 1);
    real.m.check("buddy");
    expect(freeAndPcp(real.m) + pagesHeld(model)).toBe(real.managed);
  }
  toString(): string {
    return `free(#${this.index})`;
  }
}

class Drain implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    real.m.kernel.drainPcp();
    real.m.check("buddy");
    expect(freeAndPcp(real.m) + pagesHeld(model)).toBe(real.managed);
  }
  toString(): string {
    return "drain";
  }
}

const commands = [
  fc
    .tuple(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 255 }))
    .map(([o, g, t]) => new Alloc(o, g, t)),
  fc
    .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 255 }))
    .map(([o, g, t]) => new Alloc(o, g, t)),
  fc.nat().map((i) => new Free(i)),
  fc.nat().map((i) => new Free(i)),
  fc.constant(new Drain()),
];

describe("buddy allocator against a reference model", () => {
  it("random alloc/free of mixed orders keeps every invariant and never overlaps", () => {
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 60, size: "max" }), fc.constantFrom(-1, 0), (cmds, pcpBatch) => {
        const m = Machine.boot({ ramBytes: 24 << 20, pcpBatch });
        const managed = m.kernel.buddy.nrManagedPages();
        const boot = m.proc.buddyinfo();
        const model: Model = { live: [] };
        fc.modelRun(() => ({ model, real: { m, managed } }), cmds);
        for (const [pfn, order] of model.live) m.kernel.freePages(pfn, order);
        m.kernel.drainPcp();
        expect(m.proc.buddyinfo()).toBe(boot);
        m.check();
      }),
      { numRuns: 30 },
    );
  });
});
