/**
 * Language commands about the whole machine: boot, the page allocator
 * (alloc_pages, free_pages, drain, page, held), fault injection, the views,
 * stats, checkers and kernel reports.
 */
import type { FailSpec } from "../../../kernel/mm/fault_inject.ts";
import * as GFP from "../../../kernel/mm/gfp.ts";
import { PAGE_SIZE } from "../../../kernel/mm/types.ts";
import { Machine } from "../../machine.ts";
import { formatSize } from "../../units.ts";
import { blockAt, describeBlock, hex } from "../pageinfo.ts";
import { VIEWS } from "../views.ts";
import { LANG_COMMANDS, type LangArgs, type LangCommand, LangError, type LangResult, SUBJECT_COMMANDS } from "./registry.ts";
import type { Session } from "./session.ts";

const GFP_NAMES: ReadonlyMap<string, number> = new Map(
  Object.entries(GFP).filter((e): e is [string, number] => typeof e[1] === "number" && /^_*GFP_/.test(e[0])),
);

/** Parses "GFP_KERNEL|__GFP_ZERO" or a number. */
function parseGfp(cmd: string, text: string): number {
  let mask = 0;
  for (const part of text.split("|")) {
    const v =
      GFP_NAMES.get(part) ?? (/^(0x)?[0-9a-fA-F]+$/.test(part) ? Number.parseInt(part, part.startsWith("0x") ? 16 : 10) : undefined);
    if (v === undefined) throw new LangError(`${cmd}: unknown gfp flag '${part}' (e.g. GFP_KERNEL, GFP_ATOMIC, __GFP_ZERO)`);
    mask |= v;
  }
  return mask;
}

function boot(s: Session, a: LangArgs): string {
  const ramBytes = a.optSize("ram", s.defaults.ramBytes);
  const seed = a.optInt("seed", s.defaults.seed);
  const debugVm = a.optInt("debug", 1);
  const maxOrder = a.optInt("maxorder", 10);
  const pcpBatch = a.optInt("pcp", 0, -1);
  const swapBytes = a.optSize("swap", 0);
  const mmu = a.optStr("mmu") ?? "x86-64";
  a.done(0);
  if (mmu !== "x86-64" && mmu !== "sv39" && mmu !== "x86-32") throw new LangError(`boot: mmu must be x86-64, sv39 or x86-32, got '${mmu}'`);
  const m = Machine.boot({ ramBytes, seed, debugVm, maxOrder, pcpBatch, swapBytes, mmu, log: s.defaults.log });
  s.reboot(m);
  const b = m.kernel.buddy;
  const geometry = mmu === "x86-64" ? "" : ` mmu=${mmu}`;
  return `booted: ram=${formatSize(ramBytes)} seed=${seed}${geometry} pages=${m.kernel.phys.nrPages} managed=${b.nrManagedPages()} free=${b.nrFreePages()}`;
}

function allocPages(s: Session, a: LangArgs): LangResult {
  const order = a.int(0, "ORDER", 0, 15);
  const gfpText = a.optStr("gfp");
  a.done(1);
  const gfp = gfpText === undefined ? GFP.GFP_KERNEL : parseGfp("alloc_pages", gfpText);
  const pfn = s.m.kernel.allocPages(order, gfp);
  if (pfn === null) return { text: `alloc_pages: order ${order} failed (${GFP.formatGfp(gfp)})` };
  s.held.set(pfn, order);
  const pa = pfn * PAGE_SIZE;
  return { text: `pfn ${hex(pfn)} order ${order} P${hex(pa)}-P${hex(pa + (PAGE_SIZE << order) - 1)}`, value: pfn };
}

function freePages(s: Session, a: LangArgs): string {
  const pfn = a.int(0, "PFN");
  const known = s.held.get(pfn);
  const order = a.pos.length > 1 ? a.int(1, "ORDER", 0, 15) : known;
  if (order === undefined) throw new LangError(`free_pages: give the ORDER of pfn ${hex(pfn)} (it was not allocated here)`);
  a.done(2);
  s.m.kernel.freePages(pfn, order);
  s.held.delete(pfn);
  return `freed pfn ${hex(pfn)} order ${order}`;
}

function drain(s: Session, a: LangArgs): string {
  a.done(0);
  const before = s.m.kernel.buddy.nrPcpPages();
  s.m.kernel.drainPcp();
  return `drained ${before} per-CPU pages to the buddy lists`;
}

