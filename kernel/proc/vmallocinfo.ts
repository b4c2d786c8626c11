/**
 * /proc/vmallocinfo (Linux mm/vmalloc.c s_show): one line per area in
 * address order: "0x<start>-0x<end> <size>", the caller, " pages=<n>" when
 * vmalloc allocated pages for it, then the kind (" vmalloc", " vmap").
 * Sizes include the guard page; addresses are 16 hex digits.
 */

/** One area as the renderer needs it. */
export interface VmallocInfoArea {
  readonly start: number;
  readonly end: number;
  readonly caller: string;
  readonly nrPages: number;
  readonly flags: number;
}

import { formatVa } from "../mm/types.ts";
import { VM_ALLOC, VM_IOREMAP, VM_MAP, VM_USERMAP } from "../mm/vmap_area.ts";

/** Renders the file from the areas, lowest address first. */
export function renderVmallocinfo(areas: readonly VmallocInfoArea[]): string {
  let out = "";
  for (const a of areas) {
    let line = `0x${formatVa(a.start)}-0x${formatVa(a.end)} ${String(a.end - a.start).padStart(7)} ${a.caller}`;
    if (a.nrPages) line += ` pages=${a.nrPages}`;
    if (a.flags & VM_IOREMAP) line += " ioremap";
    if (a.flags & VM_ALLOC) line += " vmalloc";
    if (a.flags & VM_MAP) line += " vmap";
    if (a.flags & VM_USERMAP) line += " user";
    out += `${line}\n`;
  }
  return out;
}
