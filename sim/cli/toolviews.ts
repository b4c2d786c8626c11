/**
 * Text views shaped like Linux tools, computed from the same /proc files the
 * tools read: `pmap -x` from /proc/PID/smaps, `slabtop` from the slabinfo
 * rows, `ps` from the task list.
 */
import { slabinfoRows } from "../../kernel/mm/slab_stats.ts";
import type { Process } from "../../kernel/process.ts";
import type { Machine } from "../machine.ts";

/** One mapping as pmap -x shows it. */
export interface PmapRow {
  readonly start: number;
  readonly kbytes: number;
  readonly rss: number;
  readonly dirty: number;
  readonly mode: string;
  readonly mapping: string;
  /** The name /proc/PID/maps shows ("[heap]", "[stack]", "" for anonymous). */
  readonly name: string;
}

/** Parses /proc/PID/smaps text into pmap rows (what procps' pmap -x does). */
export function pmapRows(smaps: string): PmapRow[] {
  const rows: PmapRow[] = [];
  let cur: { start: number; perms: string; name: string; f: Record<string, number> } | null = null;
  const flush = () => {
    if (!cur) return;
    const f = cur.f;
    const mode = `${cur.perms.slice(0, 3)}${cur.perms[3] === "s" ? "s" : "-"}-`;
    // procps shows the heap and other anonymous memory as [ anon ], the stack as [ stack ].
    const mapping = cur.name === "[stack]" ? "[ stack ]" : cur.name === "" || cur.name.startsWith("[") ? "[ anon ]" : cur.name;
    rows.push({
      start: cur.start,
      kbytes: f.Size ?? 0,
      rss: f.Rss ?? 0,
      dirty: (f.Private_Dirty ?? 0) + (f.Shared_Dirty ?? 0),
      mode,
      mapping,
      name: cur.name,
    });
  };
  for (const line of smaps.split("\n")) {
    const head = /^([0-9a-f]+)-[0-9a-f]+ (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      flush();
      cur = { start: Number.parseInt(head[1] as string, 16), perms: head[2] as string, name: (head[3] as string).trim(), f: {} };
      continue;
    }
    const kv = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (kv && cur) cur.f[kv[1] as string] = Number(kv[2]);
  }
  flush();
  return rows;
}

/** `pmap -x PID`. */
export function renderPmap(p: Process): string {
  const rows = pmapRows(p.proc.smaps());
  let out = `${p.pid}:   ${p.comm}\nAddress           Kbytes     RSS   Dirty Mode  Mapping\n`;
  let k = 0;
  let r = 0;
  let d = 0;
  for (const row of rows) {
    out += `${row.start.toString(16).padStart(16, "0")} ${String(row.kbytes).padStart(7)} ${String(row.rss).padStart(7)} ${String(row.dirty).padStart(7)} ${row.mode}   ${row.mapping}\n`;
    k += row.kbytes;
    r += row.rss;
    d += row.dirty;
  }
  out += "---------------- ------- ------- -------\n";
  out += `total kB         ${String(k).padStart(7)} ${String(r).padStart(7)} ${String(d).padStart(7)}\n`;
  return out;
}

function kb(n: number): string {
  return `${(n / 1024).toFixed(2)}K`;
}

/** `slabtop -o` (one screen, sorted by number of objects, then name). */
export function renderSlabtop(m: Machine): string {
  const rows = slabinfoRows(m.kernel.slab).map((r) => ({ ...r, cacheKb: r.numSlabs * r.pagesPerSlab * 4 }));
  const sum = (f: (r: (typeof rows)[number]) => number) => rows.reduce((n, r) => n + f(r), 0);
  const objs = sum((r) => r.numObjs);
  const active = sum((r) => r.activeObjs);
  const slabs = sum((r) => r.numSlabs);
  const activeSlabs = sum((r) => r.activeSlabs);
  const used = rows.filter((r) => r.activeObjs > 0).length;
  const size = sum((r) => r.numObjs * r.objSize);
  const activeSize = sum((r) => r.activeObjs * r.objSize);
  const pct = (a: number, b: number) => (b === 0 ? "0.0" : ((a / b) * 100).toFixed(1));
  const sizes = rows.map((r) => r.objSize);
  const min = sizes.length ? Math.min(...sizes) : 0;
  const max = sizes.length ? Math.max(...sizes) : 0;
  const avg = objs ? size / objs : 0;
  let out = ` Active / Total Objects (% used)    : ${active} / ${objs} (${pct(active, objs)}%)\n`;
  out += ` Active / Total Slabs (% used)      : ${activeSlabs} / ${slabs} (${pct(activeSlabs, slabs)}%)\n`;
  out += ` Active / Total Caches (% used)     : ${used} / ${rows.length} (${pct(used, rows.length)}%)\n`;
  out += ` Active / Total Size (% used)       : ${kb(activeSize)} / ${kb(size)} (${pct(activeSize, size)}%)\n`;
  out += ` Minimum / Average / Maximum Object : ${kb(min)} / ${kb(avg)} / ${kb(max)}\n\n`;
  out += "  OBJS ACTIVE  USE OBJ SIZE  SLABS OBJ/SLAB CACHE SIZE NAME\n";
  const sorted = rows.filter((r) => r.numObjs > 0).sort((a, b) => b.numObjs - a.numObjs || a.name.localeCompare(b.name));
  for (const r of sorted) {
    out += `${String(r.numObjs).padStart(6)} ${String(r.activeObjs).padStart(6)} ${pct(r.activeObjs, r.numObjs).replace(/\.\d$/, "").padStart(3)}% ${kb(r.objSize).padStart(8)} ${String(r.numSlabs).padStart(6)} ${String(r.objPerSlab).padStart(8)} ${`${r.cacheKb}K`.padStart(10)} ${r.name}\n`;
  }
  return out;
}

/** `ps`: one line per process, with its address-space size and resident set from /proc/PID/status. */
export function renderPs(m: Machine): string {
  let out = "  PID  PPID STATE     VSZ(kB) RSS(kB) MINFLT COMMAND\n";
  for (const p of m.processes()) {
    const status = p.state === "running" ? p.proc.status() : "";
    const field = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
    out += `${String(p.pid).padStart(5)} ${String(p.ppid).padStart(5)} ${p.state.padEnd(8)} ${String(field("VmSize")).padStart(8)} ${String(field("VmRSS")).padStart(7)} ${String(p.minflt).padStart(6)} ${p.comm}\n`;
  }
  return out;
}
