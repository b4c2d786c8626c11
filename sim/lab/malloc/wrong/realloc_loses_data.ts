/**
 * Wrong (malloc lab): realloc hands out a new block when the old one is too
 * small but forgets to copy the payload into it (the old bytes are lost).
 */
import { mm_free, mm_malloc } from "../solution.ts";

// mm_init, mm_malloc and mm_free are right: the mistake is in mm_realloc.
export { mm_free, mm_init, mm_malloc } from "../solution.ts";

export function mm_realloc(ptr: number, size: number): number {
  if (ptr === 0) return mm_malloc(size);
  if (size === 0) {
    mm_free(ptr);
    return 0;
  }
  const q = mm_malloc(size);
  if (q === 0) return 0;
  // The mistake: no copy of the old payload into q.
  mm_free(ptr);
  return q;
}
