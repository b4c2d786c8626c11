/**
 * The JSON-lines trace format: one op per line, no header.
 *
 *   {"op":"a","id":0,"size":16}     malloc
 *   {"op":"r","id":0,"size":32}     realloc
 *   {"op":"f","id":0}               free ({"op":"f","id":-1} frees NULL)
 *
 * Blank lines are skipped. The number of ids is the largest id plus one.
 */
import { OP_ALLOC, OP_FREE, OP_REALLOC, type Trace, TraceBuilder, TraceError } from "./trace.ts";

const OPS: Readonly<Record<string, number>> = { a: OP_ALLOC, r: OP_REALLOC, f: OP_FREE };

/** Parses JSON-lines text. Throws TraceError naming `file`, the line and the problem. */
export function parseJsonl(text: string, file: string): Trace {
  const b = new TraceBuilder(file, 1 << 24);
  let maxId = -1;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const t = (lines[i] as string).trim();
    if (t === "") continue;
    const { kind, id, size } = parseLine(t, file, i + 1);
    b.add(kind, id, size, i + 1);
    if (id > maxId) maxId = id;
  }
  return b.build(maxId + 1, 1, 0);
}

function parseLine(t: string, file: string, line: number): { kind: number; id: number; size: number } {
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch (e) {
    throw new TraceError(file, line, `not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new TraceError(file, line, "each line must be a JSON object");
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (k !== "op" && k !== "id" && k !== "size") throw new TraceError(file, line, `unknown key '${k}' (expected op, id, size)`);
  const kind = typeof o.op === "string" ? OPS[o.op] : undefined;
  if (kind === undefined) throw new TraceError(file, line, `"op" must be "a", "r" or "f", found ${JSON.stringify(o.op)}`);
  if (!Number.isSafeInteger(o.id)) throw new TraceError(file, line, `"id" must be an integer, found ${JSON.stringify(o.id)}`);
  if (kind === OP_FREE) {
    if ("size" in o) throw new TraceError(file, line, `"f" takes no "size"`);
    return { kind, id: o.id as number, size: 0 };
  }
  if (!Number.isSafeInteger(o.size)) throw new TraceError(file, line, `"${o.op}" needs an integer "size", found ${JSON.stringify(o.size)}`);
  return { kind, id: o.id as number, size: o.size as number };
}
