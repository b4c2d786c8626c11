/**
 * The checker of the Mesh allocator's span records (mesh.ts, mesh_span.ts).
 */
import { HeapCorruption } from "./allocator.ts";
import { PAGE_SIZE } from "./heap.ts";
import { MESH_CLASSES, NONE, type SpanRecords } from "./mesh_span.ts";

/**
 * Recounts the span records: every used slot maps a live physical span and
 * sits on its alias list; every physical span's bitmap counts its live
 * objects, it is on its class's partial list exactly when not full, and
 * its own slot maps it; free indices are unused. Returns the granted bytes.
 * Throws HeapCorruption (MESH-1..7).
 */
export function checkSpans(rec: SpanRecords, hw: number, phys: number, head: (c: number) => number, freeHead: number): number {
  let granted = 0;
  let spans = 0;
  let used = 0;
  for (let i = 0; i < hw; i++) {
    const p = rec.phys(i);
    if (p !== NONE) {
      used++;
      if (rec.cls(p) < 0) throw new HeapCorruption("MESH-1", `slot ${i} maps page ${p}, which holds no span`);
      let s = rec.aliasHead(p);
      for (let n = 0; s !== NONE && s !== i && n <= hw; n++) s = rec.nextAlias(s);
      if (s !== i) throw new HeapCorruption("MESH-2", `slot ${i} maps page ${p} but is not on its alias list`);
    }
    const k = rec.cls(i);
    if (k < 0) continue;
    spans++;
    const cap = Math.floor(PAGE_SIZE / (MESH_CLASSES[k] as number));
    if (rec.phys(i) !== i) throw new HeapCorruption("MESH-3", `span ${i}'s own slot does not map it`);
    if (rec.popcount(i) !== rec.live(i) || rec.live(i) === 0 || rec.beyond(i, cap))
      throw new HeapCorruption("MESH-4", `span ${i} counts ${rec.live(i)} objects, its bitmap ${rec.popcount(i)} (capacity ${cap})`);
    granted += rec.live(i) * (MESH_CLASSES[k] as number);
  }
  if (spans !== phys) throw new HeapCorruption("MESH-5", `the root counts ${phys} spans, the records ${spans}`);
  let partial = 0;
  for (let k = 0; k < MESH_CLASSES.length; k++) {
    const cap = Math.floor(PAGE_SIZE / (MESH_CLASSES[k] as number));
    for (let i = head(k); i !== NONE; i = rec.next(i)) {
      if (rec.cls(i) !== k || rec.live(i) >= cap || ++partial > spans)
        throw new HeapCorruption("MESH-6", `span ${i} is on class ${k}'s partial list wrongly`);
    }
  }
  let free = 0;
  for (let i = freeHead; i !== NONE; i = rec.next(i)) {
    if (rec.phys(i) !== NONE || rec.cls(i) >= 0 || ++free > hw) throw new HeapCorruption("MESH-7", `free index ${i} is in use`);
  }
  if (free + used !== hw) throw new HeapCorruption("MESH-7", `${free} free and ${used} used indices of ${hw}`);
  let notFull = 0;
  for (let i = 0; i < hw; i++) if (rec.cls(i) >= 0 && rec.live(i) < Math.floor(PAGE_SIZE / (MESH_CLASSES[rec.cls(i)] as number))) notFull++;
  if (notFull !== partial) throw new HeapCorruption("MESH-6", `${notFull} spans are partly full, the lists hold ${partial}`);
  return granted;
}
