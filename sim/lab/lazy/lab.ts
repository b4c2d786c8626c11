/**
 * Lab "lazy": lazy allocation (xv6's lazy lab). sbrk only moves the break;
 * the student's page-fault handler gives a page its frame when it is first
 * touched. In this lab memsim's own handler (`next`) refuses a fault on an
 * empty entry of a private mapping the access is allowed to, so nothing but the student's code fills
 * the heap; `next` still does copy-on-write, shared memory and stack growth.
 */
import type { LabFault, PageFaultLayer } from "../../../kernel/lab_layers.ts";
import type { KernelApi } from "../../../kernel/mm/lab_api.ts";
import { SegmentationFault } from "../../../kernel/signal.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ } from "../../../kernel/uapi/mman.ts";
import { SEGV_MAPERR } from "../../../kernel/uapi/signal.ts";
import type { Machine } from "../../machine.ts";
import {
  attempt,
  checkers,
  expectAccErr,
  expectEq,
  expectKilled,
  expectTrue,
  labMachine,
  note,
  tracedFault,
  writeOutcome,
} from "../trial.ts";
import type { Lab, LabCheck } from "../types.ts";

/** What a lazy-lab submission exports. */
export interface LazySubmission {
  readonly pageFault: PageFaultLayer;
}

const PAGE = 4096;

/** memsim's handler as this lab hands it to the student: empty entries of private VMAs are the student's job. */
function labNext(k: KernelApi, next: (f: LabFault) => number): (f: LabFault) => number {
  return (f) => {
    if (f.vma === 0 || k.vmaFlags(f.vma) & k.VM_SHARED) return next(f);
    const ptep = k.walk(f.mm, f.address - (f.address % PAGE), "lookup");
    const empty = ptep < 0 || k.pteFlags(f.mm, ptep) === 0;
    return empty && k.vmaAllows(f.vma, f.errorCode) ? k.FAULT_MAPERR : next(f);
  };
}

/** A machine whose page faults go to the submission first. */
export function lazyMachine(sub: LazySubmission, log: string[]): Machine {
  const student = tracedFault(sub.pageFault, log);
  return labMachine({ pageFault: (f, k, next) => student(f, k, labNext(k, next)) });
}

/** Spawns a process and grows its heap by `pages`; returns [process, first heap address]. */
function withHeap(m: Machine, pages: number, log: string[]) {
  const p = m.spawn("lazy");
  const start = p.sys.brk(0);
  const brk = p.sys.brk(start + pages * PAGE);
  note(log, `sbrk(${pages * PAGE}): heap 0x${start.toString(16)}-0x${brk.toString(16)}`);
  return { p, start };
}

