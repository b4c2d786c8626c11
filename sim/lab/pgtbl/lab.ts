/**
 * Lab "pgtbl" (xv6's pgtbl lab): report and clear the accessed bits of a
 * range of pages by walking the page table (pgaccess; the student gets `k`
 * without k.testAndClearAccessed, which is the answer), print a page table
 * (vmprint, vmprint_checks.ts) and map a read-only page holding the pid into
 * every process (ugetpid, ugetpid_checks.ts).
 */
import type { KernelApi } from "../../../kernel/mm/lab_api.ts";
import type { MmStruct } from "../../../kernel/mm/mm.ts";
import type { Process } from "../../../kernel/process.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../../kernel/uapi/mman.ts";
import type { Machine } from "../../machine.ts";
import { checkers, describe, expectEq, labMachine, note } from "../trial.ts";
import { CheckFailed, type Lab, type LabCheck } from "../types.ts";
import { type UgetpidSubmission, ugetpidChecks } from "./ugetpid_checks.ts";
import { type VmprintSubmission, vmprintChecks } from "./vmprint_checks.ts";

/** What the pgaccess part of a submission exports. */
export interface PgaccessSubmission {
  readonly pgaccess: (k: KernelApi, mm: MmStruct, va: number, n: number) => number;
}

/** What a pgtbl-lab submission (pgtbl.ts) exports. */
export type PgtblSubmission = PgaccessSubmission & VmprintSubmission & UgetpidSubmission;

const PAGE = 4096;

interface Setup {
  m: Machine;
  p: Process;
  base: number;
  /** The student's pgaccess on p, logged. */
  pgaccess(va: number, n: number): number;
}

/** A machine, a process with `pages` fresh read-write pages at `base`, and the student's pgaccess bound to it. */
function setup(sub: PgaccessSubmission, log: string[], pages: number): Setup {
  let kernel: KernelApi | null = null;
  const m = labMachine({
    onSpawn: (_p, k) => {
      kernel = k;
    },
  });
  const p = m.spawn("pgtbl");
  const base = p.sys.mmap(0, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  note(log, `mmap(${pages} pages) = 0x${base.toString(16)}`);
  const k = withoutAnswer(kernel!);
  return {
    m,
    p,
    base,
    pgaccess(va, n) {
      let mask: number;
      try {
        mask = sub.pgaccess(k, p.mm, va, n);
      } catch (e) {
        throw new CheckFailed(`pgaccess(0x${va.toString(16)}, ${n}) threw ${describe(e)}`);
      }
      note(log, `pgaccess(0x${va.toString(16)}, ${n}) = 0x${(mask >>> 0).toString(16)}`);
      return mask >>> 0;
    },
  };
}

/** k, with testAndClearAccessed refusing: it is what the student writes. */
function withoutAnswer(k: KernelApi): KernelApi {
  return Object.create(k, {
    testAndClearAccessed: {
      value: () => {
        throw new Error("k.testAndClearAccessed is what this lab asks you to write: use k.walk, k.pteFlags and k.setPte");
      },
    },
  }) as KernelApi;
}

/** Fails unless `got === want`, both shown in hex. */
function expectMask(log: string[], what: string, got: number, want: number): void {
  note(log, `${what}: 0x${got.toString(16)}`);
  if (got !== want) throw new CheckFailed(`${what}: expected 0x${want.toString(16)}, got 0x${got.toString(16)}`);
}

function touch(s: Setup, log: string[], pages: readonly number[], access: "read" | "write"): void {
  for (const i of pages) {
    if (access === "write") s.p.mem.write32(s.base + i * PAGE, 0x50 + i);
    else s.p.mem.read32(s.base + i * PAGE);
  }
  note(log, `${access} pages ${pages.join(", ")}`);
}

const pgaccessChecks: LabCheck<PgaccessSubmission>[] = [
  {
    name: "reports-accessed",
    weight: 2,
    explain: "Of 8 pages, 1, 3 and 6 were written: pgaccess reports bits 1, 3 and 6 (0x4a).",
    run(sub, log) {
      const s = setup(sub, log, 8);
      touch(s, log, [1, 3, 6], "write");
      expectMask(log, "pgaccess mask", s.pgaccess(s.base, 8), 0x4a);
      checkers(s.m, log);
    },
  },
  {
    name: "clears-the-bits",
    weight: 2,
    explain: "A second call reports nothing; after page 2 is read, only bit 2.",
    run(sub, log) {
      const s = setup(sub, log, 8);
      touch(s, log, [1, 3, 6], "write");
      s.pgaccess(s.base, 8);
      expectMask(log, "second pgaccess mask", s.pgaccess(s.base, 8), 0);
      touch(s, log, [2], "read");
      expectMask(log, "third pgaccess mask", s.pgaccess(s.base, 8), 0x4);
      checkers(s.m, log);
    },
  },
  {
    name: "unmapped-pages-are-zero",
    weight: 1,
    explain: "Of 4 pages only page 0 was read: bit 0 alone; a range with no page table at all reports 0 without an error.",
    run(sub, log) {
      const s = setup(sub, log, 4);
      touch(s, log, [0], "read");
      expectMask(log, "pgaccess mask of pages 0..3", s.pgaccess(s.base, 4), 0x1);
      expectMask(log, "pgaccess mask 1 GiB below", s.pgaccess(s.base - (1 << 30), 4), 0);
      checkers(s.m, log);
    },
  },
  {
    name: "leaves-pages-intact",
    weight: 1,
    explain: "After pgaccess the pages keep their bytes and stay writable, and the kernel's checkers pass.",
    run(sub, log) {
      const s = setup(sub, log, 4);
      touch(s, log, [0, 1, 2, 3], "write");
      expectMask(log, "pgaccess mask", s.pgaccess(s.base, 4), 0xf);
      for (let i = 0; i < 4; i++) expectEq(log, `read32 of page ${i}`, s.p.mem.read32(s.base + i * PAGE), 0x50 + i);
      s.p.mem.write32(s.base, 1);
      expectEq(log, "rss pages", s.p.mm.rssAnon, 4);
      checkers(s.m, log);
    },
  },
];

/** The page-table lab: pgaccess, vmprint, ugetpid. */
export const pgtblLab: Lab<PgtblSubmission> = {
  name: "pgtbl",
  title: "Page tables: accessed bits (pgaccess), print a page table (vmprint), a read-only pid page (ugetpid)",
  studentFiles: ["pgtbl.ts"],
  exports: ["pgaccess", "vmprint", "usyscall"],
  checks: [...pgaccessChecks, ...vmprintChecks, ...ugetpidChecks],
  timeLimitMs: 10_000,
};
