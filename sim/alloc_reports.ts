/**
 * The reports of allocation sites (alloc_sites.ts), in the shapes of the
 * tools people know:
 *
 *   heaptrackReport   heaptrack_print's summary: the top sites by number of
 *                     calls, by bytes allocated, by peak and by leaked bytes,
 *                     then the totals
 *   leakSanitizer     LeakSanitizer's report at process exit: one entry per
 *                     site, "Direct leak of N byte(s) in M object(s)
 *                     allocated from:" (no leaked block points to it) or
 *                     "Indirect leak ..." (only other leaked blocks do),
 *                     largest first, direct before indirect, then SUMMARY
 *
 * Sizes and counts are of the sampled allocations: with one sample per N
 * bytes (N > 1) they are a sample, and the reports say so.
 */
import type { SiteRecord, SiteStats } from "./alloc_sites.ts";

/** Bytes as heaptrack prints them: 100B, 1.50KB, 2.00MB (powers of 1024). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n}B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(2)}KB`;
  return `${(n / (1024 * 1024)).toFixed(2)}MB`;
}

function siteLine(s: SiteStats): string {
  return `${s.site}\n  in ${s.fn}`;
}

function top(sites: readonly SiteStats[], key: (s: SiteStats) => number, limit: number): SiteStats[] {
  return sites
    .filter((s) => key(s) > 0)
    .sort((a, b) => key(b) - key(a) || a.site.localeCompare(b.site))
    .slice(0, limit);
}

/**
 * heaptrack_print's summary of `sites`: `limit` sites per section. `peak` is
 * the largest total of sampled live bytes seen; `interval` the sampling
 * interval in bytes (1: every allocation).
 */
export function heaptrackReport(sites: readonly SiteStats[], opts: { limit: number; peak: number; interval: number }): string {
  const n = opts.limit;
  const out: string[] = [];
  if (opts.interval > 1) out.push(`sampled: one allocation per ${opts.interval} bytes on average\n`);
  out.push("MOST CALLS TO ALLOCATION FUNCTIONS");
  for (const s of top(sites, (x) => x.calls, n))
    out.push(`${s.calls} calls to allocation functions with ${formatBytes(s.peakBytes)} peak consumption from\n${siteLine(s)}`);
  out.push("", "MOST BYTES ALLOCATED");
  for (const s of top(sites, (x) => x.bytes, n)) out.push(`${formatBytes(s.bytes)} allocated over ${s.calls} calls from\n${siteLine(s)}`);
  out.push("", "PEAK MEMORY CONSUMERS");
  for (const s of top(sites, (x) => x.peakBytes, n))
    out.push(`${formatBytes(s.peakBytes)} peak memory consumed over ${s.calls} calls from\n${siteLine(s)}`);
  out.push("", "MEMORY LEAKS");
  for (const s of top(sites, (x) => x.leakedBytes, n))
    out.push(`${formatBytes(s.leakedBytes)} leaked over ${s.leakedCount} calls from\n${siteLine(s)}`);
  const calls = sites.reduce((a, s) => a + s.calls, 0);
  const leaked = sites.reduce((a, s) => a + s.leakedBytes, 0);
  out.push(
    "",
    `calls to allocation functions: ${calls}`,
    `peak heap memory consumption: ${formatBytes(opts.peak)}`,
    `total memory leaked: ${formatBytes(leaked)}`,
  );
  return `${out.join("\n")}\n`;
}

/** One leaked block: its address and record. */
export interface LeakedBlock {
  readonly ptr: number;
  readonly rec: SiteRecord;
}

/**
 * Which leaked blocks another leaked block points into (LeakSanitizer's
 * indirect leaks): every 8-byte aligned word of every block is read with
 * `read` (the process's memory) and compared with the blocks' ranges.
 */
export function indirectlyLeaked(blocks: readonly LeakedBlock[], read: (va: number, len: number) => Uint8Array): Set<number> {
  const sorted = [...blocks].sort((a, b) => a.ptr - b.ptr);
  const starts = sorted.map((b) => b.ptr);
  const indirect = new Set<number>();
  for (const b of sorted) {
    const bytes = read(b.ptr, b.rec.size - (b.rec.size % 8));
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let off = 0; off + 8 <= bytes.length; off += 8) {
      const v = dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 4294967296;
      let lo = 0;
      let hi = starts.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((starts[mid] as number) <= v) lo = mid + 1;
        else hi = mid;
      }
      const t = sorted[lo - 1];
      if (t !== undefined && t !== b && v < t.ptr + Math.max(t.rec.size, 1)) indirect.add(t.ptr);
    }
  }
  return indirect;
}

/**
 * LeakSanitizer's report for process `pid` (empty when nothing leaked):
 * blocks grouped by site and kind, largest group first, direct before
 * indirect.
 */
export function leakSanitizerReport(
  pid: number,
  blocks: readonly LeakedBlock[],
  sites: readonly SiteStats[],
  indirect: ReadonlySet<number>,
  interval: number,
): string {
  if (blocks.length === 0) return "";
  const groups = new Map<string, { direct: boolean; site: number; bytes: number; objects: number }>();
  for (const b of blocks) {
    const direct = !indirect.has(b.ptr);
    const key = `${direct ? "D" : "I"}${b.rec.site}`;
    const g = groups.get(key) ?? { direct, site: b.rec.site, bytes: 0, objects: 0 };
    g.bytes += b.rec.size;
    g.objects++;
    groups.set(key, g);
  }
  const sorted = [...groups.values()].sort((a, b) => Number(b.direct) - Number(a.direct) || b.bytes - a.bytes || a.site - b.site);
  const out = [
    "=================================================================",
    `==${pid}==ERROR: LeakSanitizer: detected memory leaks`,
    "",
  ];
  for (const g of sorted) {
    const s = sites[g.site] as SiteStats;
    out.push(`${g.direct ? "Direct" : "Indirect"} leak of ${g.bytes} byte(s) in ${g.objects} object(s) allocated from:`);
    out.push(`    #0 in ${s.fn}`, `    #1 in ${s.site}`, "");
  }
  const total = blocks.reduce((a, b) => a + b.rec.size, 0);
  const sampled = interval > 1 ? ` (sampled: one allocation per ${interval} bytes on average)` : "";
  out.push(`SUMMARY: AddressSanitizer: ${total} byte(s) leaked in ${blocks.length} allocation(s).${sampled}`);
  return `${out.join("\n")}\n`;
}
