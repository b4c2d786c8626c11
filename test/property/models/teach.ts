import fc from "fast-check";
import { expect } from "vitest";
import { Machine, TEACH_OUTSIDE, type TeachGeometry, type TeachSpace } from "../../../sim/index.ts";
import { freeFrames } from "../../kernel/mm/helpers.ts";
import { checkAfterCommand, expectSame, type PropertyModel, runModel, type StoryStats } from "../../support/budget.ts";

/*
 * Teaching address spaces (kernel/mm/mmu_teach.ts) of random geometries of
 * the family (1..3 levels of 1..5 index bits, pages of 1..128 bytes, 1-, 2-
 * or 4-byte entries, the valid bit and PFN field anywhere that fits, unused
 * entries 0 or "PFN all ones", 16..4096 pages of memory) against a plain
 * model: which page holds the table of each VPN prefix at each level, the
 * leaf of each VPN, and the bytes written to data pages. Random map / write
 * / walk commands; each walk's result, its steps (entry address, index, raw
 * value) and the raw entry bytes in memsim RAM are compared with what the
 * model says the tables hold, and the teach checker runs after every
 * command (every checker every FULL_CHECK_EVERY). At the end the space is
 * destroyed and every frame must be back.
 */

/** The draw a geometry is made from (see {@link geometryOf}). */
interface GeometryDraw {
  entryLog: number;
  pageExtra: number;
  indexBits: number[];
  pagesLog: number;
  trim: number;
  validSeed: number;
  pfnSeed: number;
  emptyAllOnes: boolean;
  rootSeed: number;
}

const geometryDraw: fc.Arbitrary<GeometryDraw> = fc.record({
  entryLog: fc.integer({ min: 0, max: 2 }),
  pageExtra: fc.integer({ min: 0, max: 5 }),
  indexBits: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }),
  pagesLog: fc.integer({ min: 4, max: 12 }),
  trim: fc.integer({ min: 0, max: 7 }),
  validSeed: fc.nat(),
  pfnSeed: fc.nat(),
  emptyAllOnes: fc.boolean(),
  rootSeed: fc.nat(),
});

/** A valid geometry from a draw: the memory holds the root table twice over, the PFN field holds every page. */
export function geometryOf(d: GeometryDraw): TeachGeometry {
  const entryBytes = (2 ** d.entryLog) as 1 | 2 | 4;
  const pageBits = d.entryLog + d.pageExtra;
  const entryBits = entryBytes * 8;
  const rootPages = Math.ceil((2 ** d.indexBits[0]! * entryBytes) / 2 ** pageBits);
  // At most 2^20 bytes (256 frames), at most 2^(entryBits-1) pages, at least twice the root.
  const pagesLog = Math.max(Math.min(d.pagesLog, 20 - pageBits, entryBits - 1), Math.ceil(Math.log2(rootPages)) + 1, 1);
  const nrPages = Math.max(2 ** pagesLog - d.trim, 2 * rootPages, 2);
  const pfnNeed = Math.max(1, Math.ceil(Math.log2(nrPages)));
  const validBit = pfnNeed + (d.validSeed % (entryBits - pfnNeed));
  const pfnBits = pfnNeed + (d.pfnSeed % (validBit - pfnNeed + 1));
  const levels = d.indexBits.length;
  return {
    name: "drawn",
    vaBits: pageBits + d.indexBits.reduce((a, b) => a + b, 0),
    pageBits,
    indexBits: d.indexBits,
    entryBytes,
    validBit,
    pfnBits,
    emptyEntry: d.emptyAllOnes ? 2 ** pfnBits - 1 : 0,
    physBytes: nrPages * 2 ** pageBits,
    entryNames: ["PDE", "PMDE", "PTE"].slice(3 - levels),
    indexNames: ["PDX", "PMX", "PTX"].slice(3 - levels),
    tableNames: ["directory", "middle", "table"].slice(3 - levels),
  };
}

const FREE = 0;
const TABLE = 1;
const DATA = 2;

interface Model {
  readonly g: TeachGeometry;
  readonly nrPages: number;
  /** FREE, TABLE or DATA for each teaching page. */
  readonly owner: Uint8Array;
  /** For each level: VPN prefix (the index bits above it) -> the table's first page. */
  readonly tables: Map<number, number>[];
  /** VPN -> data page. */
  readonly leaves: Map<number, number>;
  /** Teaching byte -> value written. */
  readonly bytes: Map<number, number>;
}

interface Real {
  m: Machine;
  s: TeachSpace;
  stats: StoryStats;
}

