/**
 * Fragmentation samples of the kernel's allocators: the buddy allocator
 * (its zones' free lists) and every slab cache (its object counts). The
 * requested bytes of kmalloc objects come from the `kmalloc`/`kfree` events
 * (`bytes_req`), so a KmallocRequests must listen from boot for kmalloc
 * caches to show their rounding; objects it did not see count their slot's
 * object size as requested.
 */
import { STRUCT_PAGE_SIZE } from "../kernel/mm/memmap.ts";
import type { KmemCache } from "../kernel/mm/slab.ts";
import { activeObjects } from "../kernel/mm/slab_stats.ts";
import { PAGE_SIZE } from "../kernel/mm/types.ts";
import { contigInfo, unusableFreeIndex } from "../kernel/proc/extfrag.ts";
import { type FragSample, fragSample } from "./frag.ts";
import type { Machine } from "./machine.ts";

/** Live kmalloc objects seen in the event stream: pointer -> requested bytes, and the cache that holds each. */
export class KmallocRequests {
  private readonly live = new Map<number, { cache: string; req: number }>();

  constructor(m: Machine) {
    m.events.on("kmalloc", (e) => {
      const c = m.kernel.kmallocCaches.cacheFor(e.bytes_req, e.gfp_flags);
      if (c !== null && e.ptr !== 0) this.live.set(e.ptr, { cache: c.name, req: e.bytes_req });
    });
    m.events.on("kfree", (e) => {
      this.live.delete(e.ptr);
    });
  }

  /** Requested bytes and objects seen alive in cache `name`. */
  seen(name: string): { bytes: number; objects: number } {
    let bytes = 0;
    let objects = 0;
    for (const o of this.live.values()) {
      if (o.cache !== name) continue;
      bytes += o.req;
      objects++;
    }
    return { bytes, objects };
  }
}

/**
 * The buddy allocator at clock `t`: heap = managed pages plus the struct
 * page array, granted = managed - free, requested = granted (a request is
 * a whole order), external = the unusable free space index of `order`
 * summed over the zones. Throws Error on a machine without zones.
 */
export function buddySample(t: number, m: Machine, order: number): FragSample {
  const zones = m.kernel.frameZones();
  if (zones.length === 0) throw new Error("frag: the frames layer has no zones (not the buddy allocator)");
  let managed = 0;
  let spanned = 0;
  const nrFree = new Array<number>(m.kernel.pages.maxOrder + 1).fill(0);
  let largest = 0;
  for (const z of zones) {
    managed += z.managed;
    spanned += z.endPfn - z.startPfn;
    for (let o = 0; o < nrFree.length; o++) {
      const n = z.nrFree[o] as number;
      nrFree[o] = (nrFree[o] as number) + n;
      if (n > 0 && 2 ** o > largest) largest = 2 ** o;
    }
  }
  const info = contigInfo(nrFree, order);
  const free = info.freePages * PAGE_SIZE;
  const granted = managed * PAGE_SIZE - free;
  return fragSample(t, {
    heapBytes: managed * PAGE_SIZE + spanned * STRUCT_PAGE_SIZE,
    requestedBytes: granted,
    census: { grantedBytes: granted, freeBytes: free, largestFreeBytes: largest * PAGE_SIZE },
    external: unusableFreeIndex(order, info) / 1000,
  });
}

/** One slab cache at clock `t`; `seen` are the kmalloc requests observed for it (none for other caches). */
export function slabCacheSample(t: number, c: KmemCache, seen: { bytes: number; objects: number }): FragSample {
  const active = activeObjects(c);
  const free = (c.totalObjects - active) * c.size;
  const unseen = Math.max(0, active - seen.objects);
  return fragSample(t, {
    heapBytes: c.pages * PAGE_SIZE,
    requestedBytes: seen.bytes + unseen * c.objectSize,
    census: { grantedBytes: active * c.size, freeBytes: free, largestFreeBytes: free > 0 ? c.size : 0 },
    external: c.totalObjects === 0 ? 0 : (c.totalObjects - active) / c.totalObjects,
  });
}

/** Samples of every slab cache, by name. */
export function slabSamples(t: number, m: Machine, requests: KmallocRequests | null): Map<string, FragSample> {
  const out = new Map<string, FragSample>();
  for (const c of m.kernel.slab.caches) out.set(c.name, slabCacheSample(t, c, requests?.seen(c.name) ?? { bytes: 0, objects: 0 }));
  return out;
}
