/**
 * Language commands about processes: `spawn p` creates a process named p;
 * then `p mmap 0 16K rw private anon`, `p write ADDR 1 2 3`, `p fork q`,
 * `p exit`, and the views (`p maps`, `p pmap`, `p pagetable`, `p explain
 * ADDR`). The top-level views (`maps`, `pmap` ...) take a process name or
 * mean the process last addressed.
 */
import { errnoName } from "../../../kernel/errno.ts";
import { formatVa } from "../../../kernel/mm/types.ts";
import type { Process } from "../../../kernel/process.ts";
import { signalName } from "../../../kernel/signal.ts";
import * as MMAN from "../../../kernel/uapi/mman.ts";
import { renderChunkMap } from "../heapmap.ts";
import { heapChunks } from "../heapwalk.ts";
import { renderPmap, renderPs } from "../toolviews.ts";
import {
  addSubjectCommands,
  LANG_COMMANDS,
  type LangArgs,
  type LangCommand,
  LangError,
  type LangResult,
  type Subject,
} from "./registry.ts";
import type { Session } from "./session.ts";

/** A process the user named. */
export interface ProcSubject extends Subject {
  readonly kind: "process";
  readonly name: string;
  readonly p: Process;
}

/** "0x7f0000001000" */
export function va(n: number): string {
  return `0x${formatVa(n)}`;
}

/** A raw syscall result as text: the value, or "-ENOMEM" with errno's name. */
function sysResult(cmd: string, r: number, asAddr: boolean): LangResult {
  if (r < 0 && r >= -4095) return { text: `${cmd}: -${errnoName(-r)}` };
  return { text: asAddr ? va(r) : String(r), value: r };
}

/** Parses "rw", "r-x", "rwx", "none" into PROT_* bits. */
function parseProt(cmd: string, text: string): number {
  if (text === "none" || text === "-" || text === "---") return MMAN.PROT_NONE;
  if (!/^[r-][w-]?[x-]?$/.test(text) && !/^[rwx]+$/.test(text))
    throw new LangError(`${cmd}: bad protection '${text}' (e.g. rw, r-x, none)`);
  let prot = 0;
  if (text.includes("r")) prot |= MMAN.PROT_READ;
  if (text.includes("w")) prot |= MMAN.PROT_WRITE;
  if (text.includes("x")) prot |= MMAN.PROT_EXEC;
  return prot;
}

const MAP_WORDS: Readonly<Record<string, number>> = {
  private: MMAN.MAP_PRIVATE,
  shared: MMAN.MAP_SHARED,
  anon: MMAN.MAP_ANONYMOUS,
  anonymous: MMAN.MAP_ANONYMOUS,
  fixed: MMAN.MAP_FIXED,
  noreplace: MMAN.MAP_FIXED_NOREPLACE,
  populate: MMAN.MAP_POPULATE,
  noreserve: MMAN.MAP_NORESERVE,
  growsdown: MMAN.MAP_GROWSDOWN,
  stack: MMAN.MAP_STACK,
  locked: MMAN.MAP_LOCKED,
};

const MADV_WORDS: Readonly<Record<string, number>> = {
  normal: MMAN.MADV_NORMAL,
  random: MMAN.MADV_RANDOM,
  sequential: MMAN.MADV_SEQUENTIAL,
  willneed: MMAN.MADV_WILLNEED,
  dontneed: MMAN.MADV_DONTNEED,
  free: MMAN.MADV_FREE,
  remove: MMAN.MADV_REMOVE,
  dontfork: MMAN.MADV_DONTFORK,
  dofork: MMAN.MADV_DOFORK,
  wipeonfork: MMAN.MADV_WIPEONFORK,
  keeponfork: MMAN.MADV_KEEPONFORK,
  cold: MMAN.MADV_COLD,
  pageout: MMAN.MADV_PAGEOUT,
};

function words(cmd: string, list: readonly string[], table: Readonly<Record<string, number>>, what: string): number {
  let v = 0;
  for (const w of list) {
    const bit = table[w];
    if (bit === undefined) throw new LangError(`${cmd}: unknown ${what} '${w}' (${Object.keys(table).join(", ")})`);
    v |= bit;
  }
  return v;
}

