/**
 * Lab "frames": a page-frame allocator (JOS lab 2's page_alloc, xv6's
 * kalloc, a buddy allocator for the ambitious). The student's `frames`
 * layer chooses frames; the kernel does the struct pages, zeroing and the
 * bad-free checks around it and validates every answer (LayerFault).
 * Checks in the spirit of JOS's check_page_alloc: distinct frames until
 * none is left, a freed frame comes back, the counts add up, and a machine
 * whose every frame comes from the layer runs processes.
 */
import type { FramesLayer } from "../../../kernel/mm/frames.ts";
import { GFP_KERNEL } from "../../../kernel/mm/gfp.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../../kernel/uapi/mman.ts";
import type { Machine } from "../../machine.ts";
import { checkers, expectEq, expectTrue, freeFrames, labMachine, note } from "../trial.ts";
import { CheckFailed, type Lab, type LabCheck } from "../types.ts";

/** What a frames-lab submission exports. */
export interface FramesSubmission {
  readonly frames: FramesLayer;
}

const PAGE = 4096;

function framesMachine(sub: FramesSubmission, log: string[]): Machine {
  const m = labMachine({ frames: sub.frames });
  note(log, `booted 8 MiB on your allocator: ${freeFrames(m)} frames free`);
  return m;
}

/** Allocates single frames until none is left; returns them in order. */
function exhaust(m: Machine): number[] {
  const got: number[] = [];
  for (let pfn = m.kernel.allocPages(0, GFP_KERNEL); pfn !== null; pfn = m.kernel.allocPages(0, GFP_KERNEL)) got.push(pfn);
  return got;
}

const checks: LabCheck<FramesSubmission>[] = [
  {
    name: "boots",
    weight: 1,
    explain: "A machine boots on the allocator (page tables, slabs and vmalloc take their frames from it) and its checkers pass.",
    run(sub, log) {
      const m = framesMachine(sub, log);
      expectTrue(freeFrames(m) > 0, "MemFree is 0 after boot: the allocator reports no free frame");
      checkers(m, log);
    },
  },
  {
    name: "distinct-until-empty",
    weight: 2,
    explain: "Allocating single frames until none is left gives as many distinct frames as MemFree said, then NULL (check_page_alloc).",
    run(sub, log) {
      const m = framesMachine(sub, log);
      const free = freeFrames(m);
      expectTrue(free > 0, "MemFree is 0 after boot: the allocator reports no free frame");
      const got = exhaust(m);
      note(log, `allocated ${got.length} frames before the allocator said none is left`);
      expectEq(log, "distinct frames", new Set(got).size, got.length);
      expectEq(log, "frames allocated", got.length, free);
      expectEq(log, "MemFree afterwards, in frames", freeFrames(m), 0);
      for (const pfn of got) m.kernel.freePages(pfn, 0);
      checkers(m, log);
    },
  },
  {
    name: "freed-frame-comes-back",
    weight: 1,
    explain: "With every frame allocated, a frame freed is the one the next allocation returns.",
    run(sub, log) {
      const m = framesMachine(sub, log);
      const got = exhaust(m);
      const victim = got[Math.floor(got.length / 2)]!;
      m.kernel.freePages(victim, 0);
      m.kernel.drainPcp();
      note(log, `freed frame 0x${victim.toString(16)} with nothing else free`);
      expectEq(log, "the next allocation", m.kernel.allocPages(0, GFP_KERNEL), victim);
      expectEq(log, "and the one after", m.kernel.allocPages(0, GFP_KERNEL), null);
      for (const pfn of got) m.kernel.freePages(pfn, 0);
      checkers(m, log);
    },
  },
  {
    name: "counts-add-up",
    weight: 1,
    explain: "Each allocation lowers MemFree by one frame and each free raises it by one; MemTotal never moves.",
    run(sub, log) {
      const m = framesMachine(sub, log);
      const total = m.kernel.meminfoValues().MemTotal;
      const free = freeFrames(m);
      const got: number[] = [];
      for (let i = 0; i < 10; i++) got.push(m.kernel.allocPages(0, GFP_KERNEL) ?? -1);
      expectEq(log, "MemFree change after 10 allocations, in frames", freeFrames(m) - free, -10);
      for (const pfn of got.slice(0, 4)) m.kernel.freePages(pfn, 0);
      expectEq(log, "MemFree change after freeing 4 of them", freeFrames(m) - free, -6);
      expectEq(log, "MemTotal", m.kernel.meminfoValues().MemTotal, total);
      checkers(m, log);
    },
  },
  {
    name: "processes-run",
    weight: 2,
    explain: "Three processes map, write, fork and exit on the allocator; their bytes survive and every frame comes back.",
    run(sub, log) {
      const m = framesMachine(sub, log);
      m.kernel.dropCaches();
      const before = freeFrames(m);
      const procs = [0, 1, 2].map((i) => {
        const p = m.spawn(`p${i}`);
        const a = p.sys.mmap(0, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        for (let j = 0; j < 64; j++) p.mem.write32(a + j * PAGE, i * 1000 + j);
        return { p, a, c: p.fork() };
      });
      note(log, "3 processes wrote 64 pages each and forked");
      for (const [i, { p, a, c }] of procs.entries()) {
        if (c === null) throw new CheckFailed(`fork of p${i} failed`);
        c.mem.write32(a, 7);
        expectEq(log, `p${i} read32 of its page 63`, p.mem.read32(a + 63 * PAGE), i * 1000 + 63);
        expectEq(log, `p${i} read32 of its page 0 after the child wrote it`, p.mem.read32(a), i * 1000);
      }
      for (const { p, c } of procs) {
        c?.exit(0);
        p.exit(0);
      }
      m.kernel.dropCaches();
      expectEq(log, "frames not given back after every process exited", before - freeFrames(m), 0);
      checkers(m, log);
    },
  },
];

/** The frame-allocator lab. */
export const framesLab: Lab<FramesSubmission> = {
  name: "frames",
  title: "A page-frame allocator: free list or buddy, with check_page_alloc's checks",
  studentFiles: ["frames.ts"],
  exports: ["frames"],
  checks,
  timeLimitMs: 15_000,
};
