/**
 * Lab "cow": copy-on-write fork (xv6's cow lab), both sides. The student's
 * forkCopy shares every private page with the child read-only, marking
 * writable entries PTE_COW, counting the second reference (k.getPage) and
 * clearing the frame's anon-exclusive mark (k.clearAnonExclusive); the
 * student's page-fault handler does the write fault: a copy while the frame
 * is shared, the frame itself once the last other reference is gone, and
 * the replaced reference dropped. In this lab `next` refuses a write to a
 * PTE_COW entry, and fork's `next` copies shared VMAs only.
 */
import type { ForkCopy, ForkCopyLayer, LabFault, PageFaultLayer } from "../../../kernel/lab_layers.ts";
import type { KernelApi } from "../../../kernel/mm/lab_api.ts";
import type { Process } from "../../../kernel/process.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ } from "../../../kernel/uapi/mman.ts";
import type { Machine } from "../../machine.ts";
import {
  attempt,
  caught,
  checkers,
  describe,
  expectAccErr,
  expectEq,
  expectKilled,
  freeFrames,
  labMachine,
  note,
  tracedFault,
} from "../trial.ts";
import { CheckFailed, type Lab, type LabCheck } from "../types.ts";

/** What a COW-lab submission exports. */
export interface CowSubmission {
  readonly pageFault: PageFaultLayer;
  readonly forkCopy: ForkCopyLayer;
}

const PAGE = 4096;

/** memsim's handler as this lab hands it over: a write the VMA allows to a PTE_COW entry is the student's job. */
function labNext(k: KernelApi, next: (f: LabFault) => number): (f: LabFault) => number {
  return (f) => {
    if (f.vma === 0 || !(f.errorCode & k.PF_WRITE) || !k.vmaAllows(f.vma, f.errorCode)) return next(f);
    const ptep = k.walk(f.mm, f.address - (f.address % PAGE), "lookup");
    const flags = ptep < 0 ? 0 : k.pteFlags(f.mm, ptep);
    return flags & k.PTE_P && flags & k.PTE_COW ? k.FAULT_ACCERR : next(f);
  };
}

/** memsim's fork copy as this lab hands it over: shared VMAs only; a private one is the student's job. */
function labForkNext(k: KernelApi, next: (c: ForkCopy) => boolean): (c: ForkCopy) => boolean {
  return (c) => {
    if (c.flags & k.VM_SHARED) return next(c);
    throw new Error(
      `next() copies shared VMAs only in this lab: the private VMA 0x${c.start.toString(16)}-0x${c.end.toString(16)} is yours to share`,
    );
  };
}

/** A machine whose page faults and fork copies go to the submission. */
export function cowMachine(sub: CowSubmission, log: string[], ramBytes?: number): Machine {
  const student = tracedFault(sub.pageFault, log);
  return labMachine(
    {
      pageFault: (f, k, next) => student(f, k, labNext(k, next)),
      forkCopy: (c, k, next) => sub.forkCopy(c, k, labForkNext(k, next)),
    },
    ramBytes,
  );
}

/** Spawns a process with `pages` heap pages, page i holding 0x100 + i at offset 0. */
function writtenHeap(m: Machine, pages: number, log: string[]): { p: Process; start: number } {
  const p = m.spawn("cow");
  const start = p.sys.brk(0);
  p.sys.brk(start + pages * PAGE);
  for (let i = 0; i < pages; i++) p.mem.write32(start + i * PAGE, 0x100 + i);
  note(log, `parent: ${pages} heap pages at 0x${start.toString(16)} written`);
  return { p, start };
}

/** p's child; when `heap` is given, the child must read the parent's first heap word there (0x100). */
function forked(p: Process, log: string[], heap?: number): Process {
  const c = p.fork();
  if (c === null) throw new CheckFailed("fork failed");
  note(log, `fork: child pid ${c.pid}`);
  if (heap !== undefined) expectEq(log, `child pid ${c.pid} read32 of the first heap page`, c.mem.read32(heap), 0x100);
  return c;
}