/** compact_memory: every zone compacted; prints what the compact_* counters and pgmigrate_success gained. */
function compact(s: Session, a: LangArgs): string {
  a.done(0);
  const k = s.m.kernel;
  const c = k.compaction.stats;
  const moved = k.taskParts.migrate.stats.pgmigrateSuccess;
  const [mig, free] = [c.compactMigrateScanned, c.compactFreeScanned];
  k.compactMemory();
  return `compacted: ${k.taskParts.migrate.stats.pgmigrateSuccess - moved} pages migrated, ${c.compactMigrateScanned - mig} scanned by the migrate scanner, ${c.compactFreeScanned - free} by the free scanner`;
}

function fail(s: Session, a: LangArgs): string {
  const point = a.word(0, "POINT (page_alloc, slab, swap_alloc, swap_io or off)");
  const nth = a.optStr("nth");
  const prob = a.optStr("probability");
  const times = a.optInt("times", nth === undefined ? -1 : 1, -1);
  const minOrder = a.optInt("order", 0, 0, 15);
  a.done(1);
  if (point === "off") {
    s.m.faults.clear();
    return "fault injection off";
  }
  const setters = FAIL_POINTS.get(point);
  if (setters === undefined) throw new LangError(`fail: unknown point '${point}' (page_alloc, slab, swap_alloc, swap_io or off)`);
  if ((nth === undefined) === (prob === undefined)) throw new LangError("fail: give exactly one of nth=N or probability=P");
  const p = prob === undefined ? Number.NaN : Number(prob);
  const spec = nth !== undefined ? { nth: a.optInt("nth", 1, 1), times, minOrder } : { probability: p, times, minOrder };
  setters[1](s.m, spec);
  const what = nth !== undefined ? `${setters[2]} number ${nth} from now fails` : `each ${setters[2]} fails with probability ${prob}`;
  return `${setters[0]}: ${what}${times === 1 || times === -1 ? "" : ` (${times} times)`}`;
}

/** Injection points by language name: the kernel's name for it, the setter, what one call is. */
const FAIL_POINTS: ReadonlyMap<string, readonly [string, (m: Machine, spec: FailSpec) => void, string]> = new Map([
  ["page_alloc", ["fail_page_alloc", (m, spec) => m.faults.failPageAlloc(spec), "allocation"]],
  ["slab", ["failslab", (m, spec) => m.faults.failSlab(spec), "allocation"]],
  ["swap_alloc", ["fail_swap_alloc", (m, spec) => m.faults.failSwapAlloc(spec), "swap slot allocation"]],
  ["swap_io", ["fail_swap_io", (m, spec) => m.faults.failSwapIo(spec), "swap read or write"]],
]);

function page(s: Session, a: LangArgs): string {
  const pfn = a.int(0, "PFN");
  a.done(1);
  const b = blockAt(s.m, pfn);
  if (!b) throw new LangError(`page: pfn ${hex(pfn)} is outside RAM (${s.m.kernel.phys.nrPages} pages)`);
  const mm = s.m.kernel.memmap;
  const rec = `flags=${mm.describeFlags(b.pfn)} refcount=${mm.refcount(b.pfn)} mapcount=${mm.mapcount(b.pfn)}`;
  return `pfn ${hex(pfn)} is in ${describeBlock(b)}; head ${rec}`;
}

function held(s: Session, a: LangArgs): string {
  a.done(0);
  if (s.held.size === 0) return "no blocks held";
  return [...s.held].map(([pfn, order]) => `pfn ${hex(pfn)} order ${order}`).join("\n");
}

function stats(s: Session, a: LangArgs): string {
  const path = a.pos[0];
  a.done(1);
  let v: unknown = s.m.stats();
  for (const key of path ? path.split(".") : []) {
    if (v === null || typeof v !== "object" || !(key in v)) throw new LangError(`stats: no '${key}' in ${path}`);
    v = (v as Record<string, unknown>)[key];
  }
  return JSON.stringify(v);
}

function check(s: Session, a: LangArgs): string {
  a.done(0);
  s.m.check();
  return `invariant checkers passed: ${s.m.kernel.checkers.map((c) => c.name).join(", ")}`;
}

