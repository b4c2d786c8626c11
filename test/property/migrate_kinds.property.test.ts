/**
 * Migration of every kind of user page against a model: processes share a
 * file mapping (page-cache pages) and a shared anonymous mapping (shmem
 * pages), and each has a private 2 MiB range that starts as a THP; random
 * writes, forks and exits are interleaved with migrations of random pages
 * (a THP whole to a fresh order-9 block, or split when given none), syncs
 * and compact_memory. The model is the bytes last written: shared for the
 * file and the shmem ranges, per process (copy on write after fork) for the
 * THP range. After every step every modelled page of every live process
 * reads back its value, every present entry maps a frame holding those
 * bytes, the file's contents are the model's, and the checkers pass.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  __GFP_COMP,
  __GFP_NOWARN,
  GFP_HIGHUSER_MOVABLE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "../../sim/index.ts";

const PAGE = 4096;
const RW = PROT_READ | PROT_WRITE;
/** Where each range is mapped, and the page offsets the model follows in it. */
const FILE_AT = 0x200000000;
const SHM_AT = 0x300000000;
const THP_AT = 0x400000000;
const REGIONS = ["file", "shm", "thp"] as const;
type Region = (typeof REGIONS)[number];
const BASE: Record<Region, number> = { file: FILE_AT, shm: SHM_AT, thp: THP_AT };
/** Followed pages: the shared ranges are 4 pages long; in the THP range, its first three pages and its last. */
const OFFSETS: Record<Region, readonly number[]> = { file: [0, 1, 2, 3], shm: [0, 1, 2, 3], thp: [0, 1, 2, 511] };
const GFP_TARGET = GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOWARN;

type Cmd =
  | { kind: "write"; proc: number; region: Region; page: number; value: number }
  | { kind: "fork"; proc: number }
  | { kind: "exit"; proc: number }
  | { kind: "migrate"; proc: number; region: Region; page: number; whole: boolean }
  | { kind: "sync" }
  | { kind: "compact" };

const region = fc.constantFrom(...REGIONS);
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({
    kind: fc.constant("write" as const),
    proc: fc.nat(3),
    region,
    page: fc.nat(3),
    value: fc.integer({ min: 1, max: 0x7fffffff }),
  }),
  fc.record({ kind: fc.constant("fork" as const), proc: fc.nat(3) }),
  fc.record({ kind: fc.constant("exit" as const), proc: fc.nat(3) }),
  fc.record({ kind: fc.constant("migrate" as const), proc: fc.nat(3), region, page: fc.nat(3), whole: fc.boolean() }),
  fc.record({ kind: fc.constant("sync" as const) }),
  fc.record({ kind: fc.constant("compact" as const) }),
);

interface Live {
  p: Process;
  /** The THP range's followed pages, as this process last wrote them (0: never written). */
  thp: number[];
}

/** Moves over all runs, per kind: the property must have moved pages of every kind, not only refused them. */
const moved = { file: 0, shm: 0, thpWhole: 0, thpSplit: 0 };

function va(r: Region, page: number): number {
  return BASE[r] + (OFFSETS[r][page] as number) * PAGE;
}