/** Frames allocated while `fn` runs. */
function allocsDuring(m: Machine, fn: () => void): number {
  let n = 0;
  const count = (): void => {
    n++;
  };
  m.events.on("mm_page_alloc", count);
  try {
    fn();
  } finally {
    m.events.off("mm_page_alloc", count);
  }
  return n;
}

const checks: LabCheck<CowSubmission>[] = [
  {
    name: "fork-shares-pages",
    weight: 2,
    explain:
      "After fork, each of 16 written heap pages is one frame mapped by parent and child, read-only on both sides, with 2 references: fork copies no page.",
    run(sub, log) {
      const m = cowMachine(sub, log);
      const { p, start } = writtenHeap(m, 16, log);
      const c = forked(p, log, start);
      const k = m.kernel.taskParts.k;
      let shared = 0;
      let writable = 0;
      let twice = 0;
      for (let i = 0; i < 16; i++) {
        const va = start + i * PAGE;
        const pp = k.walk(p.mm, va, "lookup");
        const cp = k.walk(c.mm, va, "lookup");
        if (pp < 0 || cp < 0 || !(k.pteFlags(c.mm, cp) & k.PTE_P)) continue;
        const pfn = k.ptePfn(p.mm, pp);
        if (k.ptePfn(c.mm, cp) !== pfn) continue;
        shared++;
        if ((k.pteFlags(p.mm, pp) | k.pteFlags(c.mm, cp)) & k.PTE_RW) writable++;
        if (k.pageRef(pfn) === 2) twice++;
      }
      expectEq(log, "heap pages whose frame the child shares with the parent", shared, 16);
      expectEq(log, "of them, writable in parent or child", writable, 0);
      expectEq(log, "of them, with 2 references", twice, 16);
      expectEq(log, "child read32 of page 15", c.mem.read32(start + 15 * PAGE), 0x10f);
      checkers(m, log);
    },
  },
  {
    name: "child-write-copies",
    weight: 2,
    explain:
      "A child's write after fork goes to its own copy: the child reads its value and the rest of the page, the parent keeps its own.",
    run(sub, log) {
      const m = cowMachine(sub, log);
      const { p, start } = writtenHeap(m, 2, log);
      const c = forked(p, log, start);
      c.mem.write32(start + 4, 0xc0ffee);
      expectEq(log, "child read32 at offset 4", c.mem.read32(start + 4), 0xc0ffee);
      expectEq(log, "child read32 at offset 0", c.mem.read32(start), 0x100);
      expectEq(log, "parent read32 at offset 4", p.mem.read32(start + 4), 0);
      checkers(m, log);
    },
  },
  {
    name: "parent-write-copies",
    weight: 1,
    explain: "A parent's write after fork does not reach the child.",
    run(sub, log) {
      const m = cowMachine(sub, log);
      const { p, start } = writtenHeap(m, 2, log);
      const c = forked(p, log, start);
      p.mem.write32(start + PAGE, 0xbad);
      expectEq(log, "parent read32", p.mem.read32(start + PAGE), 0xbad);
      expectEq(log, "child read32", c.mem.read32(start + PAGE), 0x101);
      checkers(m, log);
    },
  },
  {
    name: "three-generations",
    weight: 1,
    explain:
      "Parent, child and grandchild each write the same shared page and each reads its own value (xv6 cowtest's threetest in small).",
    run(sub, log) {
      const m = cowMachine(sub, log);
      const { p, start } = writtenHeap(m, 1, log);
      const c = forked(p, log, start);
      const g = forked(c, log, start);
      const procs = [g, c, p];
      for (const [i, q] of procs.entries()) q.mem.write32(start, 0xa0 + i);
      for (const [i, q] of procs.entries()) expectEq(log, `pid ${q.pid} read32`, q.mem.read32(start), 0xa0 + i);
      g.exit(0);
      c.exit(0);
      checkers(m, log);
    },
  },
  {
    name: "last-reference-reuses",
    weight: 2,
    explain: "Once the child has exited, the parent's write reuses its frame: no frame is allocated.",
    run(sub, log) {
      const m = cowMachine(sub, log);
      const { p, start } = writtenHeap(m, 2, log);
      forked(p, log, start).exit(0);
      note(log, "child exited");
      const n = allocsDuring(m, () => p.mem.write32(start, 7));
      expectEq(log, "frames allocated by the parent's write", n, 0);
      expectEq(log, "parent read32", p.mem.read32(start), 7);
      checkers(m, log);
    },
  },
  {
    name: "copies-free-their-frames",
    weight: 2,
    explain: "A child that writes 16 shared pages and exits, then the parent that exits, give every frame back.",
    run(sub, log) {
      const m = cowMachine(sub, log);
      m.kernel.dropCaches();
      const before = freeFrames(m);
      const { p, start } = writtenHeap(m, 16, log);
      const c = forked(p, log, start);
      for (let i = 0; i < 16; i++) c.mem.write8(start + i * PAGE + 1, i);
      note(log, "child wrote 16 pages");
      c.exit(0);
      p.exit(0);
      m.kernel.dropCaches();
      expectEq(log, "frames not given back after both exited", before - freeFrames(m), 0);
      checkers(m, log);
    },
  },
  {
    name: "fork-bomb",
    weight: 2,
    explain:
      "A parent holding over half of memory forks 20 children that read its first page, write 2 pages each and exit, then writes all its pages: no process may run out of memory (xv6 cowtest's simpletest).",
    run(sub, log) {
      const m = cowMachine(sub, log);
      const pages = Math.floor(freeFrames(m) * 0.55);
      const { p, start } = writtenHeap(m, pages, log);
      for (let i = 0; i < 20; i++) {
        const c = p.fork();
        if (c === null) throw new CheckFailed(`fork ${i + 1} failed`);
        if (c.mem.read32(start) !== 0x100) expectEq(log, `child ${i + 1} read32 of the first heap page`, c.mem.read32(start), 0x100);
        c.mem.write32(start, i);
        c.mem.write32(start + PAGE * (pages - 1), i);
        c.exit(0);
      }
      note(log, "20 children forked, wrote 2 pages and exited");
      const e = caught(() => {
        for (let i = 0; i < pages; i++) p.mem.write8(start + i * PAGE + 2, 1);
      });
      note(log, `parent writes all ${pages} pages: ${e === null ? "done" : describe(e)}`);
      if (e !== null) throw new CheckFailed(`the parent's writes failed: ${describe(e)}`);
      checkers(m, log);
    },
  },
  {
    name: "read-only-refused",
    weight: 1,
    explain: "After fork a write to a PROT_READ mapping is still SIGSEGV (SEGV_ACCERR).",
    run(sub, log) {
      const m = cowMachine(sub, log);
      const { p, start } = writtenHeap(m, 1, log);
      const a = p.sys.mmap(0, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
      p.mem.read32(a);
      note(log, `mmap(PROT_READ) = 0x${a.toString(16)}, read`);
      const c = forked(p, log, start);
      expectEq(log, "child read32 of it", c.mem.read32(a), 0);
      expectAccErr(
        log,
        attempt(log, "child write to it", () => c.mem.write32(a, 1)),
      );
      checkers(m, log);
    },
  },
  {
    name: "out-of-memory-kills",
    weight: 1,
    explain: "When no frame can be had for a copy the writer is killed (SIGKILL); the other process keeps its page.",
    run(sub, log) {
      const m = cowMachine(sub, log);
      const { p, start } = writtenHeap(m, 1, log);
      const c = forked(p, log, start);
      m.faults.failPageAlloc({ nth: 1 });
      note(log, "the next frame allocation will fail");
      expectKilled(
        attempt(log, "child write", () => c.mem.write32(start, 1)),
        "the child",
      );
      expectEq(log, "parent read32", p.mem.read32(start), 0x100);
      checkers(m, log);
    },
  },
];

/** The copy-on-write lab. */
export const cowLab: Lab<CowSubmission> = {
  name: "cow",
  title: "Copy-on-write fork: sharing at fork, reference counts, the write fault, freeing on the last reference",
  studentFiles: ["cow.ts"],
  exports: ["pageFault", "forkCopy"],
  checks,
  timeLimitMs: 15_000,
};
