/**
 * slab_debug (Linux CONFIG_SLUB_DEBUG): poisoning, red zones, user tracking
 * and the consistency checks that find overflows, use after free, double
 * frees and corrupt freelists, reported in Linux's format (slab_report.ts).
 *
 * Calls: the cache it is given and its RAM; never the buddy allocator.
 * Report kinds: slab_redzone, slab_poison, slab_padding, slab_freepointer,
 * slab_double_free, slab_invalid_pointer, slab_corrupt, slab_wrong_cache,
 * slab_objects_remaining, slab_out_of_memory, slab_trace.
 *
 * Track record (SLAB_STORE_USER), 32 bytes, two per object (alloc, free):
 *   0        4        8        12       16       20       24       28      32
 *   +--------+--------+--------+--------+--------+--------+--------+--------+
 *   | caller | 0      | handle | cpu    | pid    | 0      | when   | 0      |
 *   +--------+--------+--------+--------+--------+--------+--------+--------+
 *   caller = interned label id (0 = no record), when = slab clock.
 */
import { formatGfp } from "./gfp.ts";
import { STRUCT_PAGE_SIZE } from "./memmap.ts";
import type { KmemCache } from "./slab.ts";
import {
  __OBJECT_POISON,
  POISON_END,
  POISON_FREE,
  POISON_INUSE,
  SLAB_CONSISTENCY_CHECKS,
  SLAB_KMALLOC,
  SLAB_POISON,
  SLAB_RED_ZONE,
  SLAB_STORE_USER,
  SLAB_TRACE,
  SLUB_RED_ACTIVE,
  SLUB_RED_INACTIVE,
} from "./slab_flags.ts";
import { orderObjects, SLAB_DISABLED, slabFreelist, slabInuse, slabNext, slabState } from "./slab_page.ts";
import { ptrOf } from "./slab_report.ts";
import { formatVa, PAGE_SIZE } from "./types.ts";

/** sizeof(struct track) on x86-64 with a stack depot handle. */
export const TRACK_SIZE = 32;
const TRACK_ALLOC = 0;
const TRACK_FREE = 1;

/** End of object, red zone and out-of-object free pointer: where tracks start. */
function infoEnd(c: KmemCache): number {
  return c.offset >= c.inuse ? c.inuse + 8 : c.inuse;
}

function sizeFromObject(c: KmemCache): number {
  return c.flags & SLAB_RED_ZONE ? c.size - c.redLeftPad : c.size;
}

/** kmalloc caches with user tracking keep the requested size (Linux slub_debug_orig_size). */
function usesOrigSize(c: KmemCache): boolean {
  return (c.flags & (SLAB_KMALLOC | SLAB_STORE_USER)) === (SLAB_KMALLOC | SLAB_STORE_USER);
}

/** The size kmalloc was asked for (object size when not recorded). */
export function getOrigSize(c: KmemCache, obj: number): number {
  if (!usesOrigSize(c)) return c.objectSize;
  return c.host.phys.u32[(obj + infoEnd(c) + 2 * TRACK_SIZE) >>> 2] as number;
}

/** Records the size kmalloc was asked for, when the cache keeps it. */
export function setOrigSize(c: KmemCache, obj: number, size: number): void {
  if (usesOrigSize(c)) c.host.phys.u32[(obj + infoEnd(c) + 2 * TRACK_SIZE) >>> 2] = size;
}

/** init_object: red zones to `val`, the object poisoned (up to the requested size when active). */
export function initObject(c: KmemCache, obj: number, val: number): void {
  const u8 = c.host.phys.u8;
  let poisonSize = c.objectSize;
  if (c.flags & SLAB_RED_ZONE) {
    u8.fill(val, obj - c.redLeftPad, obj);
    if (val === SLUB_RED_ACTIVE && usesOrigSize(c)) poisonSize = getOrigSize(c, obj);
  }
  if (c.flags & __OBJECT_POISON) {
    u8.fill(POISON_FREE, obj, obj + poisonSize - 1);
    u8[obj + poisonSize - 1] = POISON_END;
  }
  if (c.flags & SLAB_RED_ZONE) u8.fill(val, obj + poisonSize, obj + c.inuse);
}

