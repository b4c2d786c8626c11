/**
 * Memory tiering against a model: a fast node 0 held near its low watermark
 * by a background mapping, and random steps on a small working set (write,
 * read, pressure that makes node 0's kswapd demote, releases that make room
 * on node 0, NUMA-balancing scans
 * whose hinting faults promote, fork, munmap, mprotect to PROT_NONE and
 * back, exit, writes to a shared file mapping). The model is what each
 * process last wrote to each page, and what the first process last wrote
 * to each file page; after every step every page of every live process
 * reads back its value (reads of hinting entries take the fault and may
 * promote), every present entry maps a frame holding those bytes (file
 * pages are checked through their frames and the page cache's index only,
 * so the checks do not keep them young), and the invariant checkers pass.
 * At the end each file page reads back through the mapping and pread().
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  O_RDWR,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "../../sim/index.ts";
import { vmstat } from "../support/vmstat.ts";

const MiB = 1 << 20;
const PAGE = 4096;
const BASE = 0x100000000;
const PAGES = 8;
/** The background mapping: 980 pages leave node 0's Normal zone (1024 frames, low 32) a few pages above low. */
const BG = 0x200000000;
const BG_PAGES = 980;
/** Node 1's first frame. */
const NODE1 = 5120;
/** The shared file mapping of the first process (/f, FILE_PAGES pages), and a page for pread's copies. */
const FILE_AT = 0x300000000;
const FILE_PAGES = 8;
const BUF_AT = 0x400000000;
/** struct page's mapping word (memmap.ts): a page-cache page's inode. */
const SP_MAPPING = 7;

type Cmd =
  | { kind: "write"; proc: number; page: number; value: number }
  | { kind: "pressure"; pages: number }
  | { kind: "release"; pages: number }
  | { kind: "scan"; proc: number }
  | { kind: "fork"; proc: number }
  | { kind: "munmap"; proc: number; page: number }
  | { kind: "protnone"; proc: number; page: number }
  | { kind: "exit"; proc: number }
  | { kind: "fwrite"; page: number; value: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({
    kind: fc.constant("write" as const),
    proc: fc.nat(3),
    page: fc.nat(PAGES - 1),
    value: fc.integer({ min: 1, max: 0x7fffffff }),
  }),
  fc.record({ kind: fc.constant("pressure" as const), pages: fc.integer({ min: 1, max: 24 }) }),
  fc.record({ kind: fc.constant("release" as const), pages: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant("scan" as const), proc: fc.nat(3) }),
  fc.record({ kind: fc.constant("fork" as const), proc: fc.nat(3) }),
  fc.record({ kind: fc.constant("munmap" as const), proc: fc.nat(3), page: fc.nat(PAGES - 1) }),
  fc.record({ kind: fc.constant("protnone" as const), proc: fc.nat(3), page: fc.nat(PAGES - 1) }),
  fc.record({ kind: fc.constant("exit" as const), proc: fc.nat(3) }),
  fc.record({ kind: fc.constant("fwrite" as const), page: fc.nat(FILE_PAGES - 1), value: fc.integer({ min: 1, max: 0x7fffffff }) }),
);

interface Live {
  p: Process;
  /** Per page: the value last written (0 = mapped, never written), or -1 when unmapped. */
  pages: number[];
}

/** Over all runs: pages demoted and promoted (the property must have moved pages both ways). */
let demoted = 0;
let promoted = 0;
/** Over all runs: checks that found a file page on node 1 (page-cache pages must have been demoted). */
let fileOnNode1 = 0;

