/**
 * The `frames` checker over any frames layer behind FramePages (frame_pages.ts).
 */
import { invariant } from "../panic.ts";
import type { FramePages } from "./frame_pages.ts";
import { PG_alloc, PG_tail } from "./memmap.ts";

/**
 * The `frames` checker: runs the layer's own checker, then recounts the
 * frames struct page says are allocated and compares them with the layer's
 * counts. IDs:
 *   FRAMES-1 allocated + free + per-CPU != managed (the layer lost or invented frames)
 *   FRAMES-2 the layer's own checker failed
 * Throws InvariantViolation naming the layer.
 */
export function checkFrames(f: FramePages): void {
  try {
    f.layer.check();
  } catch (e) {
    invariant(false, "FRAMES-2", `frames layer '${f.name}': its checker failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  const mm = f.memmap;
  let allocated = 0;
  for (let pfn = 0; pfn < mm.nrPages; ) {
    const word0 = mm.word0(pfn);
    if ((word0 & PG_alloc) === 0) {
      if (word0 & PG_tail) invariant(false, "FRAMES-1", `frames layer '${f.name}': pfn 0x${pfn.toString(16)} is a tail with no head`);
      pfn++;
      continue;
    }
    allocated += 1 << mm.order(pfn);
    pfn += 1 << mm.order(pfn);
  }
  const free = f.nrFreePages();
  const pcp = f.nrPcpPages();
  const managed = f.nrManagedPages();
  const lost = managed - allocated - free - pcp;
  const counts = `${managed} managed, ${allocated} allocated, ${free} free${pcp > 0 ? `, ${pcp} per-CPU` : ""}`;
  invariant(
    lost === 0,
    "FRAMES-1",
    lost > 0
      ? `frames layer '${f.name}': ${lost} frame(s) neither allocated nor free (${counts}): the layer lost them`
      : `frames layer '${f.name}': ${-lost} frame(s) counted both free and allocated (${counts})`,
  );
}
