/**
 * Language commands of teaching address spaces (kernel/mm/mmu_teach.ts):
 * `teach T ostep-multilevel root=108` makes one named T with its root table,
 * then `T map VA PFN [tables=P,..]`, `T write PA BYTE`, `T read PA`,
 * `T walk VA`, `T explain VA`, `T show` and `T destroy`. Every mistake is
 * refused here with a message before it reaches the space (whose own rules
 * are panics), so the tables always pass the `teach` checker.
 */
import { describeTeachGeometry, explainTeach } from "../../../kernel/mm/dump_pagetables_teach.ts";
import { TEACH_OUTSIDE, type TeachSpace } from "../../../kernel/mm/mmu_teach.ts";
import {
  linearTeachGeometry,
  TEACH_GEOMETRIES,
  type TeachGeometry,
  type TeachGeometryName,
  teachTableBytes,
  teachTablePages,
} from "../../../kernel/mm/pgtable_teach.ts";
import { frameLines, tableLines, walkLine } from "../../ostep/paging_teach_machine.ts";
import { addSubjectCommands, LANG_COMMANDS, type LangArgs, LangError, type LangResult, type Subject } from "./registry.ts";
import type { Session } from "./session.ts";

/** A teaching address space the user named. */
interface TeachSubject extends Subject {
  readonly kind: "teaching address space";
  readonly name: string;
  readonly space: TeachSpace;
}

const hex = (v: number): string => `0x${v.toString(16)}`;

/** The geometry a `teach` line names; linear takes asize=, page= and phys=. */
function geometryOf(a: LangArgs): TeachGeometry {
  const name = a.word(1, "GEOMETRY");
  if (name === "linear") {
    const g = linearTeachGeometry(a.optSize("asize", 16 << 10), a.optSize("page", 1 << 10), a.optSize("phys", 64 << 10));
    if (typeof g === "string") throw new LangError(`teach: linear: ${g}`);
    return g;
  }
  const g = Object.hasOwn(TEACH_GEOMETRIES, name) ? TEACH_GEOMETRIES[name as TeachGeometryName] : undefined;
  if (g === undefined) throw new LangError(`teach: no geometry '${name}' (${Object.keys(TEACH_GEOMETRIES).join(", ")}, linear)`);
  return g;
}

/** Why a table of `level` cannot start at page `pfn` of `s`, or null when it can (`also` is taken too). */
function tableRefusal(s: TeachSpace, pfn: number, level: number, also: readonly number[]): string | null {
  const g = s.geometry;
  const base = pfn * 2 ** g.pageBits;
  if (base + teachTableBytes(g, level) > g.physBytes) return `a table at page ${pfn} runs past the memory`;
  if (base % g.entryBytes !== 0) return `page ${pfn} does not align a ${g.entryBytes}-byte entry`;
  for (let p = pfn; p < pfn + teachTablePages(g, level); p++) {
    if (s.pageUse(p) !== "free" || also.includes(p)) return `page ${p} is in use`;
  }
  return null;
}

function teach(s: Session, a: LangArgs): string {
  const name = a.word(0, "NAME");
  if (!/^[A-Za-z_]\w*$/.test(name)) throw new LangError(`teach: bad name '${name}' (letters, digits and _)`);
  if (s.subjects.has(name) || LANG_COMMANDS.some((c) => c.name === name)) throw new LangError(`teach: the name '${name}' is taken`);
  const g = geometryOf(a);
  const root = a.optInt("root", 0, 0, 2 ** 31);
  a.done(2);
  const space = s.m.teach({ geometry: g });
  const why = tableRefusal(space, root, 0, []);
  if (why !== null || !space.makeTable(root, 0)) {
    space.destroy();
    throw new LangError(`teach: root=${root}: ${why ?? "no memsim frame for it"}`);
  }
  space.setRoot(root);
  s.subjects.set(name, { kind: "teaching address space", name, space } as TeachSubject);
  return `${name}: ${describeTeachGeometry(g)}; root table at page ${root}`;
}

/** An integer argument inside the space's teaching memory (`what` names it). */
function inMemory(s: TeachSpace, a: LangArgs, i: number, what: string, unit: number): number {
  return a.int(i, what, 0, s.geometry.physBytes / unit - 1);
}

/** The levels map() must make tables at for unmapped `va`: those below the level whose entry is missing. */
function missingLevels(s: TeachSpace, va: number): number[] {
  const out: number[] = [];
  for (let l = -s.walk(va); l < s.geometry.indexBits.length; l++) out.push(l);
  return out;
}

/** The first page a table of `level` can start at, or -1. */
function firstFree(s: TeachSpace, level: number, taken: readonly number[]): number {
  for (let p = 0; p < s.nrPages; p++) if (tableRefusal(s, p, level, taken) === null) return p;
  return -1;
}

