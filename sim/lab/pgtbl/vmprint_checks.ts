/**
 * The pgtbl lab's vmprint checks: the student's vmprint(k, mm), which reads
 * the tree through k.pgd, k.tableEntry, k.pteLo/pteHi and k.ptePfn, against
 * the kernel's own picture of the same page table (PageTable.vmprint).
 */
import type { KernelApi } from "../../../kernel/mm/lab_api.ts";
import type { MmStruct } from "../../../kernel/mm/mm.ts";
import type { Process } from "../../../kernel/process.ts";
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../../kernel/uapi/mman.ts";
import type { Machine } from "../../machine.ts";
import { checkers, describe, labMachine, note } from "../trial.ts";
import { CheckFailed, type LabCheck } from "../types.ts";

/** What the vmprint part of a submission exports. */
export interface VmprintSubmission {
  readonly vmprint: (k: KernelApi, mm: MmStruct) => string;
}

const PAGE = 4096;

/** A lab machine and one process, with the `k` its spawn was handed. */
function spawnOne(): { m: Machine; p: Process; k: KernelApi } {
  let kernel: KernelApi | null = null;
  const m = labMachine({
    onSpawn: (_p, k) => {
      kernel = k;
    },
  });
  const p = m.spawn("vmprint");
  return { m, p, k: kernel! };
}

/** Writes one word into each page of [addr, addr + pages * 4096). */
function touch(p: Process, log: string[], addr: number, pages: number): void {
  for (let i = 0; i < pages; i++) p.mem.write32(addr + i * PAGE, i + 1);
  note(log, `wrote ${pages} page(s) at 0x${addr.toString(16)}`);
}

/** Fails unless the student's vmprint of `p` is the kernel's, line by line (the first difference shown). */
function expectVmprint(sub: VmprintSubmission, k: KernelApi, p: Process, log: string[]): void {
  let got: string;
  try {
    got = sub.vmprint(k, p.mm);
  } catch (e) {
    throw new CheckFailed(`vmprint threw ${describe(e)}`);
  }
  if (typeof got !== "string") throw new CheckFailed(`vmprint returned ${typeof got}, not a string`);
  const want = p.mm.pt.vmprint();
  const g = got.split("\n");
  const w = want.split("\n");
  note(log, `the kernel's vmprint: ${w.length - 1} lines; yours: ${g.length - (got.endsWith("\n") ? 1 : 0)}`);
  for (let i = 0; i < Math.max(g.length, w.length); i++) {
    if (g[i] === w[i]) continue;
    note(log, `expected line ${i + 1}: ${JSON.stringify(w[i] ?? "(none)")}`);
    note(log, `your line ${i + 1}:     ${JSON.stringify(g[i] ?? "(none)")}`);
    throw new CheckFailed(`vmprint differs from the page table at line ${i + 1}`);
  }
  note(log, "vmprint: the same as the kernel's");
}

/** The vmprint checks. */
export const vmprintChecks: LabCheck<VmprintSubmission>[] = [
  {
    name: "vmprint-one-path",
    weight: 2,
    explain:
      "Two pages written in one mmap: vmprint prints the root, then one entry at each level down to the two leaves, in xv6's format.",
    run(sub, log) {
      const { m, p, k } = spawnOne();
      const a = p.sys.mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
      touch(p, log, a, 2);
      expectVmprint(sub, k, p, log);
      checkers(m, log);
    },
  },
  {
    name: "vmprint-every-branch",
    weight: 2,
    explain: "Pages in the heap, an mmap, the stack and at 1 GiB and 512 GiB: vmprint follows every branch of every level.",
    run(sub, log) {
      const { m, p, k } = spawnOne();
      const brk = p.sys.brk(0);
      p.sys.brk(brk + 3 * PAGE);
      touch(p, log, brk, 3);
      const a = p.sys.mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
      touch(p, log, a, 1);
      touch(p, log, a + PAGE, 1);
      p.mem.write32(p.mm.startStack - 8, 1);
      note(log, "wrote the stack");
      for (const at of [0x4000_0000, 0x80_0000_0000 + 0x20_0000]) {
        const r = p.sys.mmap(at, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
        touch(p, log, r, 1);
      }
      expectVmprint(sub, k, p, log);
      checkers(m, log);
    },
  },
];
