/**
 * The CS:APP malloc-lab `.rep` trace format:
 *
 *   <suggested heap size>     \
 *   <number of ids>            | the 4-line header; some trace sets use
 *   <number of ops>            | a 2-line header: ids, ops
 *   <weight>                  /
 *   a <id> <size>             malloc
 *   r <id> <size>             realloc
 *   f <id>                    free (`f -1` frees NULL)
 *
 * Blank lines are skipped; fields are separated by spaces or tabs.
 */
import { OP_ALLOC, OP_FREE, OP_REALLOC, type Trace, TraceBuilder, TraceError } from "./trace.ts";

const INT = /^-?\d+$/;

/** Parses `.rep` text. Throws TraceError naming `file`, the line and the problem. */
export function parseRep(text: string, file: string): Trace {
  const lines = text.split("\n");
  const header: number[] = [];
  let i = 0;
  let lastLine = 0;
  for (; i < lines.length; i++) {
    const fields = splitFields(lines[i] as string);
    if (fields.length === 0) continue;
    const f0 = fields[0] as string;
    if (f0 === "a" || f0 === "r" || f0 === "f") break;
    if (fields.length !== 1 || !INT.test(f0))
      throw new TraceError(file, i + 1, `header line must be one integer, found '${(lines[i] as string).trim()}'`);
    const v = Number(f0);
    if (v < 0 || !Number.isSafeInteger(v)) throw new TraceError(file, i + 1, `header value ${f0} is not a non-negative integer`);
    header.push(v);
    lastLine = i + 1;
  }
  if (header.length !== 4 && header.length !== 2) {
    throw new TraceError(
      file,
      Math.min(i + 1, lines.length),
      `expected a header of 4 integer lines (heap, ids, ops, weight) or 2 (ids, ops), found ${header.length}`,
    );
  }
  const [heap, ids, ops, weight] =
    header.length === 4 ? (header as [number, number, number, number]) : [0, header[0] as number, header[1] as number, 1];
  if (ids > 1 << 24) throw new TraceError(file, header.length === 4 ? 2 : 1, `${ids} ids is more than a trace may declare (${1 << 24})`);
  const b = new TraceBuilder(file, ids);
  for (; i < lines.length; i++) {
    const fields = splitFields(lines[i] as string);
    if (fields.length === 0) continue;
    parseOp(b, fields, file, i + 1);
    lastLine = i + 1;
  }
  if (b.count !== ops) throw new TraceError(file, lastLine, `the header declares ${ops} operations, the file has ${b.count}`);
  return b.build(ids, weight, heap);
}

function splitFields(line: string): string[] {
  const t = line.trim();
  return t === "" ? [] : t.split(/[ \t]+/);
}

function parseOp(b: TraceBuilder, fields: string[], file: string, line: number): void {
  const op = fields[0] as string;
  const want = op === "f" ? 2 : 3;
  if (op !== "a" && op !== "r" && op !== "f") throw new TraceError(file, line, `unknown operation '${op}' (expected a, r or f)`);
  if (fields.length !== want)
    throw new TraceError(file, line, op === "f" ? "'f' takes one field: an id" : `'${op}' takes two fields: an id and a size`);
  const id = intField(fields[1] as string, "id", file, line);
  const size = op === "f" ? 0 : intField(fields[2] as string, "size", file, line);
  b.add(op === "a" ? OP_ALLOC : op === "r" ? OP_REALLOC : OP_FREE, id, size, line);
}

function intField(s: string, what: string, file: string, line: number): number {
  if (!INT.test(s) || !Number.isSafeInteger(Number(s))) throw new TraceError(file, line, `${what} '${s}' is not an integer`);
  return Number(s);
}