/** Pages for the new tables of `levels`: those given in tables=, else the first free ones; never `pfn`. */
function chooseTables(s: TeachSpace, a: LangArgs, levels: readonly number[], pfn: number): number[] {
  const given = a.optStr("tables");
  const list = given?.split(",") ?? [];
  if (given !== undefined && list.length !== levels.length)
    throw new LangError(`${a.cmd}: tables= gives ${list.length} page${list.length === 1 ? "" : "s"}, the walk needs ${levels.length}`);
  const taken = [pfn];
  const pages: number[] = [];
  for (const [i, level] of levels.entries()) {
    const at = given === undefined ? firstFree(s, level, taken) : a.toSizeText(list[i]!, "tables");
    const why = at < 0 ? "no free pages for it" : tableRefusal(s, at, level, taken);
    if (why !== null) throw new LangError(`${a.cmd}: the level-${level} table: ${why}`);
    pages.push(at);
    for (let p = at; p < at + teachTablePages(s.geometry, level); p++) taken.push(p);
  }
  return pages;
}

function map(t: TeachSubject, a: LangArgs): string {
  const s = t.space;
  const g = s.geometry;
  const va = a.int(0, "VA", 0, 2 ** g.vaBits - 1);
  const pfn = inMemory(s, a, 1, "PFN", 2 ** g.pageBits);
  if (s.walk(va) >= 0) throw new LangError(`${a.cmd}: ${hex(va)} is mapped already`);
  if (s.pageUse(pfn) === "table") throw new LangError(`${a.cmd}: page ${pfn} is part of a table`);
  const pages = chooseTables(s, a, missingLevels(s, va), pfn);
  a.done(2);
  let next = 0;
  if (!s.map(va - (va % 2 ** g.pageBits), pfn, () => pages[next++]!)) throw new LangError(`${a.cmd}: no memsim frame for the tables`);
  const made = pages.length === 0 ? "" : ` (new table${pages.length === 1 ? "" : "s"} at page ${pages.join(", ")})`;
  return `${hex(va - (va % 2 ** g.pageBits))} -> page ${pfn}${made}`;
}

function write(t: TeachSubject, a: LangArgs): string {
  const s = t.space;
  const pa = inMemory(s, a, 0, "PA", 1);
  const v = a.int(1, "BYTE", 0, 255);
  a.done(2);
  if (s.pageUse(Math.floor(pa / 2 ** s.geometry.pageBits)) === "table")
    throw new LangError(`${a.cmd}: P${hex(pa)} is in a table (entries change through map)`);
  if (!s.write8(pa, v)) throw new LangError(`${a.cmd}: no memsim frame for P${hex(pa)}`);
  return `P${hex(pa)} = ${hex(v)}`;
}

function read(t: TeachSubject, a: LangArgs): LangResult {
  const pa = inMemory(t.space, a, 0, "PA", 1);
  a.done(1);
  const v = t.space.read8(pa);
  return { text: `P${hex(pa)} = ${hex(v)}`, value: v };
}

function walk(t: TeachSubject, a: LangArgs): LangResult {
  const va = a.int(0, "VA");
  a.done(1);
  const pa = t.space.walk(va);
  const text = pa === TEACH_OUTSIDE ? `${hex(va)}: outside the address space` : walkLine(t.space, va, pa).replace(/^KERNEL walk /, "");
  return pa >= 0 ? { text, value: pa } : { text };
}

addSubjectCommands<TeachSubject>("teaching address space", [
  {
    name: "map",
    synopsis: "VA PFN [tables=P,...]",
    help: "map VA's page to page PFN, new tables in the pages given (or the first free)",
    run: map,
  },
  { name: "write", synopsis: "PA BYTE", help: "write a byte of teaching memory (not inside a table)", run: write },
  { name: "read", synopsis: "PA", help: "read a byte of teaching memory (value: the byte)", run: read },
  { name: "walk", synopsis: "VA", help: "translate VA by reading the entries from RAM (value: the physical address)", run: walk },
  {
    name: "explain",
    synopsis: "VA",
    help: "the walk of VA in the geometry's own bits",
    run(t, a) {
      const va = a.int(0, "VA");
      a.done(1);
      return explainTeach(t.space, va).replace(/\n$/, "");
    },
  },
  {
    name: "show",
    synopsis: "",
    help: "the memsim frames behind the teaching memory and where the tables are",
    run(t, a) {
      a.done(0);
      return [...frameLines(t.space), ...tableLines(t.space)].map((l) => l.replace(/^KERNEL /, "")).join("\n");
    },
  },
  {
    name: "destroy",
    synopsis: "",
    help: "give every frame back and forget the name",
    run(t, a, s) {
      a.done(0);
      const n = t.space.frames().length;
      t.space.destroy();
      s.subjects.delete(t.name);
      if (s.current === t.name) s.current = null;
      return `${t.name}: destroyed, ${n} frame${n === 1 ? "" : "s"} freed`;
    },
  },
]);

LANG_COMMANDS.push({
  name: "teach",
  synopsis: "NAME ostep-multilevel|ostep-16k|linear [root=PAGE] [asize= page= phys=]",
  help: "a teaching address space of a textbook geometry in frames of RAM (NAME map/walk/explain ...)",
  run: teach,
});
