/**
 * The cache model against a reference: one process's loads and stores of
 * 1, 2, 4 or 8 bytes at random offsets of two pages, each on a random CPU of
 * 2..4, with small L1s and LLC (so lines are evicted), checked against a
 * plain second implementation of the same rules (per-set LRU lists and a
 * state per CPU and line in Maps). After every access each CPU's counters
 * must equal the reference's, every CPU's MESI state of the lines touched
 * must agree, and the cache checker (one M/E holder, M/E excluding S) passes.
 */
import fc from "fast-check";
import { MAP_ANONYMOUS, MAP_PRIVATE, Machine, PROT_READ, PROT_WRITE } from "../../../sim/index.ts";
import { checkAfterCommand, expectSame, type PropertyModel, type StoryStats } from "../../support/budget.ts";

type Kind = "read" | "write";
interface Access {
  cpu: number;
  off: number;
  size: 1 | 2 | 4 | 8;
  kind: Kind;
}

/** A story: CPUs, the L1 and LLC shapes, the accesses. */
export interface CacheStory {
  cpus: number;
  l1: { size: number; ways: number };
  llc: { size: number; ways: number };
  accesses: Access[];
}

const COUNTERS = ["dr", "dw", "d1mr", "d1mw", "dlmr", "dlmw", "invalidations", "writebacks"] as const;
type Counters = Record<(typeof COUNTERS)[number], number>;

/** The reference: LRU lists per set (most recent last) and states per CPU, written for clarity, not speed. */
class Reference {
  readonly l1: Array<Map<number, number[]>>;
  readonly state: Array<Map<number, "M" | "E" | "S">>;
  readonly llc = new Map<number, number[]>();
  readonly stats: Counters[];

  constructor(
    readonly cpus: number,
    readonly l1Sets: number,
    readonly l1Ways: number,
    readonly llcSets: number,
    readonly llcWays: number,
  ) {
    this.l1 = Array.from({ length: cpus }, () => new Map());
    this.state = Array.from({ length: cpus }, () => new Map());
    this.stats = Array.from({ length: cpus }, () => ({
      dr: 0,
      dw: 0,
      d1mr: 0,
      d1mw: 0,
      dlmr: 0,
      dlmw: 0,
      invalidations: 0,
      writebacks: 0,
    }));
  }

  private touch(sets: Map<number, number[]>, nsets: number, line: number): void {
    const set = sets.get(line % nsets) ?? [];
    const i = set.indexOf(line);
    if (i >= 0) set.splice(i, 1);
    set.push(line);
    sets.set(line % nsets, set);
  }

  /** True on an LLC hit; fills on a miss (dropping the LRU line of a full set). */
  private llcLookup(line: number): boolean {
    const set = this.llc.get(line % this.llcSets) ?? [];
    const hit = set.includes(line);
    if (!hit && set.length === this.llcWays) set.shift();
    this.llc.set(line % this.llcSets, set);
    this.touch(this.llc, this.llcSets, line);
    return hit;
  }

  private fill(c: number, line: number, st: "M" | "E" | "S"): void {
    const set = this.l1[c]?.get(line % this.l1Sets) ?? [];
    if (set.length === this.l1Ways) {
      const victim = set.shift() as number;
      if (this.state[c]?.get(victim) === "M") {
        (this.stats[c] as Counters).writebacks++;
        this.llcLookup(victim);
      }
      this.state[c]?.delete(victim);
    }
    this.l1[c]?.set(line % this.l1Sets, set);
    this.touch(this.l1[c] as Map<number, number[]>, this.l1Sets, line);
    this.state[c]?.set(line, st);
  }

  private drop(o: number, line: number): void {
    const set = this.l1[o]?.get(line % this.l1Sets) ?? [];
    set.splice(set.indexOf(line), 1);
    this.state[o]?.delete(line);
  }

  access(c: number, line: number, kind: Kind): void {
    if (kind === "read") this.read(c, line);
    else this.write(c, line);
  }

  private read(c: number, line: number): void {
    const s = this.stats[c] as Counters;
    s.dr++;
    if (this.state[c]?.has(line)) {
      this.touch(this.l1[c] as Map<number, number[]>, this.l1Sets, line);
      return;
    }
    s.d1mr++;
    const others = this.holders(c, line);
    for (const o of others) {
      if (this.state[o]?.get(line) === "M") (this.stats[o] as Counters).writebacks++;
      this.state[o]?.set(line, "S");
    }
    if (others.length === 0 && !this.llcLookup(line)) s.dlmr++;
    this.fill(c, line, others.length > 0 ? "S" : "E");
  }