/** The process a top-level view means: the named one, or the one last addressed. */
function procArg(s: Session, a: LangArgs, i: number): ProcSubject {
  const name = a.pos[i] ?? s.current;
  if (name === null) throw new LangError(`${a.cmd}: which process? (spawn one first: spawn p)`);
  const subj = s.subjects.get(name);
  if (subj?.kind !== "process") throw new LangError(`${a.cmd}: no process named '${name}'`);
  s.current = name;
  return subj as ProcSubject;
}

function newProcess(s: Session, a: LangArgs, name: string, p: Process): void {
  if (!/^[A-Za-z_]\w*$/.test(name)) throw new LangError(`${a.cmd}: bad process name '${name}' (letters, digits and _)`);
  s.subjects.set(name, { kind: "process", name, p } as ProcSubject);
  s.current = name;
}

function checkNewName(s: Session, a: LangArgs, name: string): void {
  if (s.subjects.has(name) || LANG_COMMANDS.some((c) => c.name === name)) throw new LangError(`${a.cmd}: the name '${name}' is taken`);
}

function spawn(s: Session, a: LangArgs): LangResult {
  const name = a.word(0, "NAME");
  a.done(1);
  checkNewName(s, a, name);
  let p: Process;
  try {
    p = s.m.spawn(name);
  } catch (e) {
    // Machine.spawn throws when there is no memory or address-space id left: an expected failure here.
    return { text: `spawn: fails (${(e as Error).message})` };
  }
  newProcess(s, a, name, p);
  return { text: `${name}: pid ${p.pid}`, value: p.pid };
}

