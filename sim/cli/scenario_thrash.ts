/**
 * The `thrash` scenario: one process in a memory cgroup of LIMIT frames,
 * with swap, sweeps a working set that grows step by step past the limit.
 * Each step narrates the pages touched, the faults (minor and major), the
 * swap I/O and the effective access time of the step read from the cost
 * clock (kernel/clock.ts): the clock's nanoseconds spent during the step
 * divided by the memory accesses made in it. Below the limit a sweep costs
 * about one nanosecond an access; past it every sweep faults its pages back
 * in from swap and the time per access jumps by orders of magnitude.
 *
 * The group's reclaim goes through the machine's replacement policy
 * (kernel/mm/memcontrol.ts -> vmscan.ts tryToFreePages), so the same story
 * on a machine booted with another `layers.replacement` shows that policy.
 */
import { PAGE_SIZE } from "../../kernel/mm/types.ts";
import type { Process } from "../../kernel/process.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../kernel/uapi/mman.ts";
import type { Machine } from "../machine.ts";
import type { Recorder } from "./scenario.ts";

/** Frames the group may hold (memory.max = LIMIT pages). */
export const THRASH_LIMIT = 16;
/** The working sets swept, in pages, one step each. */
export const THRASH_SIZES: readonly number[] = [8, 12, 16, 17, 20, 24, 32];
/** Sweeps over the working set per step. */
const SWEEPS = 4;
/** Bytes between two accesses of a sweep: 16 accesses per page. */
const STRIDE = 256;
/** The swap the scenario boots with: room for the largest working set several times over. */
export const THRASH_SWAP_BYTES = 1 << 20;

/** Effective access time over one step (the cost clock's nanoseconds in it per access). */
export interface EatPoint {
  readonly step: number;
  readonly label: string;
  /** Memory accesses made in the step (TLB hits + misses). */
  readonly accesses: number;
  /** Simulated nanoseconds the step took. */
  readonly ns: number;
  /** ns / accesses, rounded to 0.1 ns. */
  readonly eatNs: number;
}

/** The counters a step is measured by. */
interface Counters {
  pgfault: number;
  pgmajfault: number;
  pswpin: number;
  pswpout: number;
  accesses: number;
  ns: number;
}

function counters(m: Machine): Counters {
  const rows: Array<[string, number]> = [];
  for (const src of m.kernel.vmstatSources) src(rows);
  const v = Object.fromEntries(rows);
  const access = m.clock.breakdown().find((r) => r.kind === "access");
  return {
    pgfault: v.pgfault ?? 0,
    pgmajfault: v.pgmajfault ?? 0,
    pswpin: v.pswpin ?? 0,
    pswpout: v.pswpout ?? 0,
    accesses: access?.count ?? 0,
    ns: m.clock.now(),
  };
}

/** Sweeps pages [0, pages) of the mapping at `base` SWEEPS times: a write to each page's first word, reads of the rest. */
function sweep(rec: Recorder, base: number, pages: number, p: Process): void {
  for (let s = 0; s < SWEEPS; s++) {
    for (let i = 0; i < pages; i++) {
      const page = base + i * PAGE_SIZE;
      p.mem.write32(page, i + s);
      for (let off = STRIDE; off < PAGE_SIZE; off += STRIDE) p.mem.read32(page + off);
    }
  }
  rec.sample(`${pages} pages swept`);
}

/** The story: a working set growing past the group's limit, EAT per step. */
export function thrashScenario(rec: Recorder): void {
  const m = rec.m;
  const g = m.cgroups.create("thrash", { max: THRASH_LIMIT * PAGE_SIZE });
  const p = m.spawn("thrash");
  p.cgroup = g;
  const max = THRASH_SIZES[THRASH_SIZES.length - 1] as number;
  const base = p.sys.mmap(0, max * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  rec.step(
    `thrash (pid ${p.pid}) joins cgroup /thrash, memory.max ${THRASH_LIMIT} frames (${(THRASH_LIMIT * PAGE_SIZE) >> 10} KiB), swap ${THRASH_SWAP_BYTES >> 10} KiB; it maps ${max} pages at 0x${base.toString(16)}`,
  );
  for (const pages of THRASH_SIZES) {
    const a = counters(m);
    sweep(rec, base, pages, p);
    const b = counters(m);
    const accesses = b.accesses - a.accesses;
    const ns = b.ns - a.ns;
    const eatNs = accesses === 0 ? 0 : Math.round((ns * 10) / accesses) / 10;
    const major = b.pgmajfault - a.pgmajfault;
    const minor = b.pgfault - a.pgfault - major;
    const fit = pages <= THRASH_LIMIT ? "fits in" : "exceeds";
    const label = `working set ${pages} pages`;
    rec.step(
      `${label} (${fit} the ${THRASH_LIMIT} frames): ${SWEEPS} sweeps touch ${pages * SWEEPS} pages; faults ${minor} minor, ${major} major; pswpin ${b.pswpin - a.pswpin}, pswpout ${b.pswpout - a.pswpout}; ${accesses} accesses in ${ns} ns: EAT ${eatNs.toFixed(1)} ns`,
    );
    rec.eat.push({ step: rec.steps.length, label, accesses, ns, eatNs });
  }
  rec.step(
    `at the end: memory.current ${Number(m.cgroups.read(g, "memory.current")) >> 12} pages, memory.swap.current ${Number(m.cgroups.read(g, "memory.swap.current")) >> 12} pages, pgsteal ${g.pgsteal}`,
  );
}
