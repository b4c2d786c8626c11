/**
 * Lab "replacement": a page-replacement policy (Pintos VM's eviction,
 * OSTEP's CLOCK). The student's `layers.replacement` policy picks the pages
 * reclaim evicts when a process in a memory cgroup of a few frames needs
 * another; the kernel swaps them out and back in. Checks in the spirit of
 * Pintos's page-* tests (data written before an eviction reads back after
 * the swap-in, under a linear sweep, forks, a shuffle, an munmap) and a
 * hit-rate check against the fault count CLOCK with second chance gives.
 */
import { GFP_HIGHUSER_MOVABLE } from "../../../kernel/mm/gfp.ts";
import type { ReplacementLayer } from "../../../kernel/mm/replacement.ts";
import type { Process } from "../../../kernel/process.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../../kernel/uapi/mman.ts";
import { Machine } from "../../machine.ts";
import { checkers, expectEq, expectTrue, note } from "../trial.ts";
import { CheckFailed, type Lab, type LabCheck } from "../types.ts";

/** What a replacement-lab submission exports. */
export interface ReplacementSubmission {
  readonly replacement: ReplacementLayer;
}

const PAGE = 4096;

/** A check's machine: 8 MiB, 1 MiB of swap, seed 1, the student's policy; one process in a group of `frames` frames. */
interface Trial {
  readonly m: Machine;
  readonly p: Process;
  readonly base: number;
  /** Page faults of user accesses so far. */
  faults(): number;
  counter(name: "pswpin" | "pswpout"): number;
}

function trial(sub: ReplacementSubmission, frames: number, pages: number, log: string[]): Trial {
  const m = Machine.boot({ ramBytes: 8 << 20, seed: 1, swapBytes: 1 << 20, layers: { replacement: sub.replacement } });
  const g = m.cgroups.create("lab", { max: frames * PAGE });
  const p = m.spawn("lab");
  p.cgroup = g;
  const base = p.sys.mmap(0, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  let faults = 0;
  m.events.on("page_fault_user", () => {
    faults++;
  });
  note(log, `a process in a memory cgroup of ${frames} frames, ${pages} pages mapped, 1 MiB of swap`);
  const counter = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(m.proc.vmstat())?.[1]);
  return { m, p, base, faults: () => faults, counter };
}

/** The value page `i` holds at word `w` after `round` rewrites. */
const value = (i: number, w: number, round: number) => (((i + 1) * 0x01000193) ^ (w * 0x9e37) ^ (round << 24)) >>> 0;

/** Writes three words of page i (first, middle, last). */
function writePage(t: Trial, p: Process, i: number, round: number): void {
  for (const [w, off] of [0, 2048, 4092].entries()) p.mem.write32(t.base + i * PAGE + off, value(i, w, round));
}

/** Fails unless page i reads back the three words of `round`. */
function readPage(t: Trial, p: Process, i: number, round: number, who = "the process"): void {
  for (const [w, off] of [0, 2048, 4092].entries()) {
    const got = p.mem.read32(t.base + i * PAGE + off);
    if (got !== value(i, w, round))
      throw new CheckFailed(
        `${who} read page ${i} at offset ${off}: expected 0x${value(i, w, round).toString(16)}, got 0x${got.toString(16)} (data lost across an eviction)`,
      );
  }
}

function swapped(t: Trial, log: string[], atLeast: number): void {
  note(log, `faults ${t.faults()}, pages swapped out ${t.counter("pswpout")}, swapped in ${t.counter("pswpin")}`);
  expectTrue(t.counter("pswpout") >= atLeast, `only ${t.counter("pswpout")} pages went to swap; the test needs at least ${atLeast}`);
}

