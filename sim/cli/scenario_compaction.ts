/**
 * The `compaction` scenario of `memsim run`: two processes touch their pages
 * in turns so their frames interleave; one exits, leaving every other frame
 * free. An order-9 request that may not wait fails for want of a 2 MiB
 * block although plenty of memory is free; compact_memory moves the
 * survivor's pages (kernel/mm/compaction.ts) and the same request succeeds.
 * The survivor reads back every page it wrote.
 */
import { __GFP_NOWARN, GFP_KERNEL, GFP_NOWAIT } from "../../kernel/mm/gfp.ts";
import { PAGE_SIZE } from "../../kernel/mm/types.ts";
import type { Process } from "../../kernel/process.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../kernel/uapi/mman.ts";
import type { Machine } from "../machine.ts";
import type { Recorder } from "./scenario.ts";

/** Pages left free for page tables, slab and the watermarks while the two processes fill RAM. */
const SLACK_PAGES = 300;
const ORDER = 9;

/** The largest order with a free block in any zone, or -1. */
function largestFree(m: Machine): number {
  let best = -1;
  for (const z of m.kernel.buddy.zones) for (let o = 0; o < z.nrFree.length; o++) if ((z.nrFree[o] as number) > 0 && o > best) best = o;
  return best;
}

function vmstat(m: Machine, name: string): number {
  const line = m.proc
    .vmstat()
    .split("\n")
    .find((l) => l.startsWith(`${name} `));
  return Number(line?.split(" ")[1] ?? 0);
}

function spawnOrStop(rec: Recorder, name: string): Process | null {
  try {
    return rec.m.spawn(name);
  } catch (e) {
    rec.step(`spawning ${name} fails (${(e as Error).message}): the machine is too small for the rest of the story`);
    return null;
  }
}

/** Runs the story on `rec.m`. */
export function compactionScenario(rec: Recorder): void {
  const m = rec.m;
  const k = m.kernel;
  const a = spawnOrStop(rec, "a");
  const b = a === null ? null : spawnOrStop(rec, "b");
  if (a === null || b === null) return;
  const pages = Math.max(1, Math.floor((k.buddy.nrFreePages() + k.buddy.nrPcpPages() - SLACK_PAGES) / 2));
  const rw = PROT_READ | PROT_WRITE;
  const va = a.sys.mmap(0, pages * PAGE_SIZE, rw, MAP_PRIVATE | MAP_ANONYMOUS);
  const vb = b.sys.mmap(0, pages * PAGE_SIZE, rw, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let i = 0; i < pages; i++) {
    a.mem.write32(va + i * PAGE_SIZE, i + 1);
    b.mem.write32(vb + i * PAGE_SIZE, i + 1);
  }
  rec.step(`a (pid ${a.pid}) and b (pid ${b.pid}) each touch ${pages} pages, in turns: their frames interleave`);
  b.exit(0);
  k.drainPcp();
  rec.step(`b exits and the per-CPU lists drain: ${k.buddy.nrFreePages()} pages free, the largest free block of order ${largestFree(m)}`);
  const fail = k.allocPages(ORDER, GFP_NOWAIT | __GFP_NOWARN);
  rec.step(
    fail === null
      ? `an order-${ORDER} request that may not wait (GFP_NOWAIT) fails: no 2 MiB block is free`
      : `an order-${ORDER} request that may not wait succeeds at pfn 0x${fail.toString(16)}: memory was not fragmented enough`,
  );
  if (fail !== null) k.freePages(fail, ORDER);
  k.compactMemory();
  rec.step(
    `compact_memory: ${vmstat(m, "pgmigrate_success")} pages migrated, ${vmstat(m, "compact_migrate_scanned")} frames scanned from the bottom, ${vmstat(m, "compact_free_scanned")} from the top, ${vmstat(m, "compact_isolated")} isolated; the largest free block is of order ${largestFree(m)}`,
  );
  const ok = k.allocPages(ORDER, GFP_KERNEL | __GFP_NOWARN);
  rec.step(ok === null ? `the order-${ORDER} request fails again` : `the order-${ORDER} request succeeds at pfn 0x${ok.toString(16)}`);
  let same = 0;
  for (let i = 0; i < pages; i++) if (a.mem.read32(va + i * PAGE_SIZE) === i + 1) same++;
  rec.step(`a reads back ${same} of its ${pages} pages unchanged`);
}
