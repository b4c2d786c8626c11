/**
 * The physical RAM map: one SVG rect per block. Frames are laid out on a
 * Z-order (Morton) curve inside squares of 2^maxOrder frames, so every buddy
 * block, being aligned to its size, is exactly one rectangle (a square for
 * even orders, twice as wide as high for odd ones).
 *
 *   chunk of 2^maxOrder frames          frame bits: ... y1 x1 y0 x0
 *   +---+---+---+---+                   x = even bits, y = odd bits
 *   | 0 | 1 | 4 | 5 |
 *   | 2 | 3 | 6 | 7 |                   order-1 block {0,1}: 2x1
 *   | 8 | 9 |12 |13 |                   order-2 block {0..3}: 2x2
 *   |10 |11 |14 |15 |
 *   +---+---+---+---+
 */
import { PAGE_SIZE } from "../../../kernel/mm/types.ts";
import { type Block, describeBlock } from "../pageinfo.ts";
import { esc, ownerColour } from "./svg.ts";

/** Where a block is drawn, in cells. */
export interface Cell {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/** De-interleaves the bits of an offset inside a chunk into (x, y). */
function morton(offset: number): { x: number; y: number } {
  let x = 0;
  let y = 0;
  for (let bit = 0; offset > 0; bit++) {
    x |= (offset & 1) << bit;
    y |= ((offset >> 1) & 1) << bit;
    offset >>>= 2;
  }
  return { x, y };
}

/** The grid: chunk size in cells and chunks per row. */
export class RamLayout {
  readonly chunkW: number;
  readonly chunkH: number;
  readonly cols: number;
  readonly rows: number;

  constructor(
    readonly nrPages: number,
    readonly maxOrder: number,
  ) {
    this.chunkW = 1 << Math.ceil(maxOrder / 2);
    this.chunkH = 1 << Math.floor(maxOrder / 2);
    const chunks = Math.ceil(nrPages / (1 << maxOrder));
    this.cols = Math.max(1, Math.ceil(Math.sqrt((chunks * this.chunkH) / this.chunkW)));
    this.rows = Math.ceil(chunks / this.cols);
  }

  /** The rectangle of the aligned block (pfn, order), in cells. */
  cell(pfn: number, order: number): Cell {
    const chunk = Math.floor(pfn / (1 << this.maxOrder));
    const { x, y } = morton(pfn % (1 << this.maxOrder));
    return {
      x: (chunk % this.cols) * this.chunkW + x,
      y: Math.floor(chunk / this.cols) * this.chunkH + y,
      w: 1 << Math.ceil(order / 2),
      h: 1 << Math.floor(order / 2),
    };
  }
}

/** The RAM map as one <svg>: a rect (with a <title> tooltip) per block. */
export function ramMapSvg(blocks: readonly Block[], nrPages: number, maxOrder: number, id: string): string {
  const lay = new RamLayout(nrPages, maxOrder);
  const gridW = lay.cols * lay.chunkW;
  const gridH = lay.rows * lay.chunkH;
  const px = Math.max(1, Math.min(8, Math.floor(720 / gridW)));
  const parts: string[] = [];
  parts.push(
    `<svg id="${id}" class="rammap" width="${gridW * px}" height="${gridH * px}" viewBox="0 0 ${gridW} ${gridH}" shape-rendering="crispEdges">`,
  );
  parts.push(`<rect class="bg" x="0" y="0" width="${gridW}" height="${gridH}" fill="#222"/>`);
  const inset = px >= 3 ? 0.12 : 0;
  for (const b of blocks) {
    const c = lay.cell(b.pfn, b.order);
    const fill = ownerColour(b.owner, b.order, maxOrder, b.detail);
    const tip = `${describeBlock(b)}; P0x${(b.pfn * PAGE_SIZE).toString(16)}`;
    parts.push(
      `<rect class="blk" data-owner="${b.owner}" x="${c.x + inset}" y="${c.y + inset}" width="${c.w - 2 * inset}" height="${c.h - 2 * inset}" fill="${fill}"><title>${esc(tip)}</title></rect>`,
    );
  }
  parts.push("</svg>");
  return parts.join("\n");
}

/** The chunk (2^maxOrder frames) holding the most blocks: where the allocations are. */
export function busiestChunk(blocks: readonly Block[], maxOrder: number): number {
  const counts = new Map<number, number>();
  for (const b of blocks) {
    const c = Math.floor(b.pfn / (1 << maxOrder));
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let best = 0;
  for (const [c, n] of counts) if (n > (counts.get(best) ?? 0) || (n === counts.get(best) && c < best)) best = c;
  return best;
}

/** One chunk of the map drawn large: a rect per block inside it, with the same tooltips. */
export function chunkZoomSvg(blocks: readonly Block[], chunk: number, maxOrder: number, id: string): string {
  const lay = new RamLayout(1 << maxOrder, maxOrder);
  const first = chunk * (1 << maxOrder);
  const inside = blocks.filter((b) => b.pfn >= first && b.pfn < first + (1 << maxOrder));
  const px = Math.max(4, Math.floor(560 / lay.chunkW));
  const parts = [
    `<svg id="${id}" class="rammap" width="${lay.chunkW * px}" height="${lay.chunkH * px}" viewBox="0 0 ${lay.chunkW} ${lay.chunkH}" shape-rendering="crispEdges">`,
  ];
  parts.push(`<rect class="bg" x="0" y="0" width="${lay.chunkW}" height="${lay.chunkH}" fill="#222"/>`);
  for (const b of inside) {
    const c = lay.cell(b.pfn - first, b.order);
    const tip = `${describeBlock(b)}; P0x${(b.pfn * PAGE_SIZE).toString(16)}`;
    parts.push(
      `<rect class="blk" data-owner="${b.owner}" x="${c.x + 0.06}" y="${c.y + 0.06}" width="${c.w - 0.12}" height="${c.h - 0.12}" fill="${ownerColour(b.owner, b.order, maxOrder, b.detail)}"><title>${esc(tip)}</title></rect>`,
    );
  }
  parts.push("</svg>");
  return parts.join("\n");
}