function run(cmds: Cmd[]): void {
  const nodes = [
    { cpus: [0], memBytes: 20 * MiB },
    { cpus: [], memBytes: 4 * MiB },
  ];
  const m = Machine.boot({ numa: { nodes, tiering: true }, swapBytes: 8 * MiB, seed: 7, debugVm: 1 });
  // The file is on disk only (synced, dropped): each page the mapping touches is a new cache page on node 0.
  m.fs.writeFile("/f", new Uint8Array(FILE_PAGES * PAGE));
  m.fs.sync();
  m.dropCaches();
  const first = m.spawn("p0");
  const rw = PROT_READ | PROT_WRITE;
  const fd = first.sys.open("/f", O_RDWR);
  expect(first.sys.mmap(FILE_AT, FILE_PAGES * PAGE, rw, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(FILE_AT);
  const file = Array.from({ length: FILE_PAGES }, (_, i) => 100 + i);
  for (let i = 0; i < FILE_PAGES; i++) first.mem.write32(FILE_AT + i * PAGE, file[i] as number);
  expect(first.sys.mmap(BASE, PAGES * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
  // The working set first (the oldest pages: the first victims), then the background.
  for (let i = 0; i < PAGES; i++) first.mem.write32(BASE + i * PAGE, i + 1);
  expect(first.sys.mmap(BG, 4096 * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BG);
  let bg = 0;
  for (; bg < BG_PAGES; bg++) first.mem.write32(BG + bg * PAGE, 1);
  const live: Live[] = [{ p: first, pages: Array.from({ length: PAGES }, (_, i) => i + 1) }];
  const balancing = m.kernel.taskParts.memory.numaHint;
  for (const c of cmds) {
    const l = live[((c as { proc?: number }).proc ?? 0) % live.length] as Live;
    if (c.kind === "write" && l.pages[c.page] !== -1) {
      l.p.mem.write32(BASE + c.page * PAGE, c.value);
      l.pages[c.page] = c.value;
    } else if (c.kind === "pressure") {
      for (let i = 0; i < c.pages && bg < 4096; i++, bg++) first.mem.write32(BG + bg * PAGE, 1);
    } else if (c.kind === "release") {
      // The newest background pages go (on node 0 mostly): room above node 0's high watermark for promotion.
      const n = Math.min(c.pages, bg);
      const at = BG + (bg - n) * PAGE;
      // A fresh mapping over them (MAP_FIXED unmaps first): pressure may touch them again.
      if (n > 0) expect(first.sys.mmap(at, n * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(at);
      bg -= n;
    } else if (c.kind === "scan") balancing?.scan(l.p.mm);
    else if (c.kind === "fork" && live.length < 4) {
      const child = l.p.fork();
      if (child !== null) live.push({ p: child, pages: [...l.pages] });
    } else if (c.kind === "munmap") {
      expect(l.p.sys.munmap(BASE + c.page * PAGE, PAGE)).toBe(0);
      l.pages[c.page] = -1;
    } else if (c.kind === "protnone" && l.pages[c.page] !== -1) {
      // PROT_NONE and back: the entry's PTE_US goes and comes back through mprotect, hint or not.
      expect(l.p.sys.mprotect(BASE + c.page * PAGE, PAGE, PROT_NONE)).toBe(0);
      expect(l.p.sys.mprotect(BASE + c.page * PAGE, PAGE, rw)).toBe(0);
    } else if (c.kind === "exit" && live.length > 1 && l !== live[0]) {
      l.p.exit(0);
      live.splice(live.indexOf(l), 1);
    } else if (c.kind === "fwrite") {
      first.mem.write32(FILE_AT + c.page * PAGE, c.value);
      file[c.page] = c.value;
    }
    checkFile(m, first, file);
    for (const x of live) {
      for (let i = 0; i < PAGES; i++) {
        const want = x.pages[i] as number;
        if (want < 0) continue;
        expect(x.p.mem.read32(BASE + i * PAGE)).toBe(want);
        const ptep = x.p.mm.pt.lookup(BASE + i * PAGE);
        if (ptep >= 0 && x.p.mm.pt.pteFlags(ptep) & 1) expect(m.kernel.phys.read32(x.p.mm.pt.ptePfn(ptep) * PAGE)).toBe(want);
      }
    }
    m.check();
  }
  for (let i = 0; i < bg; i++) expect(first.mem.read32(BG + i * PAGE)).toBe(1);
  expect(first.sys.mmap(BUF_AT, PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BUF_AT);
  for (let i = 0; i < FILE_PAGES; i++) {
    expect(first.mem.read32(FILE_AT + i * PAGE)).toBe(file[i]);
    expect(first.sys.pread(fd, BUF_AT, 4, i * PAGE)).toBe(4);
    expect(first.mem.read32(BUF_AT)).toBe(file[i]);
  }
  m.check();
  demoted += vmstat(m, "pgdemote_kswapd") + vmstat(m, "pgdemote_direct");
  promoted += vmstat(m, "pgpromote_success");
  expect(NODE1).toBe(m.kernel.numa.startPfn[1]);
}

/** Each present entry of the file mapping maps the cache page of its index, holding the model's word; counts those on node 1. */
function checkFile(m: Machine, p: Process, file: number[]): void {
  const cache = m.kernel.tasks.vfs?.cache;
  for (let i = 0; i < FILE_PAGES; i++) {
    const ptep = p.mm.pt.lookup(FILE_AT + i * PAGE);
    if (ptep < 0 || !(p.mm.pt.pteFlags(ptep) & 1)) continue;
    const pfn = p.mm.pt.ptePfn(ptep);
    expect(m.kernel.phys.read32(pfn * PAGE)).toBe(file[i]);
    expect(cache?.find(m.kernel.memmap.userWord(pfn, SP_MAPPING), i)).toBe(pfn);
    if (pfn >= NODE1) fileOnNode1++;
  }
}

describe("memory tiering (property)", () => {
  it("every value reads back and every entry maps its bytes across demotion (anonymous and file), scans, promotion, fork, munmap and mprotect", () => {
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 1, maxLength: 20 }), (cmds) =>
        // Every story starts with pressure (a demotion), a scan of the first process and room on node 0, so pages move both ways.
        run([{ kind: "pressure", pages: 24 }, { kind: "scan", proc: 0 }, { kind: "release", pages: 64 }, ...cmds]),
      ),
      { numRuns: 8 },
    );
    expect(demoted).toBeGreaterThan(0);
    expect(promoted).toBeGreaterThan(0);
    expect(fileOnNode1).toBeGreaterThan(0);
  });
});
