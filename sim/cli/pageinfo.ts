/**
 * Physical memory as blocks: walks the struct page array through the
 * kernel's memmap accessors and names each buddy block or allocation with its
 * owner (free by order, per-CPU, reserved, kernel, slab, page table, user
 * anonymous, vmalloc). The RAM map of `memsim report` and the shell's `page`
 * command read memory only through here.
 *
 * Layers that keep their own identity in a page (a slab cache name, a
 * process) add a describer to OWNER_DESCRIBERS.
 */
import { PG_alloc, PG_anon, PG_buddy, PG_pcp, PG_pgtable, PG_reserved, PG_slab, PG_vmalloc } from "../../kernel/mm/memmap.ts";
import { KMALLOC_LARGE_ID } from "../../kernel/mm/slab_page.ts";
import { PAGE_SIZE } from "../../kernel/mm/types.ts";
import type { Machine } from "../machine.ts";

/** Who holds a block. */
export type Owner = "reserved" | "free" | "pcp" | "kernel" | "slab" | "pgtable" | "anon" | "vmalloc" | "unknown";

/** A run of frames with one owner: a buddy block, an allocation, or an aligned piece of a reserved range. */
export interface Block {
  readonly pfn: number;
  readonly order: number;
  readonly owner: Owner;
  /** More about the owner ("kernel image", "kmalloc-64", "pid 3"); "" when there is nothing more. */
  readonly detail: string;
  readonly zone: string;
}

/** Adds detail to an allocated block (a layer's own bookkeeping); returns "" when it has none. */
export type OwnerDescriber = (m: Machine, pfn: number, owner: Owner) => string;

const TABLE_LEVEL_NAMES = ["", "PTE table", "PMD table", "PUD table", "PGD"];

/** A slab page's cache ("kmalloc-64"), or "kmalloc-large"; a page table's level; a user page's mappings. */
function layerDetail(m: Machine, pfn: number, owner: Owner): string {
  const mm = m.kernel.memmap;
  if (owner === "slab") {
    const id = mm.ownerBits(pfn);
    return id === KMALLOC_LARGE_ID ? "kmalloc-large" : (m.kernel.slab.cacheById(id)?.name ?? `cache ${id}`);
  }
  if (owner === "pgtable") return TABLE_LEVEL_NAMES[mm.ownerBits(pfn)] ?? "page table";
  if (owner === "anon") return `mapped ${mm.mapcount(pfn)}x, refcount ${mm.refcount(pfn)}`;
  return "";
}

/** Describers layers register; the first non-empty answer wins. */
export const OWNER_DESCRIBERS: OwnerDescriber[] = [layerDetail];

/** The owner a head page's flags say. */
export function ownerOf(flags: number): Owner {
  if (flags & PG_pgtable) return "pgtable";
  if (flags & PG_reserved) return "reserved";
  if (flags & PG_buddy) return "free";
  if (flags & PG_pcp) return "pcp";
  if (flags & PG_slab) return "slab";
  if (flags & PG_vmalloc) return "vmalloc";
  if (flags & PG_anon) return "anon";
  if (flags & PG_alloc) return "kernel";
  return "unknown";
}

function reservedDetail(m: Machine, pfn: number): string {
  const l = m.kernel.layout;
  if (pfn < l.kernelStart) return "firmware, frame 0";
  if (pfn < l.kernelStart + l.kernelPages) return "kernel image";
  if (pfn < l.memmapStart + l.memmapPages) return "mem_map (struct page array)";
  return "reserved";
}

function detailOf(m: Machine, pfn: number, owner: Owner): string {
  if (owner === "reserved") return reservedDetail(m, pfn);
  for (const d of OWNER_DESCRIBERS) {
    const s = d(m, pfn, owner);
    if (s) return s;
  }
  return "";
}

/** The largest order of an aligned block starting at pfn that ends by `end`. */
function alignedOrder(pfn: number, end: number, maxOrder: number): number {
  let order = maxOrder;
  while (order > 0 && ((pfn & ((1 << order) - 1)) !== 0 || pfn + (1 << order) > end)) order--;
  return order;
}

/** Every block of RAM in address order. Reserved runs are cut into aligned power-of-two pieces. */
export function ramBlocks(m: Machine): Block[] {
  const mm = m.kernel.memmap;
  const buddy = m.kernel.buddy;
  const out: Block[] = [];
  let pfn = 0;
  while (pfn < mm.nrPages) {
    const flags = mm.flags(pfn);
    const owner = ownerOf(flags);
    const zone = buddy.zoneOf(pfn).name;
    let order = owner === "unknown" || owner === "reserved" ? 0 : mm.order(pfn);
    if (owner === "reserved") {
      let end = pfn + 1;
      const detail = reservedDetail(m, pfn);
      while (end < mm.nrPages && ownerOf(mm.flags(end)) === "reserved" && reservedDetail(m, end) === detail) end++;
      order = alignedOrder(pfn, end, buddy.maxOrder);
    }
    out.push({ pfn, order, owner, detail: detailOf(m, pfn, owner), zone });
    pfn += 1 << order;
  }
  return out;
}

/** The block holding pfn; null when pfn is outside RAM. */
export function blockAt(m: Machine, pfn: number): Block | null {
  if (!(Number.isInteger(pfn) && pfn >= 0 && pfn < m.kernel.memmap.nrPages)) return null;
  const mm = m.kernel.memmap;
  for (let order = 0; order <= m.kernel.buddy.maxOrder; order++) {
    const head = pfn & ~((1 << order) - 1);
    const flags = mm.flags(head);
    const owner = ownerOf(flags);
    if (owner === "reserved" && head === pfn)
      return { pfn, order: 0, owner, detail: reservedDetail(m, pfn), zone: m.kernel.buddy.zoneOf(pfn).name };
    if (owner !== "unknown" && owner !== "reserved" && mm.order(head) >= order && head + (1 << mm.order(head)) > pfn) {
      return { pfn: head, order: mm.order(head), owner, detail: detailOf(m, head, owner), zone: m.kernel.buddy.zoneOf(head).name };
    }
  }
  return { pfn, order: 0, owner: "unknown", detail: "", zone: m.kernel.buddy.zoneOf(pfn).name };
}

/** "0x1a0" */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** One line about a block: "pfn 0x1a0-0x1a3 order 2 (16 KiB) kernel, zone Normal". */
export function describeBlock(b: Block): string {
  const last = b.pfn + (1 << b.order) - 1;
  const span = b.order === 0 ? `pfn ${hex(b.pfn)}` : `pfn ${hex(b.pfn)}-${hex(last)}`;
  const what = b.owner === "free" ? `free block` : b.owner === "pcp" ? "free on a per-CPU list" : b.owner;
  const kib = ((1 << b.order) * PAGE_SIZE) / 1024;
  return `${span} order ${b.order} (${kib} KiB) ${what}${b.detail ? ` (${b.detail})` : ""}, zone ${b.zone}`;
}