/** Commands addressed to a process: `p mmap ...`. */
const PROC: Array<LangCommand<ProcSubject>> = [
  {
    name: "mmap",
    synopsis: "ADDR LEN PROT FLAGS... (e.g. 0 16K rw private anon)",
    help: "mmap(2); prints the address or -errno (value: the address)",
    run({ p }, a) {
      const addr = a.int(0, "ADDR");
      const len = a.size(1, "LEN");
      const prot = parseProt("mmap", a.word(2, "PROT"));
      const flags = words("mmap", a.pos.slice(3), MAP_WORDS, "flag");
      a.done(99);
      return sysResult("mmap", p.sys.mmap(addr, len, prot, flags), true);
    },
  },
  {
    name: "munmap",
    synopsis: "ADDR LEN",
    help: "munmap(2)",
    run: ({ p }, a) => {
      const r = p.sys.munmap(a.int(0, "ADDR"), a.size(1, "LEN"));
      a.done(2);
      return sysResult("munmap", r, false);
    },
  },
  {
    name: "mprotect",
    synopsis: "ADDR LEN PROT",
    help: "mprotect(2)",
    run: ({ p }, a) => {
      const r = p.sys.mprotect(a.int(0, "ADDR"), a.size(1, "LEN"), parseProt("mprotect", a.word(2, "PROT")));
      a.done(3);
      return sysResult("mprotect", r, false);
    },
  },
  {
    name: "madvise",
    synopsis: "ADDR LEN ADVICE (dontneed, free, ...)",
    help: "madvise(2)",
    run: ({ p }, a) => {
      const r = p.sys.madvise(a.int(0, "ADDR"), a.size(1, "LEN"), words("madvise", [a.word(2, "ADVICE")], MADV_WORDS, "advice"));
      a.done(3);
      return sysResult("madvise", r, false);
    },
  },
  {
    name: "mlock",
    synopsis: "ADDR LEN [onfault]",
    help: "mlock(2); with onfault mlock2(MLOCK_ONFAULT)",
    run: ({ p }, a) => {
      const addr = a.int(0, "ADDR");
      const len = a.size(1, "LEN");
      const flags = a.pos[2] === undefined ? 0 : words("mlock", [a.word(2, "FLAG")], { onfault: MMAN.MLOCK_ONFAULT }, "flag");
      a.done(3);
      return sysResult("mlock", p.sys.mlock2(addr, len, flags), false);
    },
  },
  {
    name: "munlock",
    synopsis: "ADDR LEN",
    help: "munlock(2)",
    run: ({ p }, a) => {
      const r = p.sys.munlock(a.int(0, "ADDR"), a.size(1, "LEN"));
      a.done(2);
      return sysResult("munlock", r, false);
    },
  },
  {
    name: "mlockall",
    synopsis: "FLAG... (current, future, onfault)",
    help: "mlockall(2)",
    run: ({ p }, a) => {
      const flags = words("mlockall", a.pos, { current: MMAN.MCL_CURRENT, future: MMAN.MCL_FUTURE, onfault: MMAN.MCL_ONFAULT }, "flag");
      a.done(99);
      return sysResult("mlockall", p.sys.mlockall(flags), false);
    },
  },
  {
    name: "munlockall",
    synopsis: "",
    help: "munlockall(2)",
    run: ({ p }, a) => {
      a.done(0);
      return sysResult("munlockall", p.sys.munlockall(), false);
    },
  },
  {
    name: "mremap",
    synopsis: "ADDR OLDLEN NEWLEN [maymove] [fixed=ADDR]",
    help: "mremap(2); prints the new address (value: it)",
    run: ({ p }, a) => {
      const old = a.int(0, "ADDR");
      const oldLen = a.size(1, "OLDLEN");
      const newLen = a.size(2, "NEWLEN");
      const fixed = a.optStr("fixed");
      const may = a.pos[3] === "maymove";
      if (a.pos[3] !== undefined && !may) throw new LangError(`mremap: unknown flag '${a.pos[3]}' (maymove)`);
      a.done(4);
      const flags = (may ? MMAN.MREMAP_MAYMOVE : 0) | (fixed === undefined ? 0 : MMAN.MREMAP_FIXED | MMAN.MREMAP_MAYMOVE);
      return sysResult("mremap", p.sys.mremap(old, oldLen, newLen, flags, fixed === undefined ? 0 : a.optInt("fixed", 0)), true);
    },
  },
  {
    name: "brk",
    synopsis: "[ADDR | +SIZE]",
    help: "brk(2): without an argument prints the break; +SIZE grows it (value: the break)",
    run: ({ p }, a) => {
      const w = a.pos[0];
      a.done(1);
      const cur = p.sys.brk(0);
      if (w === undefined) return { text: va(cur), value: cur };
      const want = w.startsWith("+") ? cur + a.toSizeText(w.slice(1), "SIZE") : a.int(0, "ADDR");
      const r = p.sys.brk(want);
      return { text: r === want ? va(r) : `brk: stays at ${va(r)} (the kernel refused ${va(want)})`, value: r };
    },
  },
  {
    name: "touch",
    synopsis: "ADDR LEN [read|write]",
    help: "touch every page of a range (write by default), taking the page faults",
    run: ({ p }, a) => {
      const start = a.int(0, "ADDR");
      const len = a.size(1, "LEN");
      const mode = a.pos[2] ?? "write";
      if (mode !== "read" && mode !== "write") throw new LangError(`touch: read or write, got '${mode}'`);
      a.done(3);
      const before = p.minflt + p.majflt;
      for (let off = 0; off < len; off += 4096) {
        if (mode === "write") p.mem.write8(start + off, 1);
        else p.mem.read8(start + off);
      }
      return `touched ${Math.ceil(len / 4096)} pages (${p.minflt + p.majflt - before} page faults)`;
    },
  },
  {
    name: "write",
    synopsis: "ADDR BYTE...",
    help: "store bytes (0..255, decimal or 0x hex) at ADDR",
    run: ({ p }, a) => {
      const addr = a.int(0, "ADDR");
      const bytes = a.pos.slice(1).map((_, i) => a.int(i + 1, "BYTE", 0, 255));
      if (bytes.length === 0) throw new LangError("write: missing BYTE");
      a.done(bytes.length + 1);
      p.mem.write(addr, Uint8Array.from(bytes));
      return `wrote ${bytes.length} bytes at ${va(addr)}`;
    },
  },
  {
    name: "read",
    synopsis: "ADDR [LEN]",
    help: "load LEN bytes (default 16, at most 256) and print them in hex",
    run: ({ p }, a) => {
      const addr = a.int(0, "ADDR");
      const len = a.pos.length > 1 ? a.int(1, "LEN", 1, 256) : 16;
      a.done(2);
      const b = p.mem.read(addr, len);
      const lines: string[] = [];
      for (let i = 0; i < b.length; i += 16) {
        const hex = Array.from(b.subarray(i, i + 16), (x) => x.toString(16).padStart(2, "0")).join(" ");
        lines.push(`${va(addr + i)}: ${hex}`);
      }
      return { text: lines.join("\n"), value: b[0] as number };
    },
  },
  {
    name: "fork",
    synopsis: "CHILD",
    help: "fork(2): CHILD shares memory copy-on-write (value: its pid)",
    run: (subj, a, s) => {
      const name = a.word(0, "CHILD");
      a.done(1);
      checkNewName(s, a, name);
      const child = subj.p.fork();
      if (child === null) return { text: "fork: -ENOMEM" };
      newProcess(s, a, name, child);
      return { text: `${name}: pid ${child.pid} (child of ${subj.name})`, value: child.pid };
    },
  },
  {
    name: "exit",
    synopsis: "[STATUS]",
    help: "exit(2): the address space is torn down",
    run: (subj, a, s) => {
      const status = a.pos.length ? a.int(0, "STATUS", 0, 255) : 0;
      a.done(1);
      subj.p.exit(status);
      s.subjects.delete(subj.name);
      if (s.current === subj.name) s.current = null;
      return `${subj.name}: exited with status ${status}`;
    },
  },
  {
    name: "oom_score_adj",
    synopsis: "[ADJ]",
    help: "/proc/PID/oom_score_adj: shows it, or writes ADJ (-1000..1000, else -EINVAL; -1000 is never OOM-killed)",
    run: (subj, a) => {
      if (a.pos.length === 0) {
        a.done(0);
        return subj.p.proc.oomScoreAdj().trim();
      }
      const n = a.int(0, "ADJ", -(2 ** 31), 2 ** 31 - 1);
      a.done(1);
      const r = subj.p.setOomScoreAdj(n);
      return r < 0 ? `oom_score_adj: -${errnoName(-r)}` : `${subj.name}: oom_score_adj ${n}`;
    },
  },
];