/** Index bits of the levels from `level` down. */
function bitsBelow(g: TeachGeometry, level: number): number {
  let n = 0;
  for (let l = level; l < g.indexBits.length; l++) n += g.indexBits[l]!;
  return n;
}

/** The prefix of `vpn` naming its table at `level`. */
function prefix(g: TeachGeometry, vpn: number, level: number): number {
  return Math.floor(vpn / 2 ** bitsBelow(g, level));
}

/** Pages of a table at `level`. */
function tablePages(g: TeachGeometry, level: number): number {
  return Math.ceil((2 ** g.indexBits[level]! * g.entryBytes) / 2 ** g.pageBits);
}

/** The first of `n` free pages from `start` on (then from 0), or -1. */
function freeRun(model: Model, start: number, n: number, taken: Set<number>): number {
  for (let k = 0; k < model.nrPages; k++) {
    const p = (start + k) % model.nrPages;
    if (p + n > model.nrPages) continue;
    let ok = true;
    for (let i = p; i < p + n && ok; i++) ok = model.owner[i] === FREE && !taken.has(i);
    if (ok) return p;
  }
  return -1;
}

/** What the walk of `va` must read and return, by the model's tables. */
function expectedWalk(model: Model, va: number): { pa: number; steps: [number, number, number][] } {
  const g = model.g;
  if (va >= 2 ** g.vaBits) return { pa: TEACH_OUTSIDE, steps: [] };
  const vpn = Math.floor(va / 2 ** g.pageBits);
  const last = g.indexBits.length - 1;
  const steps: [number, number, number][] = [];
  for (let level = 0; level <= last; level++) {
    const table = model.tables[level]!.get(prefix(g, vpn, level))!;
    const index = Math.floor(vpn / 2 ** bitsBelow(g, level + 1)) % 2 ** g.indexBits[level]!;
    const next = level === last ? model.leaves.get(vpn) : model.tables[level + 1]!.get(prefix(g, vpn, level + 1));
    const raw = next === undefined ? g.emptyEntry : (2 ** g.validBit + next) >>> 0;
    steps.push([table * 2 ** g.pageBits + index * g.entryBytes, index, raw]);
    if (next === undefined) return { pa: -(level + 1), steps };
    if (level === last) return { pa: next * 2 ** g.pageBits + (va % 2 ** g.pageBits), steps };
  }
  throw new Error("unreachable");
}

/** The walk of `va` against the model, the entries' bytes read from memsim RAM too. */
function verifyWalk(model: Model, real: Real, va: number): void {
  const s = real.s;
  const want = expectedWalk(model, va);
  expectSame(s.walk(va), want.pa, `walk 0x${va.toString(16)}`);
  expectSame(s.stepCount, want.steps.length, "steps");
  want.steps.forEach(([at, index, raw], i) => {
    expectSame(s.stepEntryAddr(i), at, `step ${i} address`);
    expectSame(s.stepIndex(i), index, `step ${i} index`);
    expectSame(s.stepRaw(i), raw, `step ${i} raw`);
    // The entry's bytes in RAM, little-endian (a never-written frame reads as zero).
    const base = s.physAddr(at);
    let fromRam = 0;
    for (let b = model.g.entryBytes - 1; b >= 0; b--) fromRam = fromRam * 256 + (base < 0 ? 0 : real.m.kernel.phys.read8(base + b));
    expectSame(fromRam, raw, `step ${i} bytes in RAM`);
  });
  if (want.pa >= 0) expectSame(s.read8(want.pa), model.bytes.get(want.pa) ?? 0, `byte at ${want.pa}`);
}

/** Free pages for the tables `vpn` lacks, level -> first page, or null when they do not fit. */
function planTables(model: Model, vpn: number, placeSeed: number): Map<number, number> | null {
  const g = model.g;
  const planned = new Map<number, number>();
  const taken = new Set<number>();
  for (let level = 1; level < g.indexBits.length; level++) {
    if (model.tables[level]!.has(prefix(g, vpn, level))) continue;
    const n = tablePages(g, level);
    const at = freeRun(model, placeSeed + level * 7, n, taken);
    if (at < 0) return null;
    planned.set(level, at);
    for (let i = at; i < at + n; i++) taken.add(i);
  }
  return planned;
}

