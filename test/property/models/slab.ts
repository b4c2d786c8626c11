/**
 * The slab allocator against a reference model (the live objects, each with
 * its size, fill byte and owner): kmalloc, kfree, krealloc, one kmem_cache,
 * shrink, with slab_debug off and on. After every command: the slab checker
 * (every checker each FULL_CHECK_EVERY commands), no kernel report, no overlap; an object's bytes are compared in full
 * before it is freed or reallocated. At the end every page is back.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { __GFP_ZERO, GFP_KERNEL, type KmemCache, Machine } from "../../../sim/index.ts";
import { checkAfterCommand, type PropertyModel, runModel, type StoryStats } from "../../support/budget.ts";

/** A live allocation in the reference model: where, how many bytes were asked for, the fill byte, who owns it. */
interface Live {
  kva: number;
  size: number;
  tag: number;
  from: "kmalloc" | "cache";
}

interface Model {
  live: Live[];
}

interface Real {
  m: Machine;
  cache: KmemCache;
  stats: StoryStats;
}

const CACHE_OBJECT = 184;

function usable(real: Real, a: Live): number {
  return a.from === "cache" ? CACHE_OBJECT : real.m.kernel.ksize(a.kva);
}

/** The new allocation must not overlap any live one. */
function expectDisjoint(model: Model, real: Real, kva: number, len: number): void {
  for (const a of model.live) {
    const end = a.kva + usable(real, a);
    expect(kva < end && a.kva < kva + len, `new [${kva.toString(16)}, +${len}) overlaps live ${a.kva.toString(16)}`).toBe(false);
  }
}

function expectTag(real: Real, a: Live, len = a.size): void {
  const bytes = real.m.kernel.mem.read(a.kva, len);
  expect(
    bytes.every((b) => b === a.tag),
    `object ${a.kva.toString(16)} lost its tag`,
  ).toBe(true);
}

function settle(real: Real): void {
  checkAfterCommand(real.m, real.stats, ["slab"]);
  expect(real.m.kernel.reports).toEqual([]);
}

class Kmalloc implements fc.Command<Model, Real> {
  constructor(
    readonly size: number,
    readonly zero: boolean,
    readonly tag: number,
  ) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const k = real.m.kernel;
    const kva = k.kmalloc(this.size, GFP_KERNEL | (this.zero ? __GFP_ZERO : 0));
    expect(kva).not.toBe(0);
    expect(k.ksize(kva)).toBeGreaterThanOrEqual(this.size);
    if (this.zero) expect(k.mem.read(kva, this.size).every((b) => b === 0)).toBe(true);
    expectDisjoint(model, real, kva, this.size);
    k.mem.fill(kva, this.tag, this.size);
    model.live.push({ kva, size: this.size, tag: this.tag, from: "kmalloc" });
    settle(real);
  }
  toString(): string {
    return `kmalloc(${this.size}${this.zero ? ", zero" : ""})`;
  }
}

class Kfree implements fc.Command<Model, Real> {
  constructor(readonly index: number) {}
  check(model: Readonly<Model>): boolean {
    return model.live.length > 0;
  }
  run(model: Model, real: Real): void {
    const i = this.index % model.live.length;
    const a = model.live[i] as Live;
    expectTag(real, a);
    if (a.from === "cache") real.cache.free(a.kva);
    else real.m.kernel.kfree(a.kva);
    model.live.splice(i, 1);
    settle(real);
  }
  toString(): string {
    return `free(#${this.index})`;
  }
}