/** setup_slab_debug: a new poisoned slab starts all POISON_INUSE. */
export function setupSlabDebug(c: KmemCache, pfn: number, order: number): void {
  if (c.flags & SLAB_POISON) c.host.phys.u8.fill(POISON_INUSE, pfn * PAGE_SIZE, (pfn + (1 << order)) * PAGE_SIZE);
}

/** setup_object_debug: a new object is inactive, with empty tracks. */
export function setupObjectDebug(c: KmemCache, obj: number): void {
  if ((c.flags & (SLAB_STORE_USER | SLAB_RED_ZONE | __OBJECT_POISON)) === 0) return;
  initObject(c, obj, SLUB_RED_INACTIVE);
  if (c.flags & SLAB_STORE_USER) {
    const t = obj + infoEnd(c);
    c.host.phys.u8.fill(0, t, t + 2 * TRACK_SIZE);
  }
}

function setTrack(c: KmemCache, obj: number, which: number, caller: string): void {
  const u32 = c.host.phys.u32;
  const t = (obj + infoEnd(c) + which * TRACK_SIZE) >>> 2;
  u32.fill(0, t, t + TRACK_SIZE / 4);
  u32[t] = c.host.callerId(caller);
  u32[t + 4] = c.host.currentPid;
  u32[t + 6] = c.host.clock();
}

function printTrack(c: KmemCache, obj: number, which: number, label: string, now: number): void {
  const u32 = c.host.phys.u32;
  const t = (obj + infoEnd(c) + which * TRACK_SIZE) >>> 2;
  const id = u32[t] as number;
  if (id === 0) return;
  const when = u32[t + 6] as number;
  c.host.rep.line(`INFO: ${label} in ${c.host.callerLabel(id)} age=${now - when} cpu=${u32[t + 3]} pid=${u32[t + 4]}`);
}

function printTracking(c: KmemCache, obj: number): void {
  if ((c.flags & SLAB_STORE_USER) === 0) return;
  const now = c.host.clock();
  printTrack(c, obj, TRACK_ALLOC, "Allocated", now);
  printTrack(c, obj, TRACK_FREE, "Freed", now);
}

/** print_slab_info: "INFO: Slab 0x<struct page> objects= used= fp= flags=". */
export function printSlabInfo(c: KmemCache, pfn: number): void {
  const mm = c.host.memmap;
  const objects = orderObjects(mm.order(pfn), c.size);
  const flags = `0x${mm.word0(pfn).toString(16)}(${mm.describeFlags(pfn)})`;
  const slab = `0x${formatVa(c.host.memmapKva + pfn * STRUCT_PAGE_SIZE)}`;
  c.host.rep.line(`INFO: Slab ${slab} objects=${objects} used=${slabInuse(mm.w, pfn)} fp=${ptrOf(slabFreelist(mm.w, pfn))} flags=${flags}`);
}

/** print_trailer: tracking, slab, object line and the hex dumps around the object. */
function printTrailer(c: KmemCache, pfn: number, obj: number): void {
  const rep = c.host.rep;
  const base = pfn * PAGE_SIZE;
  printTracking(c, obj);
  printSlabInfo(c, pfn);
  rep.line(`INFO: Object ${ptrOf(obj)} @offset=${obj - base} fp=${ptrOf(c.getFreepointer(obj))}`);
  rep.line("");
  if (c.flags & SLAB_RED_ZONE) rep.hexDump("Redzone  ", obj - c.redLeftPad, c.redLeftPad);
  else if (obj > base + 16) rep.hexDump("Bytes b4 ", obj - 16, 16);
  rep.hexDump("Object   ", obj, Math.min(c.objectSize, PAGE_SIZE));
  if (c.flags & SLAB_RED_ZONE) rep.hexDump("Redzone  ", obj + c.objectSize, c.inuse - c.objectSize);
  let off = infoEnd(c);
  if (c.flags & SLAB_STORE_USER) off += 2 * TRACK_SIZE;
  if (usesOrigSize(c)) off += 4;
  if (off !== sizeFromObject(c)) rep.hexDump("Padding  ", obj + off, sizeFromObject(c) - off);
}

function objectErr(c: KmemCache, kind: string, pfn: number, obj: number, reason: string): void {
  c.host.rep.bug(kind, c.name, reason);
  if (c.isObject(pfn, obj)) {
    printTrailer(c, pfn, obj);
    return;
  }
  printSlabInfo(c, pfn);
  c.host.rep.line(`INFO: Invalid pointer ${ptrOf(obj)}`);
}

