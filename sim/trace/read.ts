/**
 * Reading trace files: the format comes from the extension, or from the
 * first character when the extension says nothing.
 */
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { parseJsonl } from "./jsonl.ts";
import { parseRep } from "./rep.ts";
import { type Trace, TraceError } from "./trace.ts";

/**
 * Reads a trace file: `.rep` files as CS:APP traces, `.jsonl`/`.ndjson` as
 * JSON lines, anything else by its first non-blank character (`{` = JSON
 * lines). Throws TraceError when the file cannot be read or is malformed.
 */
export function readTrace(file: string): Trace {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new TraceError(file, 0, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseTrace(text, file);
}

/** Parses trace text; `file` names it in errors and gives the format by extension. */
export function parseTrace(text: string, file: string): Trace {
  const ext = extname(file).toLowerCase();
  if (ext === ".rep") return parseRep(text, file);
  if (ext === ".jsonl" || ext === ".ndjson") return parseJsonl(text, file);
  return text.trimStart().startsWith("{") ? parseJsonl(text, file) : parseRep(text, file);
}
