/**
 * Linux's two measures of external fragmentation in the buddy allocator, as
 * debugfs shows them (extfrag/unusable_index and extfrag/extfrag_index), one
 * line per zone, one column per order.
 *
 * For an order j, with F free pages in the zone, B free blocks of any order,
 * and S the blocks of order j that the free blocks of order >= j could make:
 *
 *   unusable free space index  (F - S * 2^j) / F      the share of free memory
 *                                                      that cannot serve order j
 *                                                      (1 when nothing is free)
 *   fragmentation index         1 - (1 + F / 2^j) / B  only when S = 0: near 0, the
 *                                                      request fails for want of
 *                                                      memory; near 1, because the
 *                                                      free memory is in pieces.
 *                                                      -1 when S > 0 (it would succeed),
 *                                                      0 with no free block at all.
 *
 * Both are computed in thousandths with integer division, as Linux does, and
 * printed with three decimals ("%d.%03d" and "%2d.%03d").
 */

/** The zone view the measures need: the free-block count per order (as /proc/buddyinfo). */
export interface FragZone {
  readonly name: string;
  /** The zone's node (0 when absent). */
  readonly nid?: number;
  readonly nrFree: ArrayLike<number>;
}

/** What the measures read: the zones and the largest order. */
export interface FragSource {
  readonly zones: readonly FragZone[];
  readonly maxOrder: number;
}

/** Linux's contig_page_info for one zone and one order. */
export interface ContigInfo {
  /** Free pages in the zone. */
  readonly freePages: number;
  /** Free blocks of every order. */
  readonly blocksTotal: number;
  /** Blocks of the requested order the free blocks of that order or above make. */
  readonly blocksSuitable: number;
}

/** Counts free pages, free blocks and the blocks that suit `order` from per-order free counts. */
export function contigInfo(nrFree: ArrayLike<number>, order: number): ContigInfo {
  let freePages = 0;
  let blocksTotal = 0;
  let blocksSuitable = 0;
  for (let o = 0; o < nrFree.length; o++) {
    const blocks = nrFree[o] as number;
    blocksTotal += blocks;
    freePages += blocks * 2 ** o;
    if (o >= order) blocksSuitable += blocks * 2 ** (o - order);
  }
  return { freePages, blocksTotal, blocksSuitable };
}

/** The unusable free space index of `order`, in thousandths (0..1000); 1000 when nothing is free. */
export function unusableFreeIndex(order: number, info: ContigInfo): number {
  if (info.freePages === 0) return 1000;
  return Math.floor(((info.freePages - info.blocksSuitable * 2 ** order) * 1000) / info.freePages);
}

/**
 * The fragmentation index of `order`, in thousandths: -1000 when a block of
 * that order is free, 0 when no block is, else 0..1000 (Linux's
 * __fragmentation_index).
 */
export function fragmentationIndex(order: number, info: ContigInfo): number {
  if (info.blocksTotal === 0) return 0;
  if (info.blocksSuitable > 0) return -1000;
  const requested = 2 ** order;
  return 1000 - Math.floor((1000 + Math.floor((info.freePages * 1000) / requested)) / info.blocksTotal);
}

/**
 * Thousandths as C's "%Nd.%03d" prints index / 1000 and index % 1000: both
 * truncate toward zero, so a small negative index such as -500 (a few free
 * blocks just below the order) prints as " 0.-500", exactly as Linux does.
 */
function thousandths(index: number, width: number): string {
  const whole = Math.trunc(index / 1000);
  const frac = index % 1000;
  const fracText = frac < 0 ? `-${String(-frac).padStart(2, "0")}` : String(frac).padStart(3, "0");
  return `${String(whole).padStart(width)}.${fracText}`;
}

function render(src: FragSource, cell: (order: number, info: ContigInfo) => string): string {
  let out = "";
  for (const z of src.zones) {
    out += `Node ${z.nid ?? 0}, zone ${z.name.padStart(8)} `;
    for (let o = 0; o <= src.maxOrder; o++) out += `${cell(o, contigInfo(z.nrFree, o))} `;
    out += "\n";
  }
  return out;
}

/** debugfs extfrag/unusable_index: the unusable free space index per zone and order. */
export function renderUnusableIndex(src: FragSource): string {
  return render(src, (o, info) => thousandths(unusableFreeIndex(o, info), 1));
}

/** debugfs extfrag/extfrag_index: the fragmentation index per zone and order. */
export function renderExtfragIndex(src: FragSource): string {
  return render(src, (o, info) => thousandths(fragmentationIndex(o, info), 2));
}