const checks: LabCheck<ReplacementSubmission>[] = [
  {
    name: "page-linear",
    weight: 2,
    explain: "32 pages written in order in 8 frames, then read back in order twice: every word reads back (Pintos page-linear).",
    run(sub, log) {
      const t = trial(sub, 8, 32, log);
      for (let i = 0; i < 32; i++) writePage(t, t.p, i, 0);
      for (let pass = 0; pass < 2; pass++) for (let i = 0; i < 32; i++) readPage(t, t.p, i, 0);
      swapped(t, log, 24);
      checkers(t.m, log);
    },
  },
  {
    name: "page-parallel",
    weight: 2,
    explain:
      "In 6 frames a parent writes 12 pages and forks three children one after the other; each rewrites and reads back its copy, then the parent reads its own (Pintos page-parallel).",
    run(sub, log) {
      const t = trial(sub, 6, 12, log);
      for (let i = 0; i < 12; i++) writePage(t, t.p, i, 0);
      for (let c = 1; c <= 3; c++) {
        const child = t.p.fork();
        if (child === null) throw new CheckFailed(`fork ${c} failed`);
        for (let i = 0; i < 12; i++) readPage(t, child, i, 0, `child ${c}`);
        for (let i = 0; i < 12; i++) writePage(t, child, i, c);
        for (let i = 0; i < 12; i++) readPage(t, child, i, c, `child ${c}`);
        child.exit(0);
        note(log, `child ${c} read the parent's pages, rewrote and read back its own, exited`);
      }
      for (let i = 0; i < 12; i++) readPage(t, t.p, i, 0, "the parent");
      swapped(t, log, 6);
      checkers(t.m, log);
    },
  },
  {
    name: "page-shuffle",
    weight: 2,
    explain:
      "24 pages in 8 frames, then three rounds of a shuffled order, each page read and rewritten: every word is the last one written (Pintos page-shuffle, page-merge).",
    run(sub, log) {
      const t = trial(sub, 8, 24, log);
      for (let i = 0; i < 24; i++) writePage(t, t.p, i, 0);
      const order = Array.from({ length: 24 }, (_, i) => i);
      let seed = 12345;
      for (let round = 1; round <= 3; round++) {
        for (let i = order.length - 1; i > 0; i--) {
          seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
          const j = seed % (i + 1);
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
        for (const i of order) {
          readPage(t, t.p, i, round - 1);
          writePage(t, t.p, i, round);
        }
        note(log, `round ${round}: every page read back round ${round - 1}'s words and was rewritten`);
      }
      for (let i = 0; i < 24; i++) readPage(t, t.p, i, 3);
      swapped(t, log, 16);
      checkers(t.m, log);
    },
  },
  {
    name: "munmap-under-pressure",
    weight: 1,
    explain:
      "In 4 frames pages 0-3 are written, pages 1 and 2 unmapped while resident (the policy is told `removed`), then pages 4-9 written: the policy never names a freed page and 0, 3-9 read back.",
    run(sub, log) {
      const t = trial(sub, 4, 10, log);
      for (let i = 0; i < 4; i++) writePage(t, t.p, i, 0);
      expectEq(log, "munmap of pages 1 and 2", t.p.sys.munmap(t.base + PAGE, 2 * PAGE), 0);
      // The kernel takes the two freed frames at once: they sit on the Movable per-CPU list (their page block's
      // type), which hands back the last freed first to a Movable request, so a policy still holding them names
      // kernel pages, not pages a new fault happens to reuse.
      const held = [t.m.kernel.allocPages(0, GFP_HIGHUSER_MOVABLE), t.m.kernel.allocPages(0, GFP_HIGHUSER_MOVABLE)];
      note(log, "the kernel took the two freed frames for itself");
      for (let i = 4; i < 10; i++) writePage(t, t.p, i, 0);
      for (const i of [0, 3, 4, 5, 6, 7, 8, 9]) readPage(t, t.p, i, 0);
      swapped(t, log, 4);
      for (const pfn of held) if (pfn !== null) t.m.kernel.freePages(pfn, 0);
      checkers(t.m, log);
    },
  },
  {
    name: "second-chance-hits",
    weight: 3,
    explain:
      "In 4 frames: pages 0-3, then for i = 4..11 pages 0, 1 and i (all writes). CLOCK with second chance faults 14 times in these 28 accesses (FIFO: 18): pages 0 and 1 stay once their accessed bits are read.",
    run(sub, log) {
      // By hand (statement.md's rules): 0-3 fault (4). i=4: 0 and 1 hit; 4 faults: every use bit is set, the
      // hand clears all four (reading and clearing the accessed bits) and evicts 0. Then 0 faults (evicts 1),
      // 1 faults (evicts 2), and from i=5 on the hand finds 0 and 1 referenced again each time and evicts the
      // page that came in before i: 7 more faults. 4 + 1 + 2 + 7 = 14. FIFO evicts 0 and 1 every fourth
      // fault: 18.
      const t = trial(sub, 4, 12, log);
      const refs = [0, 1, 2, 3];
      for (let i = 4; i < 12; i++) refs.push(0, 1, i);
      for (const r of refs) t.p.mem.write32(t.base + r * PAGE, r);
      const faults = t.faults();
      for (let r = 0; r < 12; r++) expectEq(log, `page ${r} read back`, t.p.mem.read32(t.base + r * PAGE), r);
      expectEq(log, "faults in the 28 accesses (the other accesses hit)", faults, 14);
      checkers(t.m, log);
    },
  },
];

/** The page-replacement lab. */
export const replacementLab: Lab<ReplacementSubmission> = {
  name: "replacement",
  title: "Page replacement: a CLOCK (second-chance) policy under swap, with Pintos's page-* checks",
  studentFiles: ["replacement.ts"],
  exports: ["replacement"],
  checks,
  timeLimitMs: 15_000,
};