type ProcView = (p: Process, a: LangArgs) => string;

const VIEWS: ReadonlyArray<readonly [string, string, ProcView]> = [
  ["maps", "/proc/PID/maps", (p) => p.proc.maps()],
  ["smaps", "/proc/PID/smaps", (p) => p.proc.smaps()],
  ["status", "/proc/PID/status", (p) => p.proc.status()],
  ["stat", "/proc/PID/stat: one line, minflt and majflt among its fields", (p) => p.proc.stat()],
  ["oom_score", "/proc/PID/oom_score: the OOM killer's badness scaled to 0..2000", (p) => p.proc.oomScore()],
  ["pmap", "pmap -x: size, RSS and dirty kB per mapping", (p) => renderPmap(p)],
  ["pagetable", "the page-table tree, xv6 vmprint style", (p) => p.mm.pt.vmprint()],
  ["ptdump", "mapped ranges by protection, Linux ptdump style", (p) => p.mm.pt.ptdump()],
  ["heap", "the malloc heap chunk by chunk (* = free; runs of alike chunks collapsed)", (p) => renderChunkMap(heapChunks(p))],
];

/** "was killed by SIGSEGV" or "has exited with status 3". */
export function howEnded(p: Process): string {
  return p.state === "killed" ? `was killed by ${signalName(p.exitSignal ?? 0)}` : `has exited with status ${p.exitStatus}`;
}

/** A view of a live process; a process that has ended has no memory left to show (except its status). */
function showView(name: string, view: ProcView, p: Process, a: LangArgs): string {
  if (p.state !== "running" && name !== "status")
    throw new LangError(`${a.cmd}: process ${p.pid} (${p.comm}) ${howEnded(p)}; its memory is gone`);
  return view(p, a).replace(/\n$/, "") || "(empty)";
}

for (const [name, help, view] of VIEWS) {
  PROC.push({
    name,
    synopsis: "",
    help,
    run: ({ p }, a) => {
      a.done(0);
      return showView(name, view, p, a);
    },
  });
  LANG_COMMANDS.push({
    name,
    synopsis: "[PROCESS]",
    help: `${help} (default: the process last used)`,
    run: (s, a) => {
      const { p } = procArg(s, a, 0);
      a.done(1);
      return showView(name, view, p, a);
    },
  });
}

addSubjectCommands("process", PROC);

LANG_COMMANDS.push(
  { name: "spawn", synopsis: "NAME", help: "a new process with an empty address space and a stack (value: its pid)", run: spawn },
  {
    name: "ps",
    synopsis: "",
    help: "every process: pid, state, size, resident set, faults",
    run: (s, a) => {
      a.done(0);
      return renderPs(s.m).replace(/\n$/, "");
    },
  },
);

/** The process behind a name, for other command files (explain). */
export function currentProcess(s: Session): Process | null {
  const subj = s.current === null ? undefined : s.subjects.get(s.current);
  return subj && subj.kind === "process" ? (subj as ProcSubject).p : null;
}
