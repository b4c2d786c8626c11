/**
 * The byte-exact reference model of several address spaces: plain JS data
 * that says, for every page of every process, which mapping it belongs to
 * (protection, private or shared, fork advice), what its 4096 bytes are, and
 * which other pages may legitimately share its frame. The commands
 * (as_commands.ts) change the machine and this model side by side; the
 * verifiers here compare them.
 *
 * Words: page = one 4 KiB virtual page (keyed by its page number, vpn);
 * priv = the content of a private page, shared by reference between
 * processes exactly as long as Linux may share one frame between them (after
 * fork, until a write); shm = the object behind a MAP_SHARED mapping.
 */
import type { Machine, Process } from "../../../sim/index.ts";
import { PROT_EXEC, PROT_READ, PROT_WRITE } from "../../../sim/index.ts";

export const PAGE = 4096;
/** The window fixed mappings and wild accesses aim at: WINDOW pages from BASE. */
export const BASE = 0x100000000;
export const WINDOW = 24;
export const START_BRK = 0x555555559000;
export const HEAP_MAX_PAGES = 12;
export const MAX_PROCS = 5;

/** A model assertion failed: the machine and the model disagree. */
export class ModelMismatch extends Error {
  override readonly name = "ModelMismatch";
}

export function fail(msg: string): never {
  throw new ModelMismatch(msg);
}

/** Throws ModelMismatch naming `what` unless a === b. */
export function same(a: unknown, b: unknown, what: string): void {
  if (a !== b) fail(`${what}: machine ${fmt(a)}, model ${fmt(b)}`);
}

function fmt(v: unknown): string {
  return typeof v === "number" && Number.isInteger(v) && Math.abs(v) > 4096 ? `0x${v.toString(16)}` : String(v);
}

/** Content of a private page; one object per possible frame. bytes null = all zero (never written). */
export class Priv {
  refs = 1;
  /** MADV_FREE marked it (PG_lazyfree): reclaim drops it from every page holding it unless one of their entries is dirty. */
  lazy = false;
  /** Dirty as a whole (PG_dirty): reclaim found a dirty entry on it while it was marked; MADV_FREE skips it while shared. */
  dirty = false;
  constructor(public bytes: Uint8Array | null) {}
}

/** A MAP_SHARED object: its pages' bytes (null = zero) and how many pages it has (beyond: SIGBUS). */
export class Shm {
  constructor(
    readonly id: number,
    readonly pages: Array<Uint8Array | null>,
  ) {}
}

/** One virtual page of one process. */
export interface MPage {
  prot: number;
  /** Private content (null: never written, reads as zero); unused for a shared page. */
  priv: Priv | null;
  /** The shared object and the page's index in it; null for a private page. */
  shm: Shm | null;
  index: number;
  /** Which mmap made the VMA this page was last given attributes by (one VMA for sure when equal). */
  tag: number;
  wipe: boolean;
  dontfork: boolean;
  heap: boolean;
  /** Advice bits that only change VMA flags (random, sequential, dontdump): they split VMAs too. */
  adv: number;
  /** The private page's entry is dirty (a store or a write fault set D; fork copies it; MADV_FREE cleans it). */
  dirty?: boolean;
}

export interface MProc {
  pages: Map<number, MPage>;
  brk: number;
}

/** The model of a whole machine's user memory. */
export interface Model {
  procs: Array<MProc | null>;
  nextTag: number;
  nextShm: number;
  /** The page the last addressed command started at. */
  hot: number;
  /** The process the last command acted on (or forked). */
  hotProc: number;
  /** Counters for the soak summary. */
  stats: { commands: number; faults: number; forks: number; checks: number };
}

export interface Real {
  m: Machine;
  procs: Array<Process | null>;
  /** Commands since the last full verification. */
  sinceFull: number;
  /** Verify every page of every process every `fullEvery` commands. */
  fullEvery: number;
}

export function newModel(): Model {
  return { procs: [], nextTag: 1, nextShm: 1, hot: BASE / PAGE, hotProc: 0, stats: { commands: 0, faults: 0, forks: 0, checks: 0 } };
}

export const readable = (prot: number) => (prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) !== 0;
export const writable = (prot: number) => (prot & PROT_WRITE) !== 0;

/** The live processes' slots, in order. */
export function liveSlots(model: Model): number[] {
  const out: number[] = [];
  model.procs.forEach((p, k) => {
    if (p) out.push(k);
  });
  return out;
}