/** slab_err: a BUG block about a whole slab, with its info line. */
export function slabErr(c: KmemCache, kind: string, pfn: number, what: string): void {
  c.host.rep.bug(kind, c.name, what);
  printSlabInfo(c, pfn);
}

function kindOf(what: string): string {
  if (what.endsWith("Redzone")) return "slab_redzone";
  if (what.endsWith("Poison")) return "slab_poison";
  return "slab_padding";
}

/**
 * check_bytes_and_report: every byte of [start, start + bytes) must be
 * `value`; otherwise report the damaged range and restore it.
 */
function checkBytes(c: KmemCache, pfn: number, obj: number, what: string, start: number, value: number, bytes: number): boolean {
  const u8 = c.host.phys.u8;
  let fault = start;
  const stop = start + bytes;
  while (fault < stop && u8[fault] === value) fault++;
  if (fault === stop) return true;
  let end = stop;
  while (end > fault && u8[end - 1] === value) end--;
  const first = (u8[fault] as number).toString(16);
  c.host.rep.bug(kindOf(what), c.name, `${what} overwritten`);
  c.host.rep.line(
    `INFO: ${ptrOf(fault)}-${ptrOf(end - 1)} @offset=${fault - pfn * PAGE_SIZE}. First byte 0x${first} instead of 0x${value.toString(16)}`,
  );
  printTrailer(c, pfn, obj);
  c.host.rep.fix(c.name, `Restoring ${what} ${ptrOf(fault)}-${ptrOf(end - 1)}=0x${value.toString(16)}`);
  u8.fill(value, fault, end);
  return false;
}

function checkPadBytes(c: KmemCache, pfn: number, obj: number): boolean {
  let off = infoEnd(c);
  if (c.flags & SLAB_STORE_USER) off += 2 * TRACK_SIZE + (c.flags & SLAB_KMALLOC ? 4 : 0);
  const end = sizeFromObject(c);
  if (end === off) return true;
  return checkBytes(c, pfn, obj, "Object padding", obj + off, POISON_INUSE, end - off);
}

/** check_object: red zones, poison, padding and the free pointer of one object. */
export function checkObject(c: KmemCache, pfn: number, obj: number, val: number): boolean {
  let ok = true;
  if (c.flags & SLAB_RED_ZONE) {
    ok = checkBytes(c, pfn, obj, "Left Redzone", obj - c.redLeftPad, val, c.redLeftPad) && ok;
    ok = checkBytes(c, pfn, obj, "Right Redzone", obj + c.objectSize, val, c.inuse - c.objectSize) && ok;
    if (val === SLUB_RED_ACTIVE && usesOrigSize(c)) {
      const orig = getOrigSize(c, obj);
      if (c.objectSize > orig) ok = checkBytes(c, pfn, obj, "kmalloc Redzone", obj + orig, val, c.objectSize - orig) && ok;
    }
  } else if (c.flags & SLAB_POISON && c.objectSize < c.inuse) {
    ok = checkBytes(c, pfn, obj, "Alignment padding", obj + c.objectSize, POISON_INUSE, c.inuse - c.objectSize) && ok;
  }
  if (c.flags & SLAB_POISON) {
    if (val !== SLUB_RED_ACTIVE && c.flags & __OBJECT_POISON) {
      ok = checkBytes(c, pfn, obj, "Poison", obj, POISON_FREE, c.objectSize - 1) && ok;
      ok = checkBytes(c, pfn, obj, "End Poison", obj + c.objectSize - 1, POISON_END, 1) && ok;
    }
    ok = checkPadBytes(c, pfn, obj) && ok;
  }
  if (c.offset >= c.inuse || val !== SLUB_RED_ACTIVE) {
    const fp = c.getFreepointer(obj);
    if (fp !== 0 && !c.isObject(pfn, fp)) {
      objectErr(c, "slab_freepointer", pfn, obj, "Freepointer corrupt");
      c.setFreepointer(obj, 0);
      ok = false;
    }
  }
  return ok;
}

