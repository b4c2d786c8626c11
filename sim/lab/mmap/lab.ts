/**
 * Lab "mmap" (xv6's mmap lab): the student's page-fault handler fills the
 * pages of file mappings from the page cache. A read, and any access to a
 * MAP_SHARED mapping, maps the cache page itself (so a store reaches the
 * file, written back when the mapping goes, and every mapping sees it); a
 * write to a MAP_PRIVATE mapping gets a copy of its own. In this lab
 * memsim's handler (`next`) refuses a fault on an empty entry of a file
 * VMA, so nothing but the student's code maps a file page; it still does
 * copy-on-write of a page already mapped, anonymous memory and refusals.
 * The checks follow xv6's mmaptest.
 */
import type { LabFault } from "../../../kernel/lab_layers.ts";
import type { KernelApi } from "../../../kernel/mm/lab_api.ts";
import type { Process } from "../../../kernel/process.ts";
import { BusError, SegmentationFault } from "../../../kernel/signal.ts";
import { O_RDONLY, O_RDWR } from "../../../kernel/uapi/fcntl.ts";
import { MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from "../../../kernel/uapi/mman.ts";
import { SEGV_MAPERR } from "../../../kernel/uapi/signal.ts";
import type { Machine } from "../../machine.ts";
import type { LazySubmission } from "../lazy/lab.ts";
import {
  attempt,
  checkers,
  expectEq,
  expectKilled,
  expectTrue,
  freeFrames,
  labMachine,
  note,
  tracedFault,
  writeOutcome,
} from "../trial.ts";
import type { Lab, LabCheck } from "../types.ts";

/** What an mmap-lab submission exports (a page-fault layer, as the lazy lab's). */
export type MmapSubmission = LazySubmission;

const PAGE = 4096;
const RW = PROT_READ | PROT_WRITE;
const PATH = "/mmap.dur";
/** xv6's makefile(): one and a half pages of 'A'. */
const FILE_BYTES = PAGE + PAGE / 2;
const A = 0x41;

/** memsim's handler as this lab hands it to the student: empty entries of file VMAs are the student's job. */
function labNext(k: KernelApi, next: (f: LabFault) => number): (f: LabFault) => number {
  return (f) => {
    if (f.vma === 0 || !k.vmaIsFile(f.vma)) return next(f);
    const ptep = k.walk(f.mm, f.address - (f.address % PAGE), "lookup");
    const empty = ptep < 0 || k.pteFlags(f.mm, ptep) === 0;
    return empty && k.vmaAllows(f.vma, f.errorCode) ? k.FAULT_MAPERR : next(f);
  };
}

/** A machine whose page faults go to the submission first, with xv6's test file on its disk; returns it and a process. */
function mmapMachine(sub: MmapSubmission, log: string[]): { m: Machine; p: Process } {
  const student = tracedFault(sub.pageFault, log);
  const m = labMachine({ pageFault: (f, k, next) => student(f, k, labNext(k, next)) });
  m.fs.writeFile(PATH, new Uint8Array(FILE_BYTES).fill(A));
  m.fs.sync();
  note(log, `${PATH}: ${FILE_BYTES} bytes of 'A'`);
  return { m, p: m.spawn("mmaptest") };
}

/** open(PATH) in `p`; fails the check when it fails. */
function openFile(p: Process, flags: number, log: string[]): number {
  const fd = p.sys.open(PATH, flags);
  note(log, `open(${PATH}, ${flags === O_RDONLY ? "O_RDONLY" : "O_RDWR"}) = ${fd}`);
  expectTrue(fd >= 0, `open(${PATH}) failed: ${fd}`);
  return fd;
}

/** mmap of `pages` pages of descriptor `fd` at offset 0; fails the check when it fails. */
function map(p: Process, pages: number, prot: number, flags: number, fd: number, log: string[]): number {
  const a = p.sys.mmap(0, pages * PAGE, prot, flags, fd, 0);
  const kind = flags & MAP_SHARED ? "MAP_SHARED" : "MAP_PRIVATE";
  note(log, `mmap(${pages} pages, ${prot & PROT_WRITE ? "PROT_READ|PROT_WRITE" : "PROT_READ"}, ${kind}) = 0x${a.toString(16)}`);
  expectTrue(a > 0, `mmap failed: ${a}`);
  return a;
}

/** munmap; fails the check when it fails. */
function unmap(p: Process, a: number, pages: number, log: string[]): void {
  expectEq(log, `munmap(0x${a.toString(16)}, ${pages} pages)`, p.sys.munmap(a, pages * PAGE), 0);
}

/** The file as the disk holds it: every dirty page written, the page cache emptied by a remount. */
function onDisk(m: Machine, log: string[]): Uint8Array {
  m.fs.sync();
  m.fs.remount();
  const b = m.fs.readFile(PATH);
  note(log, `${PATH} on disk after sync and remount: ${b.length} bytes`);
  return b;
}

/** How many of `b`'s bytes are `v`. */
function count(b: Uint8Array, v: number): number {
  let n = 0;
  for (const x of b) if (x === v) n++;
  return n;
}

/** Fails the check unless the two pages at `a` are xv6's _v1(): 1.5 pages of 'A', then zeros. */
function expectV1(p: Process, a: number, log: string[]): void {
  const b = p.mem.read(a, 2 * PAGE);
  expectEq(log, "bytes 'A' in the first 1.5 pages", count(b.subarray(0, FILE_BYTES), A), FILE_BYTES);
  expectEq(log, "bytes 0 past the end of the file", count(b.subarray(FILE_BYTES), 0), 2 * PAGE - FILE_BYTES);
}

const checks: LabCheck<MmapSubmission>[] = [
  {
    name: "read-only-private",
    weight: 1,
    explain: "A PROT_READ MAP_PRIVATE mapping of two pages of a 1.5-page file reads the file, then zeros to the end of the page.",
    run(sub, log) {
      const { m, p } = mmapMachine(sub, log);
      const fd = openFile(p, O_RDONLY, log);
      const a = map(p, 2, PROT_READ, MAP_PRIVATE, fd, log);
      expectV1(p, a, log);
      unmap(p, a, 2, log);
      checkers(m, log);
    },
  },
  {
    name: "reads-map-the-cache",
    weight: 1,
    explain: "Reading a file mapping maps the page-cache pages themselves: two file pages in RSS, no anonymous page.",
    run(sub, log) {
      const { m, p } = mmapMachine(sub, log);
      const fd = openFile(p, O_RDWR, log);
      const a = map(p, 2, RW, MAP_PRIVATE, fd, log);
      expectV1(p, a, log);
      expectEq(log, "file pages in RSS", p.mm.rssFile, 2);
      expectEq(log, "anonymous pages in RSS", p.mm.rssAnon, 0);
      checkers(m, log);
    },
  },
  {
    name: "private-write-stays-private",
    weight: 2,
    explain: "Writes to a writable MAP_PRIVATE mapping of a read-only descriptor read back in the mapping and never reach the file.",
    run(sub, log) {
      const { m, p } = mmapMachine(sub, log);
      const fd = openFile(p, O_RDONLY, log);
      const a = map(p, 2, RW, MAP_PRIVATE, fd, log);
      p.mem.write(a, new Uint8Array(PAGE).fill(0x5a));
      p.mem.write8(a + PAGE + 8, 0x5a);
      expectEq(log, "read8 at offset 100 after writing 'Z'", p.mem.read8(a + 100), 0x5a);
      expectEq(log, "read8 at offset 4104 after writing 'Z'", p.mem.read8(a + PAGE + 8), 0x5a);
      unmap(p, a, 2, log);
      p.sys.close(fd);
      const b = onDisk(m, log);
      expectEq(log, "bytes 'A' in the file", count(b, A), FILE_BYTES);
      checkers(m, log);
    },
  },
  {
    name: "shared-write-reaches-file",
    weight: 2,
    explain: "Writes to a MAP_SHARED mapping are in the file after munmap; the file keeps its size.",
    run(sub, log) {
      const { m, p } = mmapMachine(sub, log);
      const fd = openFile(p, O_RDWR, log);
      const a = map(p, 2, RW, MAP_SHARED, fd, log);
      p.mem.write8(a, 0x5a);
      p.mem.write8(a + PAGE + 100, 0x5a);
      unmap(p, a, 2, log);
      p.sys.close(fd);
      const b = onDisk(m, log);
      expectEq(log, "file size", b.length, FILE_BYTES);
      expectEq(log, "byte 0 of the file", b[0], 0x5a);
      expectEq(log, "byte 4196 of the file", b[PAGE + 100], 0x5a);
      expectEq(log, "bytes 'A' in the file", count(b, A), FILE_BYTES - 2);
      checkers(m, log);
    },
  },
  {
    name: "partial-munmap",
    weight: 1,
    explain:
      "After munmap of the first page of a shared mapping that page is SIGSEGV and the second still works; both pages' writes reach the file.",
    run(sub, log) {
      const { m, p } = mmapMachine(sub, log);
      const fd = openFile(p, O_RDWR, log);
      const a = map(p, 2, RW, MAP_SHARED, fd, log);
      p.mem.write8(a + 1, 0x31);
      p.mem.write8(a + PAGE + 1, 0x32);
      unmap(p, a, 1, log);
      expectEq(log, "read8 of the second page", p.mem.read8(a + PAGE + 1), 0x32);
      p.mem.write8(a + PAGE + 2, 0x33);
      const e = attempt(log, "read of the unmapped first page", () => p.mem.read8(a));
      expectTrue(e instanceof SegmentationFault && e.code === SEGV_MAPERR, `expected SIGSEGV (SEGV_MAPERR), got ${writeOutcome(e)}`);
      const disk = onDisk(m, log);
      expectEq(log, "bytes 1, 4097, 4098 of the file", String.fromCharCode(disk[1]!, disk[PAGE + 1]!, disk[PAGE + 2]!), "123");
      checkers(m, log);
    },
  },
  {
    name: "two-mappings",
    weight: 1,
    explain: "Two MAP_SHARED mappings of one file see each other's writes at once.",
    run(sub, log) {
      const { m, p } = mmapMachine(sub, log);
      const fd = openFile(p, O_RDWR, log);
      const a = map(p, 2, RW, MAP_SHARED, fd, log);
      const b = map(p, 2, RW, MAP_SHARED, fd, log);
      p.mem.write8(a + 10, 0x31);
      expectEq(log, "read8 through the second mapping of the first's write", p.mem.read8(b + 10), 0x31);
      p.mem.write8(b + PAGE + 10, 0x32);
      expectEq(log, "read8 through the first mapping of the second's write", p.mem.read8(a + PAGE + 10), 0x32);
      expectEq(log, "file pages in RSS", p.mm.rssFile, 4);
      checkers(m, log);
    },
  },
  {
    name: "fork-mapping",
    weight: 2,
    explain:
      "After fork the child reads the parent's shared and private mappings; its shared write reaches the parent, its private write does not; the child's munmap leaves the parent's mapping.",
    run(sub, log) {
      const { m, p } = mmapMachine(sub, log);
      const fd = openFile(p, O_RDWR, log);
      const s = map(p, 2, RW, MAP_SHARED, fd, log);
      const q = map(p, 2, RW, MAP_PRIVATE, fd, log);
      p.mem.write8(q, 0x50);
      const c = p.fork();
      expectTrue(c !== null, "fork failed");
      note(log, `fork: child pid ${c!.pid}`);
      expectEq(log, "child read8 of the shared mapping", c!.mem.read8(s + PAGE), A);
      expectEq(log, "child read8 of the parent's private write", c!.mem.read8(q), 0x50);
      expectEq(log, "child read8 of the private mapping's second page", c!.mem.read8(q + PAGE), A);
      c!.mem.write8(s + 8, 0x43);
      expectEq(log, "parent read8 of the child's shared write", p.mem.read8(s + 8), 0x43);
      c!.mem.write8(q + PAGE + 8, 0x43);
      expectEq(log, "parent read8 where the child wrote its private mapping", p.mem.read8(q + PAGE + 8), A);
      unmap(c!, s, 2, log);
      c!.exit(0);
      note(log, "child exited");
      expectEq(log, "parent read8 of the shared mapping the child unmapped", p.mem.read8(s + 8), 0x43);
      checkers(m, log);
    },
  },
  {
    name: "past-eof-sigbus",
    weight: 1,
    explain:
      "A three-page mapping of a 1.5-page file: the second page's tail reads 0, the third page (past the file's last page) is SIGBUS.",
    run(sub, log) {
      const { m, p } = mmapMachine(sub, log);
      const fd = openFile(p, O_RDONLY, log);
      const a = map(p, 3, PROT_READ, MAP_SHARED, fd, log);
      expectEq(log, "read8 past the end of the file in its last page", p.mem.read8(a + 2 * PAGE - 1), 0);
      const e = attempt(log, "read of the page past the file", () => p.mem.read8(a + 2 * PAGE));
      expectTrue(e instanceof BusError, `expected SIGBUS, got ${writeOutcome(e)}`);
      checkers(m, log);
    },
  },
  {
    name: "frames-come-back",
    weight: 1,
    explain:
      "Private copies and shared pages, once unmapped, give every frame back: with the page cache dropped the free frames are as before the mmap.",
    run(sub, log) {
      const { m, p } = mmapMachine(sub, log);
      const fd = openFile(p, O_RDWR, log);
      cycle(p, fd, log);
      m.fs.sync();
      m.dropCaches();
      const before = freeFrames(m);
      cycle(p, fd, log);
      m.fs.sync();
      m.dropCaches();
      expectEq(log, "frames not given back", before - freeFrames(m), 0);
      checkers(m, log);
    },
  },
  {
    name: "out-of-memory-kills",
    weight: 1,
    explain: "When no frame can be had for a private copy, the process is killed (SIGKILL) and the kernel stays consistent.",
    run(sub, log) {
      const { m, p } = mmapMachine(sub, log);
      const fd = openFile(p, O_RDWR, log);
      const a = map(p, 2, RW, MAP_PRIVATE, fd, log);
      expectEq(log, "read8 of the first page", p.mem.read8(a), A);
      m.faults.failPageAlloc({ nth: 1 });
      note(log, "the next frame allocation will fail");
      expectKilled(
        attempt(log, "write to the second page", () => p.mem.write8(a + PAGE, 1)),
        "the process",
      );
      checkers(m, log);
    },
  },
];

/** A private mapping written and read and a shared one written, then both unmapped. */
function cycle(p: Process, fd: number, log: string[]): void {
  const a = map(p, 2, RW, MAP_PRIVATE, fd, log);
  p.mem.write8(a, 1);
  p.mem.read8(a + PAGE);
  const b = map(p, 2, RW, MAP_SHARED, fd, log);
  p.mem.write8(b + PAGE, A);
  unmap(p, b, 2, log);
  unmap(p, a, 2, log);
}

/** The mmap lab. */
export const mmapLab: Lab<MmapSubmission> = {
  name: "mmap",
  title: "mmap: file pages from the page cache, shared or copied",
  studentFiles: ["mmap.ts"],
  exports: ["pageFault"],
  checks,
  timeLimitMs: 10_000,
};