function reports(s: Session, a: LangArgs): string {
  a.done(0);
  const r = s.m.kernel.reports;
  return r.length === 0 ? "no kernel reports" : r.map((x) => `[${x.kind}] ${x.text}`).join("\n");
}

function echo(_s: Session, a: LangArgs): string {
  return [...a.pos, ...[...a.kv].map(([k, v]) => `${k}=${v}`)].join(" ");
}

const SUBJECT_LABELS: Readonly<Record<string, string>> = { process: "p", cache: "CACHE", "teaching address space": "T" };

function helpLine(prefix: string, c: { name: string; synopsis: string; help: string }): string {
  const left = `  ${prefix}${c.name} ${c.synopsis}`.trimEnd();
  return left.length < 40 ? `${left.padEnd(40)} ${c.help}` : `${left}\n${"".padEnd(40)} ${c.help}`;
}

function help(_s: Session, a: LangArgs): string {
  const name = a.pos[0];
  a.done(1);
  if (name) {
    const found: string[] = [];
    const c = LANG_COMMANDS.find((x) => x.name === name);
    if (c) found.push(`${c.name} ${c.synopsis}\n  ${c.help}`);
    for (const [kind, cmds] of Object.entries(SUBJECT_COMMANDS)) {
      const sc = cmds.find((x) => x.name === name);
      if (sc) found.push(`${SUBJECT_LABELS[kind] ?? kind} ${sc.name} ${sc.synopsis}\n  ${sc.help}`);
    }
    if (found.length === 0) throw new LangError(`help: unknown command '${name}'`);
    return found.join("\n");
  }
  const lines = [
    "commands (NAME = command keeps its value; $NAME uses it; # starts a comment):",
    ...LANG_COMMANDS.map((c) => helpLine("", c)),
  ];
  for (const [kind, cmds] of Object.entries(SUBJECT_COMMANDS)) {
    const label = SUBJECT_LABELS[kind] ?? kind;
    lines.push("", `commands to a ${kind} (${label} is its name):`, ...cmds.map((c) => helpLine(`${label} `, c)));
  }
  return lines.join("\n");
}

function viewCommand(name: string, helpText: string): LangCommand {
  return {
    name,
    synopsis: "",
    help: helpText,
    run(s, a) {
      a.done(0);
      return (VIEWS.find((v) => v.name === name) as (typeof VIEWS)[number]).render(s.m).replace(/\n$/, "");
    },
  };
}

LANG_COMMANDS.push(
  { name: "help", synopsis: "[COMMAND]", help: "list the commands, or explain one", run: help },
  {
    name: "boot",
    synopsis: "[ram=SIZE] [seed=N] [debug=0..3] [maxorder=N] [pcp=N] [swap=SIZE] [mmu=x86-64|sv39|x86-32]",
    help: "boot a fresh machine",
    run: boot,
  },
  { name: "alloc_pages", synopsis: "ORDER [gfp=FLAGS]", help: "allocate 2^ORDER pages (value: the pfn)", run: allocPages },
  { name: "free_pages", synopsis: "PFN [ORDER]", help: "free a block (ORDER defaults to the one it was allocated with)", run: freePages },
  { name: "drain", synopsis: "", help: "drain_all_pages: per-CPU pages back to the buddy lists", run: drain },
  { name: "compact", synopsis: "", help: "compact_memory: move movable pages down so free pages merge into large blocks", run: compact },
  {
    name: "fail",
    synopsis: "page_alloc|slab|swap_alloc|swap_io nth=N|probability=P [times=N] [order=N] | off",
    help: "fault injection: fail the Nth allocation from now, or each with probability P",
    run: fail,
  },
  { name: "page", synopsis: "PFN", help: "the block holding a frame and its struct page", run: page },
  { name: "held", synopsis: "", help: "blocks allocated in this session and not freed", run: held },
  ...VIEWS.map((v) => viewCommand(v.name, v.help)),
  { name: "stats", synopsis: "[PATH]", help: "m.stats() as JSON, or one part of it (e.g. buddy.splits)", run: stats },
  { name: "check", synopsis: "", help: "run every invariant checker", run: check },
  { name: "reports", synopsis: "", help: "kernel debug reports (allocation failures, slab_debug ...)", run: reports },
  { name: "echo", synopsis: "TEXT", help: "print TEXT (for scripts)", run: echo },
);