/** slab_pad_check: the bytes after the last object keep POISON_INUSE. */
function slabPadCheck(c: KmemCache, pfn: number): void {
  if ((c.flags & SLAB_POISON) === 0) return;
  const u8 = c.host.phys.u8;
  const order = c.host.memmap.order(pfn);
  const start = pfn * PAGE_SIZE;
  const end0 = start + (PAGE_SIZE << order);
  const pad = start + orderObjects(order, c.size) * c.size;
  let fault = pad;
  while (fault < end0 && u8[fault] === POISON_INUSE) fault++;
  if (fault === end0) return;
  let end = end0;
  while (end > fault && u8[end - 1] === POISON_INUSE) end--;
  slabErr(c, "slab_padding", pfn, `Padding overwritten. ${ptrOf(fault)}-${ptrOf(end - 1)} @offset=${fault - start}`);
  c.host.rep.hexDump("Padding ", pad, end0 - pad);
  c.host.rep.fix(c.name, `Restoring slab padding ${ptrOf(fault)}-${ptrOf(end - 1)}=0x${POISON_INUSE.toString(16)}`);
  u8.fill(POISON_INUSE, fault, end);
}

/** check_slab: counters in range, slab not disabled, slab padding intact. */
export function checkSlab(c: KmemCache, pfn: number): boolean {
  const w = c.host.memmap.w;
  const objects = orderObjects(c.host.memmap.order(pfn), c.size);
  if (slabInuse(w, pfn) > objects) {
    slabErr(c, "slab_corrupt", pfn, `inuse ${slabInuse(w, pfn)} > max ${objects}`);
    return false;
  }
  if (slabState(w, pfn) === SLAB_DISABLED) {
    slabErr(c, "slab_corrupt", pfn, "Slab disabled since SLUB metadata consistency check failed");
    return false;
  }
  slabPadCheck(c, pfn);
  return true;
}

function trace(c: KmemCache, pfn: number, obj: number, op: "alloc" | "free"): void {
  if ((c.flags & SLAB_TRACE) === 0) return;
  const w = c.host.memmap.w;
  c.host.rep.plain("slab_trace", `TRACE ${c.name} ${op} ${ptrOf(obj)} inuse=${slabInuse(w, pfn)} fp=${ptrOf(slabFreelist(w, pfn))}`);
}

/**
 * alloc_debug_processing for object `obj` just taken from slab `pfn`.
 * Returns false when a consistency check failed (the caller disables the
 * slab, as Linux marks all its objects used).
 */
export function allocDebugProcessing(c: KmemCache, pfn: number, obj: number, origSize: number, caller: string | undefined): boolean {
  if (c.flags & SLAB_CONSISTENCY_CHECKS) {
    let ok = checkSlab(c, pfn);
    if (ok && !c.isObject(pfn, obj)) {
      objectErr(c, "slab_freepointer", pfn, obj, "Freelist Pointer check fails");
      ok = false;
    }
    if (ok) ok = checkObject(c, pfn, obj, SLUB_RED_INACTIVE);
    if (!ok) {
      c.host.rep.fix(c.name, "Marking all objects used");
      c.host.rep.flush();
      return false;
    }
  }
  trace(c, pfn, obj, "alloc");
  setOrigSize(c, obj, origSize);
  initObject(c, obj, SLUB_RED_ACTIVE);
  if (c.flags & SLAB_STORE_USER) setTrack(c, obj, TRACK_ALLOC, caller ?? (c.flags & SLAB_KMALLOC ? "kmalloc" : "kmem_cache_alloc"));
  c.host.rep.flush();
  return true;
}

/**
 * free_debug_processing for live object `obj` of slab `pfn`. Returns false
 * when a check failed: the object is reported and not freed (leaked).
 */
export function freeDebugProcessing(c: KmemCache, pfn: number, obj: number, caller: string | undefined): boolean {
  if (c.flags & SLAB_CONSISTENCY_CHECKS) {
    if (!checkSlab(c, pfn) || !checkObject(c, pfn, obj, SLUB_RED_ACTIVE)) {
      c.host.rep.fix(c.name, `Object at ${ptrOf(obj)} not freed`);
      c.host.rep.flush();
      return false;
    }
  }
  if (c.flags & SLAB_STORE_USER) setTrack(c, obj, TRACK_FREE, caller ?? (c.flags & SLAB_KMALLOC ? "kfree" : "kmem_cache_free"));
  trace(c, pfn, obj, "free");
  initObject(c, obj, SLUB_RED_INACTIVE);
  c.host.rep.flush();
  return true;
}