  private write(c: number, line: number): void {
    const s = this.stats[c] as Counters;
    const mine = this.state[c]?.get(line);
    s.dw++;
    if (mine !== "M" && mine !== "E") {
      const others = this.holders(c, line);
      for (const o of others) {
        const so = this.stats[o] as Counters;
        if (this.state[o]?.get(line) === "M") so.writebacks++;
        so.invalidations++;
        this.drop(o, line);
      }
      if (mine === undefined) {
        s.d1mw++;
        if (others.length === 0 && !this.llcLookup(line)) s.dlmw++;
      }
    }
    if (mine === undefined) this.fill(c, line, "M");
    else {
      this.state[c]?.set(line, "M");
      this.touch(this.l1[c] as Map<number, number[]>, this.l1Sets, line);
    }
  }

  /** The other CPUs holding `line`. */
  private holders(c: number, line: number): number[] {
    return [...Array(this.cpus).keys()].filter((o) => o !== c && this.state[o]?.has(line));
  }
}

const shape = (sizes: number[], ways: number[]) =>
  fc.record({ size: fc.constantFrom(...sizes), ways: fc.constantFrom(...ways) }).filter((s) => s.size >= 64 * s.ways);

function arbitrary(max: number): fc.Arbitrary<CacheStory> {
  return fc.integer({ min: 2, max: 4 }).chain((cpus) =>
    fc.record({
      cpus: fc.constant(cpus),
      l1: shape([128, 256, 512], [1, 2, 4]),
      llc: shape([512, 1024], [2, 4]),
      accesses: fc.array(
        fc.record({
          cpu: fc.integer({ min: 0, max: cpus - 1 }),
          off: fc.integer({ min: 0, max: 2 * 4096 - 8 }),
          size: fc.constantFrom<1 | 2 | 4 | 8>(1, 2, 4, 8),
          kind: fc.constantFrom<Kind>("read", "write"),
        }),
        { maxLength: max },
      ),
    }),
  );
}

function run(story: CacheStory): StoryStats {
  const stats: StoryStats = { commands: 0, checks: 0 };
  const m = Machine.boot({ ramBytes: 8 << 20, cpus: story.cpus, cache: { l1: story.l1, llc: story.llc } });
  const p = m.spawn("app");
  const a = p.sys.mmap(0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const ref = new Reference(
    story.cpus,
    story.l1.size / 64 / story.l1.ways,
    story.l1.ways,
    story.llc.size / 64 / story.llc.ways,
    story.llc.ways,
  );
  const pageOf: number[] = [];
  for (let k = 0; k < 2; k++) {
    p.mem.write8(a + k * 4096, 0); // the fault-in store, on CPU 0, which the reference replays
    const e = m.kernel.mmu.peek(p.mm.pt, a + k * 4096);
    pageOf.push(e - (e % 4096));
    ref.access(0, (pageOf[k] as number) / 64, "write");
  }
  const model = m.kernel.smp.cache;
  if (model === null) throw new Error("no cache model");
  for (const acc of story.accesses) {
    stats.commands++;
    m.kernel.smp.switchTo(acc.cpu, p.mem, p.mm.pt.asid);
    const va = a + acc.off;
    if (acc.kind === "write") write(p.mem, va, acc.size);
    else read(p.mem, va, acc.size);
    // A 2-, 4- or 8-byte access split by the view at a page boundary still reaches each line once per piece.
    for (const line of linesOf(pageOf, acc.off, acc.size)) ref.access(acc.cpu, line, acc.kind);
    for (let c = 0; c < story.cpus; c++) {
      const got = model.stats[c] as unknown as Counters;
      for (const k of COUNTERS) expectSame(got[k], (ref.stats[c] as Counters)[k], `CPU ${c} ${k}`);
      for (const line of linesOf(pageOf, acc.off, acc.size))
        expectSame(model.stateOf(c, line), ref.state[c]?.get(line) ?? "I", `CPU ${c} line ${line}`);
    }
    checkAfterCommand(m, stats, ["cache"]);
  }
  m.check();
  stats.checks++;
  return stats;
}

/** The lines an access touches, in the order the views reach them (each piece of a split access once). */
function linesOf(pageOf: number[], off: number, size: number): number[] {
  const out: number[] = [];
  for (let b = off; b < off + size; b++) {
    const line = ((pageOf[Math.floor(b / 4096)] as number) + (b % 4096) - ((b % 4096) % 64)) / 64;
    if (out[out.length - 1] !== line) out.push(line);
  }
  return out;
}

function write(mem: Machine["kernel"]["mem"], va: number, size: number): void {
  if (size === 1) mem.write8(va, 1);
  else if (size === 2) mem.write16(va, 1);
  else if (size === 4) mem.write32(va, 1);
  else mem.write(va, new Uint8Array(8).fill(1));
}

function read(mem: Machine["kernel"]["mem"], va: number, size: number): void {
  if (size === 1) mem.read8(va);
  else if (size === 2) mem.read16(va);
  else if (size === 4) mem.read32(va);
  else mem.read(va, 8);
}

/** The cache model's property. */
export const CACHE_MODEL: PropertyModel<CacheStory> = {
  name: "cache",
  budget: Number(process.env.CACHE_COMMANDS ?? 400),
  storyMax: 80,
  arbitrary,
  run,
};