/** The slot `who` designates among the live processes, or -1 when none is alive. */
export function pick(model: Model, who: number): number {
  const live = liveSlots(model);
  if (live.length === 0) return -1;
  // who % 3 == 0: the process the last command acted on, so one process's story builds up.
  if (who % 3 === 0 && model.procs[model.hotProc]) return model.hotProc;
  model.hotProc = live[Math.floor(who / 3) % live.length] as number;
  return model.hotProc;
}

/** The bytes page `pg` reads as (a shared array for zero pages; do not write it). */
const ZERO = new Uint8Array(PAGE);
export function pageBytes(pg: MPage): Uint8Array {
  if (pg.shm) return (pg.shm.pages[pg.index] as Uint8Array | null | undefined) ?? ZERO;
  return pg.priv?.bytes ?? ZERO;
}

/** True when a load of page `pg` succeeds; a shared page past its object's end raises SIGBUS on Linux. */
export function inObject(pg: MPage): boolean {
  return pg.shm === null || pg.index < pg.shm.pages.length;
}

/** Drops the page's hold on its private content. */
export function releasePage(pg: MPage): void {
  if (pg.priv) pg.priv.refs--;
  pg.priv = null;
  pg.dirty = false;
}

/** Makes page `pg` of a process writable content of its own and returns its bytes (the COW break). */
export function writableBytes(pg: MPage): Uint8Array {
  if (pg.shm) {
    let b = pg.shm.pages[pg.index] ?? null;
    if (!b) {
      b = new Uint8Array(PAGE);
      pg.shm.pages[pg.index] = b;
    }
    return b;
  }
  const p = pg.priv;
  // The store sets the entry's dirty bit; a marked page written in place stays marked until reclaim sees it.
  pg.dirty = true;
  if (p && p.refs === 1) {
    if (!p.bytes) p.bytes = new Uint8Array(PAGE);
    return p.bytes;
  }
  const bytes = p?.bytes ? p.bytes.slice() : new Uint8Array(PAGE);
  if (p) p.refs--;
  pg.priv = new Priv(bytes);
  return bytes;
}

/** Removes a process from the model (exit or death): its holds on private content go. */
export function dropProc(model: Model, slot: number): void {
  const mp = model.procs[slot];
  if (!mp) return;
  for (const pg of mp.pages.values()) releasePage(pg);
  model.procs[slot] = null;
}

/** Page numbers of a process's mapped pages outside the heap, in order. */
export function mappedVpns(mp: MProc): number[] {
  const out: number[] = [];
  for (const [vpn, pg] of mp.pages) if (!pg.heap) out.push(vpn);
  return out.sort((a, b) => a - b);
}

/**
 * Compares every readable page of [startVpn, endVpn) of process `slot` with
 * the model, byte for byte. A page the model holds as unmapped is not read
 * (its faulting is tested by the access commands).
 */
export function verifyRange(model: Model, real: Real, slot: number, startVpn: number, endVpn: number): void {
  const mp = model.procs[slot];
  const p = real.procs[slot];
  if (!mp || !p) return;
  same(p.state, "running", `process #${slot} state`);
  if (endVpn - startVpn > 4 * WINDOW) {
    for (const [vpn, pg] of mp.pages) if (vpn >= startVpn && vpn < endVpn) verifyPage(p, slot, vpn, pg);
    return;
  }
  for (let vpn = startVpn; vpn < endVpn; vpn++) {
    const pg = mp.pages.get(vpn);
    if (pg) verifyPage(p, slot, vpn, pg);
  }
}

function verifyPage(p: Process, slot: number, vpn: number, pg: MPage): void {
  if (!readable(pg.prot) || !inObject(pg)) return;
  const got = p.mem.read(vpn * PAGE, PAGE);
  const want = pageBytes(pg);
  if (Buffer.compare(got, want) === 0) return;
  let i = 0;
  while (got[i] === want[i]) i++;
  fail(
    `process #${slot} reads 0x${(got[i] as number).toString(16)} at 0x${(vpn * PAGE + i).toString(16)}; the model says 0x${(want[i] as number).toString(16)}`,
  );
}

/** Every page of every process against the model. */
export function verifyAll(model: Model, real: Real): void {
  for (const slot of liveSlots(model)) verifyRange(model, real, slot, 0, Number.MAX_SAFE_INTEGER);
}

/** Checks after a command: the range it touched, in every process; sometimes everything; the checkers. */
export function afterCommand(model: Model, real: Real, startVpn: number, endVpn: number): void {
  model.stats.commands++;
  for (const slot of liveSlots(model)) verifyRange(model, real, slot, startVpn, endVpn);
  if (++real.sinceFull >= real.fullEvery) {
    real.sinceFull = 0;
    verifyAll(model, real);
  }
  real.m.check();
  model.stats.checks++;
}
