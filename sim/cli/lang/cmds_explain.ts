/**
 * `explain ADDR`: what an address is. Each layer that gives addresses a
 * meaning adds an explainer (the direct map here; vmalloc areas and user
 * mappings when their layers land); the first that knows the address answers.
 */
import { formatVa, PAGE_OFFSET, PAGE_SIZE, TASK_SIZE } from "../../../kernel/mm/types.ts";
import type { Machine } from "../../machine.ts";
import { blockAt, describeBlock, hex } from "../pageinfo.ts";
import { LANG_COMMANDS, LangError } from "./registry.ts";

/** Explains an address, or returns null when it is not this explainer's kind. */
export type Explainer = (m: Machine, va: number) => string | null;

/** The direct map: kernel address -> physical address -> frame and its block. */
function explainDirectMap(m: Machine, va: number): string | null {
  const bytes = m.kernel.phys.bytes;
  if (!(va >= PAGE_OFFSET && va < PAGE_OFFSET + bytes)) return null;
  const pa = va - PAGE_OFFSET;
  const pfn = Math.floor(pa / PAGE_SIZE);
  const b = blockAt(m, pfn);
  return [
    `0x${formatVa(va)}: direct map (PAGE_OFFSET + ${hex(pa)})`,
    `  physical address P${hex(pa)}, pfn ${hex(pfn)}, offset ${hex(pa % PAGE_SIZE)} in the page`,
    `  ${b ? describeBlock(b) : "outside RAM"}`,
  ].join("\n");
}

/** Explainers, asked in order. */
export const EXPLAINERS: Explainer[] = [explainDirectMap];

LANG_COMMANDS.push({
  name: "explain",
  synopsis: "ADDR",
  help: "what a virtual address is: its mapping, frame and owner",
  run(s, a) {
    const va = a.addr(0, "ADDR");
    a.done(1);
    for (const e of EXPLAINERS) {
      const text = e(s.m, va);
      if (text !== null) return text;
    }
    const half = va >= TASK_SIZE ? "kernel" : "user";
    throw new LangError(`explain: nothing maps 0x${formatVa(va)} (a ${half} address)`);
  },
});
