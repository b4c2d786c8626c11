/**
 * Address translation through x86-64 4-level page tables: given CR3 and a few
 * entries of each table, find the indices, the offset, the entries read, and
 * the physical address or the fault. The answer comes from a page walk over
 * the entries the question prints.
 */
import type { Prandom } from "../../../kernel/lib/random.ts";
import { between, type Exercise, hex, pick, type Topic } from "./exercise.ts";

const PTE_P = 0x1;
const PTE_RW = 0x2;
const PTE_US = 0x4;
const PTE_A = 0x20;
const PTE_D = 0x40;
const LEVELS = ["PML4", "PDPT", "PD", "PT"] as const;

/** Tables by frame number: index -> entry value (absent = 0). */
type Tables = Map<number, Map<number, number>>;

/** The four table indices and the page offset of a virtual address (9+9+9+9+12 bits). */
export function vaIndices(va: number): { idx: number[]; offset: number } {
  const idx: number[] = [];
  for (let level = 0; level < 4; level++) idx.push(Math.floor(va / 2 ** (39 - 9 * level)) % 512);
  return { idx, offset: va % 4096 };
}

/** The result of a walk: the lines of the worked answer and the outcome. */
export interface WalkResult {
  readonly lines: string[];
  readonly pa: number | null;
  readonly fault: string | null;
}

function entryText(v: number): string {
  return `0x${v.toString(16).padStart(16, "0")}`;
}

function flagsText(v: number): string {
  const f: string[] = [];
  for (const [bit, n] of [
    [PTE_P, "P"],
    [PTE_RW, "RW"],
    [PTE_US, "US"],
    [PTE_A, "A"],
    [PTE_D, "D"],
  ] as const) {
    if (v & bit) f.push(n);
  }
  return f.join("|") || "none";
}

/** Walks the tables for a user access, as the MMU does, and explains each step. */
export function walk(tables: Tables, cr3: number, va: number, write: boolean): WalkResult {
  const { idx, offset } = vaIndices(va);
  const lines = [`indices: ${LEVELS.map((l, i) => `${l} ${idx[i]}`).join(", ")}; offset ${hex(offset)}`];
  let table = cr3;
  for (let level = 0; level < 4; level++) {
    const i = idx[level] as number;
    const e = tables.get(table)?.get(i) ?? 0;
    const at = table * 4096 + i * 8;
    lines.push(`${LEVELS[level]}[${i}] at P${hex(at)} = ${entryText(e)} (${flagsText(e)})`);
    let fault: string | null = null;
    if ((e & PTE_P) === 0)
      fault = `page fault: not present at ${LEVELS[level]} (error code: user ${write ? "write" : "read"}, not present)`;
    else if ((e & PTE_US) === 0) fault = `page fault: protection, ${LEVELS[level]} entry is supervisor-only (US clear)`;
    else if (write && (e & PTE_RW) === 0) fault = `page fault: protection, write to a read-only ${LEVELS[level]} entry (RW clear)`;
    if (fault) return { lines: [...lines, fault], pa: null, fault };
    table = Math.floor(e / 4096);
  }
  const pa = table * 4096 + offset;
  lines.push(`frame ${hex(table)} + offset ${hex(offset)} = physical address ${hex(pa)}`);
  return { lines, pa, fault: null };
}

type Twist = "none" | "notPresent" | "readOnly" | "supervisor";

function buildTables(rng: Prandom, va: number, twist: Twist, failLevel: number): { tables: Tables; cr3: number } {
  const used = new Set<number>();
  const frame = () => {
    let f: number;
    do f = between(rng, 0x100, 0x7fff);
    while (used.has(f));
    used.add(f);
    return f;
  };
  const tables: Tables = new Map();
  const cr3 = frame();
  const { idx } = vaIndices(va);
  let table = cr3;
  for (let level = 0; level < 4; level++) {
    const entries = new Map<number, number>();
    tables.set(table, entries);
    for (let d = 0; d < 2; d++) entries.set(between(rng, 0, 511), frame() * 4096 + (PTE_P | PTE_RW | PTE_US | PTE_A));
    const i = idx[level] as number;
    const next = frame();
    let flags = PTE_P | PTE_RW | PTE_US | PTE_A | (level === 3 ? PTE_D : 0);
    if (level === failLevel && twist === "readOnly") flags &= ~(PTE_RW | PTE_D);
    if (level === failLevel && twist === "supervisor") flags &= ~PTE_US;
    if (level === failLevel && twist === "notPresent") entries.delete(i);
    else entries.set(i, next * 4096 + flags);
    if (level === failLevel && twist === "notPresent") break;
    table = next;
  }
  return { tables, cr3 };
}

function makeTranslate(rng: Prandom): Exercise {
  const idx = [between(rng, 0, 255), between(rng, 0, 511), between(rng, 0, 511), between(rng, 0, 511)];
  const va = ((idx[0]! * 512 + idx[1]!) * 512 + idx[2]!) * 512 * 4096 + idx[3]! * 4096 + between(rng, 0, 4095);
  const twist = pick<Twist>(rng, ["none", "none", "notPresent", "readOnly", "supervisor"]);
  const write = twist === "readOnly" ? true : rng.below(2) === 1;
  const failLevel = twist === "readOnly" ? 3 : between(rng, 0, 3);
  const { tables, cr3 } = buildTables(rng, va, twist, failLevel);
  const q = [
    `A user program ${write ? "writes to" : "reads"} virtual address ${hex(va)} on x86-64 with 4-level paging`,
    `(4 KiB pages, 9+9+9+9+12 bits; an entry is 8 bytes: frame number in bits 12..51, P=0x1 RW=0x2 US=0x4 A=0x20 D=0x40).`,
    `CR3 holds the PML4 at frame ${hex(cr3)}. These are the only non-zero entries of the tables involved:`,
  ];
  for (const [pfn, entries] of [...tables].sort((a, b) => a[0] - b[0])) {
    const list = [...entries].sort((a, b) => a[0] - b[0]).map(([i, v]) => `[${i}] = ${entryText(v)}`);
    q.push(`  table at frame ${hex(pfn)}: ${list.join("  ")}`);
  }
  q.push("Give the four indices and the offset, the entry read at each level, and the physical address (or the fault).");
  const r = walk(tables, cr3, va, write);
  return { topic: "translate", question: q.join("\n"), answer: r.lines.join("\n") };
}

/** The translation topic. */
export const TRANSLATE_TOPIC: Topic = {
  name: "translate",
  summary: "walk 4-level page tables by hand: indices, entries, physical address or fault",
  make: makeTranslate,
};
