/**
 * mdriver's output: the results table as text, and the same figures as a
 * JSON object for tools.
 */
import type { TraceSetResult } from "./replay.ts";

/** printf-style right alignment. */
function pad(s: string, w: number): string {
  return s.padStart(w);
}

/** The table mdriver prints, with the trace name after each row, then the perf index line. */
export function formatTable(r: TraceSetResult): string {
  const lines: string[] = [];
  for (const [i, t] of r.traces.entries()) for (const e of t.errors) lines.push(`ERROR [trace ${i}]: ${e}`);
  if (lines.length > 0) lines.push("");
  lines.push(`Results for ${r.allocator}:`);
  lines.push(`${pad("trace", 5)}${pad(" valid", 7)} ${pad("util", 5)}${pad("ops", 8)}${pad("secs", 10)}${pad("Kops", 10)}  trace file`);
  for (const [i, t] of r.traces.entries()) {
    const idx = pad(String(i), 2);
    if (t.valid) {
      lines.push(
        `${idx}${pad("yes", 10)}${pad((t.util * 100).toFixed(0), 5)}%${pad(String(t.ops), 8)}${pad(t.secs.toFixed(6), 10)}${pad(t.kops.toFixed(0), 10)}  ${t.name}`,
      );
    } else {
      lines.push(`${idx}${pad("no", 10)}${pad("-", 6)}${pad("-", 8)}${pad("-", 10)}${pad("-", 10)}  ${t.name}`);
    }
  }
  const errors = r.traces.filter((t) => !t.valid).length;
  if (errors === 0) {
    const ops = r.traces.reduce((s, t) => s + t.ops, 0);
    const secs = r.traces.reduce((s, t) => s + t.secs, 0);
    lines.push(
      `Total       ${pad((r.meanUtil * 100).toFixed(0), 5)}%${pad(String(ops), 8)}${pad(secs.toFixed(6), 10)}${pad(r.kops.toFixed(0), 10)}`,
    );
    lines.push("");
    lines.push(`Perf index = ${r.utilPoints.toFixed(0)} (util) + ${r.thruPoints.toFixed(0)} (thru) = ${r.perfIndex.toFixed(0)}/100`);
  } else {
    lines.push(`Total       ${pad("-", 6)}${pad("-", 8)}${pad("-", 10)}${pad("-", 10)}`);
    lines.push("");
    lines.push(`Terminated with ${errors} errors`);
  }
  return `${lines.join("\n")}\n`;
}

/** The JSON form: `{ traces: [{ name, valid, util, ops, secs, kops, errors }], meanUtil, kops, perfIndex }`. */
export function toJson(r: TraceSetResult): {
  traces: Array<{ name: string; valid: boolean; util: number; ops: number; secs: number; kops: number; errors: string[] }>;
  meanUtil: number;
  kops: number;
  perfIndex: number;
} {
  return {
    traces: r.traces.map((t) => ({ name: t.name, valid: t.valid, util: t.util, ops: t.ops, secs: t.secs, kops: t.kops, errors: t.errors })),
    meanUtil: r.meanUtil,
    kops: r.kops,
    perfIndex: r.perfIndex,
  };
}