class MapCmd implements fc.Command<Model, Real> {
  constructor(
    readonly vpnSeed: number,
    readonly pfnSeed: number,
    readonly placeSeed: number,
  ) {}
  check(m: Readonly<Model>): boolean {
    return !m.leaves.has(this.vpnSeed % 2 ** bitsBelow(m.g, 0));
  }
  run(model: Model, real: Real): void {
    const g = model.g;
    const vpn = this.vpnSeed % 2 ** bitsBelow(g, 0);
    const planned = planTables(model, vpn, this.placeSeed);
    const pfn = this.pfnSeed % model.nrPages;
    // No room for the tables, or the data page drawn is (to be) a table: nothing to do.
    if (planned === null || model.owner[pfn] === TABLE || [...planned].some(([l, at]) => pfn >= at && pfn < at + tablePages(g, l))) {
      checkAfterCommand(real.m, real.stats, ["teach"]);
      return;
    }
    const asked: number[] = [];
    const ok = real.s.map(vpn * 2 ** g.pageBits, pfn, (level) => {
      asked.push(level);
      return planned.get(level)!;
    });
    expect(ok).toBe(true);
    expect(asked).toEqual([...planned.keys()]);
    for (const [level, at] of planned) {
      model.tables[level]!.set(prefix(g, vpn, level), at);
      model.owner.fill(TABLE, at, at + tablePages(g, level));
    }
    model.owner[pfn] = DATA;
    model.leaves.set(vpn, pfn);
    checkAfterCommand(real.m, real.stats, ["teach"]);
    verifyWalk(model, real, vpn * 2 ** g.pageBits);
  }
  toString(): string {
    return `map(${this.vpnSeed}, ${this.pfnSeed}, ${this.placeSeed})`;
  }
}

class WriteCmd implements fc.Command<Model, Real> {
  constructor(
    readonly pageSeed: number,
    readonly offset: number,
    readonly value: number,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.leaves.size > 0;
  }
  run(model: Model, real: Real): void {
    const pages = [...model.leaves.values()];
    const pa = pages[this.pageSeed % pages.length]! * 2 ** model.g.pageBits + (this.offset % 2 ** model.g.pageBits);
    expect(real.s.write8(pa, this.value)).toBe(true);
    model.bytes.set(pa, this.value);
    checkAfterCommand(real.m, real.stats, ["teach"]);
  }
  toString(): string {
    return `write(${this.pageSeed}, ${this.offset}, ${this.value})`;
  }
}

class WalkCmd implements fc.Command<Model, Real> {
  constructor(
    readonly pick: number,
    readonly offset: number,
  ) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const g = model.g;
    const vpns = [...model.leaves.keys()];
    // Two in three walks go to a mapped page; the rest anywhere, an eighth of them past the address bits.
    const va =
      this.pick % 3 !== 0 && vpns.length > 0
        ? vpns[this.pick % vpns.length]! * 2 ** g.pageBits + (this.offset % 2 ** g.pageBits)
        : this.offset % (2 ** g.vaBits + 2 ** g.vaBits / 8);
    verifyWalk(model, real, Math.floor(va));
    checkAfterCommand(real.m, real.stats, ["teach"]);
  }
  toString(): string {
    return `walk(${this.pick}, ${this.offset})`;
  }
}

const commands = [
  fc.tuple(fc.nat(), fc.nat(), fc.nat()).map(([v, p, t]) => new MapCmd(v, p, t)),
  fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([p, o, v]) => new WriteCmd(p, o, v)),
  fc.tuple(fc.nat(), fc.nat()).map(([p, o]) => new WalkCmd(p, o)),
];

/** One story: a geometry and the commands run on a space of it. */
interface Story {
  readonly draw: GeometryDraw;
  readonly cmds: Iterable<fc.Command<Model, Real>>;
}

export const TEACH_MODEL: PropertyModel<Story> = {
  name: "teach",
  budget: 2_000,
  storyMax: 40,
  arbitrary: (max) => fc.record({ draw: geometryDraw, cmds: fc.commands(commands, { maxCommands: max, size: "max" }) }),
  run({ draw, cmds }) {
    const g = geometryOf(draw);
    const m = Machine.boot({ ramBytes: 4 << 20 });
    const free0 = freeFrames(m);
    const s = m.teach({ geometry: g });
    const nrPages = g.physBytes / 2 ** g.pageBits;
    const model: Model = {
      g,
      nrPages,
      owner: new Uint8Array(nrPages),
      tables: g.indexBits.map(() => new Map<number, number>()),
      leaves: new Map(),
      bytes: new Map(),
    };
    const root = draw.rootSeed % (nrPages - tablePages(g, 0) + 1);
    expect(s.makeTable(root, 0)).toBe(true);
    s.setRoot(root);
    model.tables[0]!.set(0, root);
    model.owner.fill(TABLE, root, root + tablePages(g, 0));
    const stats: StoryStats = { commands: 0, checks: 0 };
    runModel(model, { m, s, stats }, cmds, stats);
    m.check();
    s.destroy();
    m.check();
    stats.checks += 2;
    expect(freeFrames(m)).toBe(free0);
    return stats;
  },
};
