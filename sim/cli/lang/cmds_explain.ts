/**
 * `explain ADDR`: what an address is. A user address is explained in the
 * process last used (its VMA and its page-table walk); a kernel address in
 * the kernel's page table, and a direct-map address down to the block that
 * holds its frame. Layers that give addresses a meaning (vmalloc) add an
 * explainer; every explainer that knows the address adds its lines.
 */

import { formatVa, PAGE_OFFSET, PAGE_SIZE, TASK_SIZE, VMALLOC_END, VMALLOC_START } from "../../../kernel/mm/types.ts";
import type { Process } from "../../../kernel/process.ts";
import type { Machine } from "../../machine.ts";
import { blockAt, describeBlock, hex } from "../pageinfo.ts";
import { currentProcess, type ProcSubject, va as vaText } from "./cmds_process.ts";
import { addSubjectCommands, LANG_COMMANDS, LangError } from "./registry.ts";

/** Explains an address, or returns null when it is not this explainer's kind. */
export type Explainer = (m: Machine, p: Process | null, va: number) => string | null;

/** The direct map: kernel address -> physical address -> frame and its block. */
function explainDirectMap(m: Machine, _p: Process | null, va: number): string | null {
  const bytes = m.kernel.phys.bytes;
  if (!(va >= PAGE_OFFSET && va < PAGE_OFFSET + bytes)) return null;
  const pa = va - PAGE_OFFSET;
  const pfn = Math.floor(pa / PAGE_SIZE);
  const b = blockAt(m, pfn);
  return [
    `${vaText(va)}: direct map (PAGE_OFFSET + ${hex(pa)}), physical address P${hex(pa)}, pfn ${hex(pfn)}`,
    `  ${b ? describeBlock(b) : "outside RAM"}`,
  ].join("\n");
}

/** A user address: the VMA that holds it (a maps line) and the frame's block when mapped. */
function explainUser(m: Machine, p: Process | null, va: number): string | null {
  if (va >= TASK_SIZE || p === null) return null;
  const line = p.proc
    .maps()
    .split("\n")
    .find((l) => {
      const r = /^([0-9a-f]+)-([0-9a-f]+) /.exec(l);
      return r !== null && Number.parseInt(r[1] as string, 16) <= va && va < Number.parseInt(r[2] as string, 16);
    });
  const out = [
    `${vaText(va)} in pid ${p.pid} (${p.comm}): ${line ? `VMA ${line.replace(/\s+$/, "")}` : "no VMA (an access is SIGSEGV, SEGV_MAPERR)"}`,
  ];
  const walk = p.mm.pt.explain(va);
  out.push(walk.replace(/\n$/, ""));
  const pfn = /frame pfn 0x([0-9a-f]+)/.exec(walk);
  if (pfn) {
    const b = blockAt(m, Number.parseInt(pfn[1] as string, 16));
    if (b) out.push(`  frame: ${describeBlock(b)}`);
  }
  return out.join("\n");
}

/** A vmalloc address: its area in /proc/vmallocinfo, and the frame behind it. */
function explainVmalloc(m: Machine, _p: Process | null, va: number): string | null {
  if (!(va >= VMALLOC_START && va < VMALLOC_END)) return null;
  const area = m.kernel.vmallocLayer.areas().find((x) => x.start <= va && va < x.end);
  if (!area) return `${vaText(va)}: vmalloc space, in no area (an access is a kernel oops)`;
  const pfn = m.kernel.vmallocToPfn(va);
  const b = pfn === null ? null : blockAt(m, pfn);
  const guard = pfn === null && va >= area.end - PAGE_SIZE ? " (the guard page)" : "";
  return [
    `${vaText(va)}: vmalloc area ${vaText(area.start)}-${vaText(area.end)} (${area.end - area.start} bytes with its guard page), from ${area.caller}, offset ${hex(va - area.start)}${guard}`,
    `  ${b ? `frame: ${describeBlock(b)}` : "no frame mapped here"}`,
  ].join("\n");
}

/** A kernel address: its walk in the kernel page table (init_mm). */
function explainKernelWalk(m: Machine, _p: Process | null, va: number): string | null {
  if (va < TASK_SIZE) return null;
  return m.kernel.initMm.explain(va).replace(/\n$/, "");
}

/** Explainers, asked in order; each that knows the address adds its lines. */
export const EXPLAINERS: Explainer[] = [explainUser, explainDirectMap, explainVmalloc, explainKernelWalk];

function explain(m: Machine, p: Process | null, va: number): string {
  const parts = EXPLAINERS.map((e) => e(m, p, va)).filter((t): t is string => t !== null);
  if (parts.length === 0) {
    const why = va < TASK_SIZE ? "a user address, and no process to look in (spawn one first)" : "a kernel address";
    throw new LangError(`explain: nothing maps 0x${formatVa(va)} (${why})`);
  }
  return parts.join("\n");
}

LANG_COMMANDS.push({
  name: "explain",
  synopsis: "ADDR",
  help: "what an address is: VMA, page-table walk, frame and owner (user addresses: the process last used)",
  run(s, a) {
    const v = a.addr(0, "ADDR");
    a.done(1);
    return explain(s.m, currentProcess(s), v);
  },
});

addSubjectCommands<ProcSubject>("process", [
  {
    name: "explain",
    synopsis: "ADDR",
    help: "what an address is in this process",
    run(subj, a, s) {
      const v = a.addr(0, "ADDR");
      a.done(1);
      return explain(s.m, subj.p, v);
    },
  },
]);
