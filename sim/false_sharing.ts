/**
 * The false-sharing report (`m.proc.falseSharing()`): the cache model's
 * falsely shared lines (two or more CPUs each wrote bytes of the line no
 * other CPU wrote) (kernel/mm/cache_false_sharing.ts) with the user
 * allocation owning each written range, when allocation sites track user
 * allocations (sim/alloc_sites.ts), and the kind of sharing as Hoard's
 * paper names it:
 *
 *   active    the allocator handed parts of one line to threads on different
 *             CPUs: the owning blocks were allocated on two or more CPUs
 *   passive   a block was freed and its memory reused by a thread on another
 *             CPU than the one that allocated it, while the line's other
 *             part is still written by that first CPU
 *   program   every owning block came from one CPU: the program handed the
 *             objects to other threads (no allocator can help)
 *   unknown   some range has no tracked allocation
 *
 * Words: owner = the live tracked user block a range lies in.
 */

import type { Kernel } from "../kernel/kernel.ts";
import type { FalseSharingLine } from "../kernel/mm/cache_false_sharing.ts";
import type { AllocSites, SiteRecord } from "./alloc_sites.ts";

/** The user block owning one written range. */
export interface RangeOwner {
  readonly pid: number;
  /** The block's user address and size. */
  readonly addr: number;
  readonly size: number;
  /** The CPU that allocated it, and the CPU whose freed block it reuses (-1: none). */
  readonly cpu: number;
  readonly reusedFrom: number;
  readonly site: string;
}

/** One writer's range and its owner (null when no tracked block holds it). */
export interface OwnedRange {
  readonly cpu: number;
  readonly start: number;
  readonly end: number;
  readonly owner: RangeOwner | null;
}

/** One reported line. */
export interface FalseSharingEntry {
  readonly pa: number;
  readonly va: number;
  readonly kind: "active" | "passive" | "program" | "unknown";
  /** Each CPU's private bytes and their owners. */
  readonly ranges: readonly OwnedRange[];
  /** Bytes two or more CPUs wrote. */
  readonly shared: ReadonlyArray<readonly [start: number, end: number]>;
}

/**
 * A user block [va, va + n) of process `pid` was just allocated: the cache
 * model's false-sharing detector forgets the stores to its bytes (a no-op
 * on a machine without the cache model). Pages not mapped yet have no stores.
 */
export function forgetBlockStores(kernel: Kernel, pid: number, va: number, n: number): void {
  const cache = kernel.smp.cache;
  if (cache === null || n <= 0) return;
  const p = kernel.tasks.get(pid);
  if (p === undefined) return;
  for (let at = va; at < va + n; ) {
    const chunk = Math.min(va + n - at, 4096 - (at % 4096));
    const e = kernel.mmu.peek(p.mm.pt, at);
    if (e >= 0) cache.falseSharing.forget(e - (e % 4096) + (at % 4096), chunk);
    at += chunk;
  }
}

/** The live tracked user block holding `va`, or null. */
function ownerOf(sites: AllocSites, va: number): RangeOwner | null {
  for (const [pid, live] of sites.userLive) {
    for (const [addr, r] of live) {
      if (va >= addr && va < addr + Math.max(r.size, 1)) return toOwner(sites, pid, addr, r);
    }
  }
  return null;
}

function toOwner(sites: AllocSites, pid: number, addr: number, r: SiteRecord): RangeOwner {
  const site = sites.sites[r.site]?.site ?? "?";
  return { pid, addr, size: r.size, cpu: r.cpu ?? 0, reusedFrom: r.reusedFrom ?? -1, site };
}

/**
 * Hoard's kind of one line's sharing, from the owners of its ranges (ranges
 * in no tracked block, such as a malloc's headers, do not count): unknown
 * unless owned ranges of two CPUs remain.
 */
function kindOf(ranges: readonly OwnedRange[]): FalseSharingEntry["kind"] {
  const owned = ranges.filter((r) => r.owner !== null);
  if (new Set(owned.map((r) => r.cpu)).size < 2) return "unknown";
  const owners = owned.map((r) => r.owner as RangeOwner);
  if (owners.some((o) => o.reusedFrom >= 0)) return "passive";
  return new Set(owners.map((o) => o.cpu)).size > 1 ? "active" : "program";
}

/** The cache model's falsely shared lines with owners and kinds. */
export function falseSharingEntries(lines: readonly FalseSharingLine[], sites: AllocSites): FalseSharingEntry[] {
  return lines.map((l) => {
    const ranges: OwnedRange[] = [];
    for (const w of l.writers) {
      for (const [start, end] of w.ranges) ranges.push({ cpu: w.cpu, start, end, owner: ownerOf(sites, l.va + start) });
    }
    return { pa: l.pa, va: l.va, kind: kindOf(ranges), ranges, shared: l.shared };
  });
}

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * The report: per line a header with its physical and virtual address and
 * kind, then one line per written range: the CPU, the bytes (inclusive) and
 * the owning block (address, size, allocating CPU, the CPU it was reused
 * from), then the bytes several CPUs wrote. "no false sharing" when there is none.
 */
export function renderFalseSharing(entries: readonly FalseSharingEntry[]): string {
  if (entries.length === 0) return "no false sharing\n";
  const out: string[] = [];
  for (const e of entries) {
    out.push(`false sharing (${e.kind}): line ${hex(e.pa)} va ${hex(e.va)}`);
    for (const r of e.ranges) {
      const o = r.owner;
      const who =
        o === null
          ? "no tracked allocation"
          : `malloc(${o.size}) = ${hex(o.addr)} pid ${o.pid} on CPU ${o.cpu}${o.reusedFrom >= 0 ? `, reusing a block of CPU ${o.reusedFrom}` : ""}`;
      out.push(`  CPU ${r.cpu} bytes ${r.start}-${r.end - 1}: ${who}`);
    }
    if (e.shared.length > 0) out.push(`  shared bytes ${e.shared.map(([s, x]) => `${s}-${x - 1}`).join(", ")}`);
  }
  return `${out.join("\n")}\n`;
}