const checks: LabCheck<LazySubmission>[] = [
  {
    name: "sbrk-takes-no-frames",
    weight: 1,
    explain: "Growing the heap by 10 pages maps nothing; touching one of them maps exactly that page.",
    run(sub, log) {
      const m = lazyMachine(sub, log);
      const { p, start } = withHeap(m, 10, log);
      expectEq(log, "pages in RSS after sbrk", p.mm.rssAnon, 0);
      p.mem.write32(start + 3 * PAGE, 7);
      expectEq(log, "pages in RSS after one write", p.mm.rssAnon, 1);
      checkers(m, log);
    },
  },
  {
    name: "read-untouched-is-zero",
    weight: 1,
    explain: "A read of a heap page never written returns 0.",
    run(sub, log) {
      const m = lazyMachine(sub, log);
      const { p, start } = withHeap(m, 4, log);
      expectEq(log, "read32 of an untouched heap page", p.mem.read32(start + 2 * PAGE + 8), 0);
      checkers(m, log);
    },
  },
  {
    name: "write-then-read",
    weight: 2,
    explain: "Values written to four lazy pages (some read first) read back, and each page is one frame.",
    run(sub, log) {
      const m = lazyMachine(sub, log);
      const { p, start } = withHeap(m, 4, log);
      p.mem.read32(start + PAGE);
      for (let i = 0; i < 4; i++) p.mem.write32(start + i * PAGE + 4 * i, 0x1000 + i);
      for (let i = 0; i < 4; i++) expectEq(log, `read32 at heap page ${i}`, p.mem.read32(start + i * PAGE + 4 * i), 0x1000 + i);
      expectEq(log, "pages in RSS", p.mm.rssAnon, 4);
      checkers(m, log);
    },
  },
  {
    name: "above-break-segv",
    weight: 2,
    explain:
      "The heap works, and an access above the break (no VMA there) kills the process with SIGSEGV (SEGV_MAPERR), as xv6 kills a process touching past p->sz.",
    run(sub, log) {
      const m = lazyMachine(sub, log);
      const { p, start } = withHeap(m, 2, log);
      p.mem.write32(start, 1);
      note(log, "write to the first heap page: succeeded");
      const wild = start + 16 * PAGE;
      const e = attempt(log, `write at 0x${wild.toString(16)}`, () => p.mem.write32(wild, 1));
      expectTrue(e instanceof SegmentationFault, `expected SIGSEGV (SEGV_MAPERR) at 0x${wild.toString(16)}, got ${writeOutcome(e)}`);
      expectEq(log, "si_code", (e as SegmentationFault).code, SEGV_MAPERR);
      checkers(m, log);
    },
  },
  {
    name: "read-only-refused",
    weight: 1,
    explain: "A write to a PROT_READ mapping is refused with SIGSEGV (SEGV_ACCERR); reads of it return 0.",
    run(sub, log) {
      const m = lazyMachine(sub, log);
      const p = m.spawn("lazy");
      const a = p.sys.mmap(0, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
      note(log, `mmap(2 pages, PROT_READ) = 0x${a.toString(16)}`);
      expectEq(log, "read32 of the read-only page", p.mem.read32(a), 0);
      expectAccErr(
        log,
        attempt(log, "write to the read-only mapping", () => p.mem.write32(a + PAGE, 1)),
      );
      checkers(m, log);
    },
  },
  {
    name: "shrink-frees-touched-only",
    weight: 1,
    explain: "Of 8 lazy pages 3 are touched: RSS is 3; shrinking the heap over touched and untouched pages frees the 3 and leaves RSS 0.",
    run(sub, log) {
      const m = lazyMachine(sub, log);
      const { p, start } = withHeap(m, 8, log);
      for (const i of [0, 2, 4]) p.mem.write8(start + i * PAGE, 0x5a);
      expectEq(log, "pages in RSS after touching 3", p.mm.rssAnon, 3);
      p.sys.brk(start);
      note(log, "sbrk(-8 pages)");
      expectEq(log, "pages in RSS after shrinking", p.mm.rssAnon, 0);
      p.sys.brk(start + PAGE);
      expectEq(log, "read8 of the heap grown again", p.mem.read8(start), 0);
      checkers(m, log);
    },
  },
  {
    name: "fork-lazy-memory",
    weight: 2,
    explain:
      "After fork the child reads the parent's written and unwritten heap pages, writes its own copy, and the parent keeps its value.",
    run(sub, log) {
      const m = lazyMachine(sub, log);
      const { p, start } = withHeap(m, 4, log);
      p.mem.write32(start, 0xabc);
      const c = p.fork();
      expectTrue(c !== null, "fork failed");
      note(log, `fork: child pid ${c!.pid}`);
      expectEq(log, "child read32 of the parent's page", c!.mem.read32(start), 0xabc);
      expectEq(log, "child read32 of an untouched page", c!.mem.read32(start + 2 * PAGE), 0);
      c!.mem.write32(start + 8, 1);
      expectEq(log, "child read32 at offset 0 after writing offset 8", c!.mem.read32(start), 0xabc);
      expectEq(log, "parent read32 at offset 8", p.mem.read32(start + 8), 0);
      p.mem.write32(start + 3 * PAGE, 5);
      expectEq(log, "child read32 of the page the parent wrote after fork", c!.mem.read32(start + 3 * PAGE), 0);
      checkers(m, log);
    },
  },
  {
    name: "out-of-memory-kills",
    weight: 1,
    explain: "When no frame can be had for a lazy page, the process is killed (SIGKILL) and the kernel stays consistent.",
    run(sub, log) {
      const m = lazyMachine(sub, log);
      const { p, start } = withHeap(m, 1, log);
      p.mem.write8(start, 1);
      p.sys.brk(start + 2 * PAGE);
      note(log, "sbrk(4096)");
      m.faults.failPageAlloc({ nth: 1 });
      note(log, "the next frame allocation will fail");
      expectKilled(
        attempt(log, "write to the next lazy page", () => p.mem.write8(start + PAGE, 1)),
        "the process",
      );
      checkers(m, log);
    },
  },
];

/** The lazy-allocation lab. */
export const lazyLab: Lab<LazySubmission> = {
  name: "lazy",
  title: "Lazy allocation: sbrk grows the break, the page-fault handler allocates",
  studentFiles: ["lazy.ts"],
  exports: ["pageFault"],
  checks,
  timeLimitMs: 10_000,
};