class Krealloc implements fc.Command<Model, Real> {
  constructor(
    readonly index: number,
    readonly size: number,
  ) {}
  check(model: Readonly<Model>): boolean {
    return model.live.some((a) => a.from === "kmalloc");
  }
  run(model: Model, real: Real): void {
    const mine = model.live.filter((a) => a.from === "kmalloc");
    const a = mine[this.index % mine.length] as Live;
    expectTag(real, a);
    const k = real.m.kernel;
    const kva = k.krealloc(a.kva, this.size);
    model.live.splice(model.live.indexOf(a), 1);
    if (this.size === 0) {
      expect(kva).toBe(16);
    } else {
      expect(kva).not.toBe(0);
      const kept = { ...a, kva, size: Math.min(a.size, this.size) };
      expectTag(real, kept);
      expectDisjoint(model, real, kva, this.size);
      k.mem.fill(kva, a.tag, this.size);
      model.live.push({ ...kept, size: this.size });
    }
    settle(real);
  }
  toString(): string {
    return `krealloc(#${this.index}, ${this.size})`;
  }
}

class CacheAlloc implements fc.Command<Model, Real> {
  constructor(readonly tag: number) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const kva = real.cache.alloc();
    expect(kva).not.toBe(0);
    expectDisjoint(model, real, kva, CACHE_OBJECT);
    real.m.kernel.mem.fill(kva, this.tag, CACHE_OBJECT);
    model.live.push({ kva, size: CACHE_OBJECT, tag: this.tag, from: "cache" });
    settle(real);
  }
  toString(): string {
    return "cache_alloc";
  }
}

class Shrink implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(_model: Model, real: Real): void {
    real.m.kernel.slab.shrinkAll(0);
    expect(real.m.kernel.validateSlabs()).toBe(0);
    settle(real);
  }
  toString(): string {
    return "shrink+validate";
  }
}

const sizes = fc.oneof(
  fc.integer({ min: 1, max: 256 }),
  fc.integer({ min: 257, max: 8192 }),
  fc.constantFrom(8, 64, 96, 192, 4096, 8192, 8193, 20000),
);

const commands = [
  fc.tuple(sizes, fc.boolean(), fc.integer({ min: 1, max: 255 })).map(([s, z, t]) => new Kmalloc(s, z, t)),
  fc.tuple(sizes, fc.boolean(), fc.integer({ min: 1, max: 255 })).map(([s, z, t]) => new Kmalloc(s, z, t)),
  fc.nat().map((i) => new Kfree(i)),
  fc.nat().map((i) => new Kfree(i)),
  fc.tuple(fc.nat(), fc.oneof(sizes, fc.constant(0))).map(([i, s]) => new Krealloc(i, s)),
  fc.integer({ min: 1, max: 255 }).map((t) => new CacheAlloc(t)),
  fc.constant(new Shrink()),
];

type Story = [Iterable<fc.Command<Model, Real>>, string];

/** kmalloc/kfree/krealloc and one kmem_cache, with and without slab_debug; the slab checker after every command, every checker every FULL_CHECK_EVERY. */
export const SLAB_MODEL: PropertyModel<Story> = {
  name: "slab",
  budget: 10_000,
  storyMax: 150,
  arbitrary: (max) => fc.tuple(fc.commands(commands, { maxCommands: max, size: "max" }), fc.constantFrom("", "FZPU")),
  run([cmds, slubDebug]) {
    const m = Machine.boot({ ramBytes: 8 << 20, slubDebug });
    const boot = m.proc.buddyinfo();
    const cache = m.kernel.kmemCacheCreate("model_cache", CACHE_OBJECT, { flags: 0x2000 }) as KmemCache;
    const model: Model = { live: [] };
    const stats: StoryStats = { commands: 0, checks: 0 };
    runModel(model, { m, cache, stats }, cmds, stats);
    for (const a of model.live) {
      if (a.from === "cache") cache.free(a.kva);
      else m.kernel.kfree(a.kva);
    }
    expect(m.kernel.kmemCacheDestroy(cache)).toBe(true);
    m.kernel.slab.shrinkAll(0);
    m.kernel.drainPcp();
    expect(m.proc.meminfo()).toMatch(/^Slab: {18}0 kB$/m);
    expect(m.proc.buddyinfo()).toBe(boot);
    expect(m.kernel.reports).toEqual([]);
    m.check();
    stats.checks++;
    return stats;
  },
};
