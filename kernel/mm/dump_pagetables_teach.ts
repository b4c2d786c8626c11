/**
 * `explain(va)` on a teaching address space (mmu_teach.ts): the address cut
 * into the geometry's own fields, each entry the walk read (where, its raw
 * value, its valid bit and PFN, and the memsim frame holding it), then the
 * physical address and the byte there, or the level that faulted.
 */
import { TEACH_NO_ROOT, TEACH_OUTSIDE, type TeachSpace } from "./mmu_teach.ts";
import { type TeachGeometry, teachPfn, teachReserved, teachValid } from "./pgtable_teach.ts";

const hex = (v: number): string => `0x${v.toString(16)}`;

/** The fields of an address: the index of each level, then the offset. */
function fields(g: TeachGeometry, va: number): { name: string; bits: number; value: number }[] {
  const out: { name: string; bits: number; value: number }[] = [];
  let shift = g.vaBits;
  for (let l = 0; l < g.indexBits.length; l++) {
    const bits = g.indexBits[l]!;
    shift -= bits;
    out.push({ name: g.indexNames[l]!, bits, value: Math.floor(va / 2 ** shift) % 2 ** bits });
  }
  out.push({ name: "offset", bits: g.pageBits, value: va % 2 ** g.pageBits });
  return out;
}

/** The geometry in one line: sizes and the entry's bits. */
export function describeTeachGeometry(g: TeachGeometry): string {
  const levels = g.indexBits.length === 1 ? "one level" : `${g.indexBits.length} levels (${g.indexBits.join("+")} index bits)`;
  return `${g.name}: ${g.vaBits}-bit addresses, ${2 ** g.pageBits}-byte pages, ${levels}, ${g.entryBytes}-byte entries (valid bit ${g.validBit}, PFN bits ${g.pfnBits - 1}..0), ${g.physBytes} bytes of memory`;
}

/** The address's bits, one column per field. */
function bitLines(g: TeachGeometry, va: number): string[] {
  const fs = fields(g, va);
  const width = (f: { name: string; bits: number; value: number }) => Math.max(f.bits, f.name.length, String(f.value).length) + 1;
  const col = (text: (f: { name: string; bits: number; value: number }) => string) =>
    fs
      .map((f) => text(f).padEnd(width(f)))
      .join("")
      .trimEnd();
  return [
    `  bits   ${col((f) => (f.bits === 0 ? "-" : f.value.toString(2).padStart(f.bits, "0")))}`,
    `  field  ${col((f) => f.name)}`,
    `  value  ${col((f) => String(f.value))}`,
  ];
}

/** One line per entry the walk read. */
function stepLine(s: TeachSpace, i: number): string {
  const g = s.geometry;
  const at = s.stepEntryAddr(i);
  const raw = s.stepRaw(i);
  const tablePage = Math.floor(at / 2 ** g.pageBits) - Math.floor((s.stepIndex(i) * g.entryBytes) / 2 ** g.pageBits);
  const where = s.physAddr(at);
  const frame = where < 0 ? "no frame" : `memsim P${hex(where)}`;
  const name = `${g.entryNames[i]} ${s.stepIndex(i)}`.padEnd(10);
  return `  ${name} at P${hex(at)} (${g.tableNames[i]} at page ${tablePage}; ${frame}): ${hex(raw)} = ${entryBits(g, raw)}: valid ${teachValid(g, raw) ? 1 : 0}, PFN ${hex(teachPfn(g, raw))}`;
}

/** A raw entry cut into the geometry's fields: "V 1 | PFN 0100001", with the bits between them when there are any. */
function entryBits(g: TeachGeometry, raw: number): string {
  const v = (raw >>> g.validBit) & 1;
  const pfn = teachPfn(g, raw).toString(2).padStart(g.pfnBits, "0");
  const gap = g.validBit - g.pfnBits;
  const mid = gap === 0 ? "" : ` | reserved ${teachReserved(g, raw).toString(2).padStart(gap, "0")}`;
  return `V ${v}${mid} | PFN ${pfn}`;
}

/**
 * The translation of `va` with every step, in the geometry's terms. Walks
 * `s` (its last-walk record changes).
 */
export function explainTeach(s: TeachSpace, va: number): string {
  const g = s.geometry;
  const out = [`VA ${hex(va)} on ${describeTeachGeometry(g)}`];
  const pa = s.walk(va);
  if (pa === TEACH_OUTSIDE) return `${out[0]}\n  outside the ${g.vaBits}-bit address space\n`;
  out.push(...bitLines(g, va));
  if (pa === TEACH_NO_ROOT) return `${out.join("\n")}\n  no root table\n`;
  for (let i = 0; i < s.stepCount; i++) out.push(stepLine(s, i));
  if (pa < 0) out.push(`  fault: the ${g.entryNames[-pa - 1]} is not valid`);
  else {
    const pfn = Math.floor(pa / 2 ** g.pageBits);
    out.push(`  PA P${hex(pa)} = PFN ${hex(pfn)} * ${2 ** g.pageBits} + offset ${va % 2 ** g.pageBits}: byte ${hex(s.read8(pa))}`);
  }
  return `${out.join("\n")}\n`;
}