/** "Invalid object pointer": `pa` is inside slab `pfn` but not an object start. Nothing is freed. */
export function reportInvalidPointer(c: KmemCache, pfn: number, pa: number): void {
  slabErr(c, "slab_invalid_pointer", pfn, `Invalid object pointer ${ptrOf(pa)}`);
  c.host.rep.fix(c.name, `Object at ${ptrOf(pa)} not freed`);
  c.host.rep.flush();
}

/** "Object already free": a double free. Nothing is freed. */
export function reportDoubleFree(c: KmemCache, pfn: number, obj: number): void {
  objectErr(c, "slab_double_free", pfn, obj, "Object already free");
  c.host.rep.fix(c.name, `Object at ${ptrOf(obj)} not freed`);
  c.host.rep.flush();
}

/** A free object's free pointer leads outside its slab: the rest of the freelist is dropped. */
export function reportFreechainCorrupt(c: KmemCache, pfn: number, obj: number): void {
  objectErr(c, "slab_freepointer", pfn, obj, "Freechain corrupt");
  c.host.rep.fix(c.name, "Isolate corrupted freechain");
  c.host.rep.flush();
}

/** cache_from_obj: kmem_cache_free on the wrong cache. Returns the object's real cache. */
export function reportWrongCache(c: KmemCache, ownerId: number, pa: number): KmemCache | undefined {
  const owner = c.host.cacheById(ownerId);
  c.host.rep.plain(
    "slab_wrong_cache",
    `WARNING: kmem_cache_free: Wrong slab cache. ${c.name} but object is from ${owner ? owner.name : "<none>"} (object ${ptrOf(pa)})`,
  );
  return owner;
}

/** slab_out_of_memory: no slab page could be had. */
export function reportSlabOom(c: KmemCache, gfp: number): void {
  let free = 0;
  for (let pfn = c.partial.head; pfn !== 0; pfn = slabNext(c.host.memmap.w, pfn)) {
    free += orderObjects(c.host.memmap.order(pfn), c.size) - slabInuse(c.host.memmap.w, pfn);
  }
  c.host.rep.plain(
    "slab_out_of_memory",
    `SLUB: Unable to allocate memory on node -1, gfp=0x${gfp.toString(16)}(${formatGfp(gfp)})\n` +
      `  cache: ${c.name}, object size: ${c.objectSize}, buffer size: ${c.size}, default order: ${c.order}, min order: ${c.minOrder}\n` +
      `  node 0: slabs: ${c.nrSlabs}, objs: ${c.totalObjects}, free: ${free}`,
  );
}

/** __free_slab with consistency checks: every object of an empty slab is checked as free. */
export function checkOnDiscard(c: KmemCache, pfn: number): void {
  slabPadCheck(c, pfn);
  const first = pfn * PAGE_SIZE + c.redLeftPad;
  const objects = orderObjects(c.host.memmap.order(pfn), c.size);
  for (let k = 0; k < objects; k++) checkObject(c, pfn, first + k * c.size, SLUB_RED_INACTIVE);
  c.host.rep.flush();
}

/** list_slab_objects: what __kmem_cache_shutdown prints for a slab with live objects. */
export function reportObjectsRemaining(c: KmemCache, pfn: number): void {
  const rep = c.host.rep;
  slabErr(c, "slab_objects_remaining", pfn, `Objects remaining in ${c.name} on __kmem_cache_shutdown()`);
  const free = freeSet(c, pfn);
  const first = pfn * PAGE_SIZE + c.redLeftPad;
  const objects = orderObjects(c.host.memmap.order(pfn), c.size);
  for (let k = 0; k < objects; k++) {
    if (free.has(k)) continue;
    const obj = first + k * c.size;
    rep.line(`INFO: Object ${ptrOf(obj)} @offset=${obj - pfn * PAGE_SIZE}`);
    printTracking(c, obj);
  }
  rep.flush();
}

/** Indexes of the objects on slab `pfn`'s freelist (the freelist must be valid). */
export function freeSet(c: KmemCache, pfn: number): Set<number> {
  const set = new Set<number>();
  const first = pfn * PAGE_SIZE + c.redLeftPad;
  const objects = orderObjects(c.host.memmap.order(pfn), c.size);
  let p = slabFreelist(c.host.memmap.w, pfn);
  while (p !== 0 && set.size <= objects && c.isObject(pfn, p)) {
    set.add((p - first) / c.size);
    p = c.getFreepointer(p);
  }
  return set;
}