function boot() {
  const m = Machine.boot({ ramBytes: 32 << 20, seed: 7, debugVm: 1 });
  m.kernel.thp.enabled = "always";
  m.fs.writeFile("/f", new Uint8Array(4 * PAGE));
  const p = m.spawn("p0");
  const fd = p.sys.open("/f", O_RDWR);
  expect(p.sys.mmap(FILE_AT, 4 * PAGE, RW, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(FILE_AT);
  expect(p.sys.mmap(SHM_AT, 4 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED)).toBe(SHM_AT);
  expect(p.sys.mmap(THP_AT, 2 << 20, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(THP_AT);
  // Every followed page present from the start: the THP range is one huge page.
  for (const r of REGIONS) for (let i = 0; i < 4; i++) p.mem.write32(va(r, i), 0);
  return { m, p };
}

/** Migrates the page `l` maps at `r`'s followed page `page`; a THP whole (to a fresh block) or split. */
function migrateOne(m: Machine, l: Live, c: Extract<Cmd, { kind: "migrate" }>): void {
  const pt = l.p.mm.pt;
  const ptep = pt.lookup(va(c.region, c.page));
  if (ptep < 0 || !(pt.pteFlags(ptep) & 1)) return;
  const pfn = pt.ptePfn(ptep);
  const { migrate } = m.kernel.taskParts;
  if (c.region === "thp" && pt.leafLevel === 2 && migrate.huge.isThp(pfn)) {
    const to = c.whole ? (m.kernel.allocPages(9, GFP_TARGET) ?? -1) : -1;
    const got = migrate.huge.migrateThp(pfn, to);
    if (got >= 0) moved.thpWhole++;
    else if (to < 0 && got !== -2) moved.thpSplit++;
    if (got < 0 && to >= 0) m.kernel.freePages(to, 9);
    return;
  }
  // The pfn of the 4 KiB page itself (a THP split earlier maps its pages by a table).
  if (migrate.migratePage(pfn, -1) >= 0 && c.region !== "thp") moved[c.region]++;
}

function checkAll(m: Machine, live: Live[], shared: Record<"file" | "shm", number[]>): void {
  for (const x of live) {
    for (const r of REGIONS) {
      for (let i = 0; i < 4; i++) {
        const want = r === "thp" ? (x.thp[i] as number) : (shared[r][i] as number);
        expect(x.p.mem.read32(va(r, i))).toBe(want);
        const pt = x.p.mm.pt;
        const ptep = pt.lookup(va(r, i));
        if (ptep < 0 || !(pt.pteFlags(ptep) & 1)) continue;
        // A 2 MiB leaf maps the page at its offset from the head.
        const frame = pt.leafLevel === 2 ? pt.ptePfn(ptep) + (OFFSETS[r][i] as number) : pt.ptePfn(ptep);
        expect(m.kernel.phys.read32(frame * PAGE)).toBe(want);
      }
    }
  }
  const file = new DataView(m.fs.readFile("/f").buffer);
  for (let i = 0; i < 4; i++) expect(file.getUint32(i * PAGE, true)).toBe(shared.file[i]);
  m.check();
}

function run(cmds: Cmd[]): void {
  const { m, p } = boot();
  const live: Live[] = [{ p, thp: [0, 0, 0, 0] }];
  const shared = { file: [0, 0, 0, 0], shm: [0, 0, 0, 0] };
  for (const c of cmds) {
    const l = live[((c as { proc?: number }).proc ?? 0) % live.length] as Live;
    if (c.kind === "write") {
      l.p.mem.write32(va(c.region, c.page), c.value);
      if (c.region === "thp") l.thp[c.page] = c.value;
      else shared[c.region][c.page] = c.value;
    } else if (c.kind === "fork" && live.length < 3) {
      const child = l.p.fork();
      if (child !== null) live.push({ p: child, thp: [...l.thp] });
    } else if (c.kind === "exit" && live.length > 1) {
      l.p.exit(0);
      live.splice(live.indexOf(l), 1);
    } else if (c.kind === "migrate") migrateOne(m, l, c);
    else if (c.kind === "sync") m.fs.sync();
    else if (c.kind === "compact") m.kernel.compactMemory();
    checkAll(m, live, shared);
  }
}

/** Every story starts by writing and moving a page of each kind, and a THP whole. */
const START: Cmd[] = [
  { kind: "write", proc: 0, region: "file", page: 1, value: 0x1111 },
  { kind: "migrate", proc: 0, region: "file", page: 1, whole: true },
  { kind: "write", proc: 0, region: "shm", page: 2, value: 0x2222 },
  { kind: "migrate", proc: 0, region: "shm", page: 2, whole: true },
  { kind: "write", proc: 0, region: "thp", page: 3, value: 0x3333 },
  { kind: "migrate", proc: 0, region: "thp", page: 0, whole: true },
];

describe("migration of every kind of user page (property)", () => {
  it("file, shmem and THP pages keep their bytes and mappings across random workloads, migrations, syncs and compactions", () => {
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 1, maxLength: 20 }), (cmds) => run([...START, ...cmds])),
      { numRuns: 8 },
    );
    expect(moved.file).toBeGreaterThan(0);
    expect(moved.shm).toBeGreaterThan(0);
    expect(moved.thpWhole).toBeGreaterThan(0);
  });
});
