/**
 * The commands of the multi-process address-space model: each runs one
 * operation on the machine and on the model (as_model.ts), compares the
 * result with the model's prediction, then compares the touched range of
 * every process byte for byte, walks every page table for isolation
 * (as_isolation.ts) and runs the machine's checkers.
 *
 * Addresses are chosen when a command runs, from the model: `sel` even picks
 * one of the process's mapped pages, odd a page of the fixed window, so most
 * operations land on mapped memory and some on holes.
 */
import fc from "fast-check";
import {
  BUS_ADRERR,
  BusError,
  EEXIST,
  EFAULT,
  EINVAL,
  ENOMEM,
  MADV_DODUMP,
  MADV_DOFORK,
  MADV_DONTDUMP,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_KEEPONFORK,
  MADV_MERGEABLE,
  MADV_NORMAL,
  MADV_PAGEOUT,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MADV_WIPEONFORK,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PAGE_OFFSET,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  type Process,
  PTE_P,
  SEGV_ACCERR,
  SEGV_MAPERR,
  SegmentationFault,
  SIGBUS,
  SIGSEGV,
} from "../../../sim/index.ts";
import { checkIsolation } from "./as_isolation.ts";
import {
  afterCommand,
  BASE,
  dropProc,
  fail,
  HEAP_MAX_PAGES,
  inObject,
  liveSlots,
  MAX_PROCS,
  type Model,
  type MPage,
  type MProc,
  mappedVpns,
  PAGE,
  Priv,
  pageBytes,
  pick,
  type Real,
  readable,
  releasePage,
  Shm,
  START_BRK,
  same,
  verifyRange,
  WINDOW,
  writable,
  writableBytes,
} from "./as_model.ts";

type Cmd = fc.Command<Model, Real>;
const BASE_VPN = BASE / PAGE;
const HEAP_VPN = START_BRK / PAGE;

/**
 * The page `sel` designates: sel % 3 == 0 the page the last command started
 * at (stories stay on one page long enough to build up state there), 1 one of
 * the process's mapped pages, 2 a page of the window (maybe a hole).
 */
function resolveVpn(model: Model, mp: MProc, sel: number): number {
  const n = Math.floor(sel / 3);
  let vpn = BASE_VPN + (n % WINDOW);
  if (sel % 3 === 0 && mp.pages.has(model.hot) && !mp.pages.get(model.hot)?.heap) vpn = model.hot;
  else if (sel % 3 !== 2) {
    const v = mappedVpns(mp);
    if (v.length > 0) vpn = v[n % v.length] as number;
  }
  model.hot = vpn;
  return vpn;
}

/** Same VMA attributes: pages with different ones cannot be in one VMA. */
function sameAttrs(a: MPage, b: MPage, bIndexStep: number): boolean {
  if (a.prot !== b.prot || a.wipe !== b.wipe || a.dontfork !== b.dontfork || a.heap !== b.heap || a.adv !== b.adv) return false;
  if (a.shm !== b.shm) return false;
  return a.shm === null || b.index === a.index + bIndexStep;
}

/** Gives the pages of [s, e) new attributes; each old VMA's part becomes one new VMA (a fresh tag per old tag). */
function retag(model: Model, mp: MProc, s: number, e: number, change: (pg: MPage) => void): void {
  const tags = new Map<number, number>();
  for (let v = s; v < e; v++) {
    const pg = mp.pages.get(v);
    if (!pg) continue;
    let t = tags.get(pg.tag);
    if (t === undefined) {
      t = model.nextTag++;
      tags.set(pg.tag, t);
    }
    pg.tag = t;
    change(pg);
  }
}

function newPage(model: Model, tag: number, prot: number, shm: Shm | null, index: number): MPage {
  void model;
  return { prot, priv: null, shm, index, tag, wipe: false, dontfork: false, heap: false, adv: 0 };
}

function unmapModel(mp: MProc, s: number, e: number): void {
  for (let v = s; v < e; v++) {
    const pg = mp.pages.get(v);
    if (pg) {
      releasePage(pg);
      mp.pages.delete(v);
    }
  }
}

function rangeFree(mp: MProc, s: number, e: number): boolean {
  for (let v = s; v < e; v++) if (mp.pages.has(v)) return false;
  return true;
}

function expectFreeAt(mp: MProc, r: number, n: number, what: string): void {
  if (r < 0 || r % PAGE !== 0) fail(`${what} returned ${r}`);
  if (!rangeFree(mp, r / PAGE, r / PAGE + n)) fail(`${what} returned 0x${r.toString(16)}, which the model holds as mapped`);
}

function proc(real: Real, slot: number): Process {
  return real.procs[slot] as Process;
}

function finish(model: Model, real: Real, s: number, e: number): void {
  afterCommand(model, real, s, e);
  checkIsolation(model, real);
}

const PROTS = [
  0,
  PROT_READ,
  PROT_WRITE,
  PROT_READ | PROT_WRITE,
  PROT_EXEC,
  PROT_READ | PROT_EXEC,
  PROT_READ | PROT_WRITE | PROT_EXEC,
  PROT_WRITE | PROT_EXEC,
];
type Placement = "fixed" | "noreplace" | "hint" | "any";

/** fork in the model: the child's pages share the parent's content (COW); DONTFORK pages stay, WIPEONFORK ones start empty. */
function forkModel(model: Model, k: number): number {
  const mp = model.procs[k] as MProc;
  const pages = new Map<number, MPage>();
  for (const [v, pg] of mp.pages) {
    if (pg.dontfork) continue;
    const wiped = pg.wipe && !pg.shm;
    const c = { ...pg, priv: wiped ? null : pg.priv, dirty: wiped ? false : pg.dirty };
    if (c.priv) c.priv.refs++;
    pages.set(v, c);
  }
  model.procs.push({ pages, brk: mp.brk });
  model.stats.forks++;
  model.hotProc = model.procs.length - 1;
  return model.hotProc;
}

class Spawn implements Cmd {
  check = (m: Readonly<Model>) => liveSlots(m as Model).length < MAX_PROCS;
  run(model: Model, real: Real): void {
    real.procs.push(real.m.spawn("model"));
    model.procs.push({ pages: new Map(), brk: START_BRK });
    finish(model, real, 0, 0);
  }
  toString = () => "spawn";
}

export class Fork implements Cmd {
  constructor(readonly who: number) {}
  check = (m: Readonly<Model>) => liveSlots(m as Model).length < MAX_PROCS;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    if (k < 0) return;
    const child = proc(real, k).fork();
    if (child === null) fail(`fork of #${k} failed`);
    real.procs.push(child);
    const slot = forkModel(model, k);
    verifyRange(model, real, k, 0, Number.MAX_SAFE_INTEGER);
    verifyRange(model, real, slot, 0, Number.MAX_SAFE_INTEGER);
    finish(model, real, 0, 0);
  }
  toString = () => `fork(#${this.who})`;
}

class Exit implements Cmd {
  constructor(readonly who: number) {}
  check = (m: Readonly<Model>) => liveSlots(m as Model).length > 1;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    proc(real, k).exit(0);
    real.procs[k] = null;
    dropProc(model, k);
    finish(model, real, BASE_VPN, BASE_VPN + WINDOW);
  }
  toString = () => `exit(#${this.who})`;
}

export class Mmap implements Cmd {
  constructor(
    readonly who: number,
    readonly at: number,
    readonly n: number,
    readonly prot: number,
    readonly shared: boolean,
    readonly placement: Placement,
    readonly populate: boolean,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    if (k < 0) return;
    const mp = model.procs[k] as MProc;
    const s = BASE_VPN + this.at;
    const place = { fixed: MAP_FIXED, noreplace: MAP_FIXED_NOREPLACE, hint: 0, any: 0 }[this.placement];
    const flags = (this.shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | place | (this.populate ? MAP_POPULATE : 0);
    const r = proc(real, k).sys.mmap(this.placement === "any" ? 0 : s * PAGE, this.n * PAGE, this.prot, flags, -1, 0);
    const what = `${this}`;
    if (this.placement === "fixed") same(r, s * PAGE, what);
    else if (this.placement === "noreplace") {
      same(r, rangeFree(mp, s, s + this.n) ? s * PAGE : -EEXIST, what);
      if (r < 0) {
        finish(model, real, s, s + this.n);
        return;
      }
    } else if (this.placement === "hint" && rangeFree(mp, s, s + this.n)) same(r, s * PAGE, what);
    else expectFreeAt(mp, r, this.n, what);
    const at = r / PAGE;
    model.hot = at;
    unmapModel(mp, at, at + this.n);
    const tag = model.nextTag++;
    const shm = this.shared ? new Shm(model.nextShm++, new Array(this.n).fill(null)) : null;
    for (let i = 0; i < this.n; i++) {
      const pg = newPage(model, tag, this.prot, shm, i);
      // MAP_POPULATE faults a writable private mapping in as writes: a frame of its own, zero.
      if (this.populate && !shm && writable(this.prot)) {
        pg.priv = new Priv(null);
        pg.dirty = true;
      }
      mp.pages.set(at + i, pg);
    }
    finish(model, real, at, at + this.n);
  }
  toString = () =>
    `mmap(#${this.who}, window+${this.at}, ${this.n}p, prot ${this.prot}, ${this.shared ? "shared" : "private"}, ${this.placement}${this.populate ? ", populate" : ""})`;
}

class Munmap implements Cmd {
  constructor(
    readonly who: number,
    readonly sel: number,
    readonly n: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    if (k < 0) return;
    const mp = model.procs[k] as MProc;
    const s = resolveVpn(model, mp, this.sel);
    same(proc(real, k).sys.munmap(s * PAGE, this.n * PAGE), 0, `${this}`);
    unmapModel(mp, s, s + this.n);
    finish(model, real, s, s + this.n);
  }
  toString = () => `munmap(#${this.who}, sel ${this.sel}, ${this.n}p)`;
}

class Mprotect implements Cmd {
  constructor(
    readonly who: number,
    readonly sel: number,
    readonly n: number,
    readonly prot: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    if (k < 0) return;
    const mp = model.procs[k] as MProc;
    const s = resolveVpn(model, mp, this.sel);
    let e = s;
    while (e < s + this.n && mp.pages.has(e)) e++;
    const want = e < s + this.n ? -ENOMEM : 0;
    same(proc(real, k).sys.mprotect(s * PAGE, this.n * PAGE, this.prot), want, `${this}`);
    retag(model, mp, s, e, (pg) => {
      pg.prot = this.prot;
    });
    finish(model, real, s, s + this.n);
  }
  toString = () => `mprotect(#${this.who}, sel ${this.sel}, ${this.n}p, prot ${this.prot})`;
}

const ADVICES = [
  MADV_DONTNEED,
  MADV_FREE,
  MADV_WIPEONFORK,
  MADV_KEEPONFORK,
  MADV_DONTFORK,
  MADV_DOFORK,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MADV_DONTDUMP,
  MADV_DODUMP,
  MADV_MERGEABLE,
];
const ADV_RAND = 1;
const ADV_SEQ = 2;
const ADV_NODUMP = 4;

/** What one advice does to one page; returns false when the call fails with -EINVAL at this page. */
function advisePage(pg: MPage, advice: number): boolean {
  switch (advice) {
    case MADV_DONTNEED:
      if (!pg.shm) releasePage(pg);
      return true;
    case MADV_FREE:
      if (pg.shm) return false;
      // madvise_free_pte_range: a page dirty as a whole is skipped while shared, else cleaned and marked, and this entry cleaned.
      if (pg.priv && !(pg.priv.dirty && pg.priv.refs > 1)) {
        pg.priv.dirty = false;
        pg.priv.lazy = true;
        pg.dirty = false;
      }
      return true;
    case MADV_WIPEONFORK:
      if (pg.shm) return false;
      pg.wipe = true;
      return true;
    case MADV_KEEPONFORK:
      // Linux accepts KEEPONFORK on any mapping, shared too (kernel/LINUX.md, round 2 item 9).
      pg.wipe = false;
      return true;
    case MADV_DONTFORK:
    case MADV_DOFORK:
      pg.dontfork = advice === MADV_DONTFORK;
      return true;
    case MADV_RANDOM:
      pg.adv = (pg.adv & ~ADV_SEQ) | ADV_RAND;
      return true;
    case MADV_SEQUENTIAL:
      pg.adv = (pg.adv & ~ADV_RAND) | ADV_SEQ;
      return true;
    case MADV_NORMAL:
      pg.adv &= ~(ADV_RAND | ADV_SEQ);
      return true;
    case MADV_DONTDUMP:
      pg.adv |= ADV_NODUMP;
      return true;
    case MADV_DODUMP:
      pg.adv &= ~ADV_NODUMP;
      return true;
    default:
      return true;
  }
}

/** True when page `vpn` of `p` is swapped out: its entry is a swap entry (non-zero, not present). Read through the page table. */
function swappedOut(p: Process, vpn: number): boolean {
  const pt = p.mm.pt;
  const ptep = pt.lookup(vpn * PAGE);
  return ptep >= 0 && pt.leafLevel === 1 && !pt.pteNone(ptep) && (pt.pteFlags(ptep) & PTE_P) === 0;
}

export class Madvise implements Cmd {
  constructor(
    readonly who: number,
    readonly sel: number,
    readonly n: number,
    readonly advice: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    if (k < 0) return;
    const mp = model.procs[k] as MProc;
    const s = resolveVpn(model, mp, this.sel);
    // MADV_FREE drops swap entries at once (their pages read zero); a resident page only becomes lazily freeable.
    const dropped: MPage[] = [];
    if (this.advice === MADV_FREE) {
      // The walk stops with -EINVAL at the first shared page; the pages before it are advised.
      for (let v = s; v < s + this.n; v++) {
        const pg = mp.pages.get(v);
        if (pg?.shm) break;
        if (pg && swappedOut(proc(real, k), v)) dropped.push(pg);
      }
    }
    let want = 0;
    if (this.advice === MADV_MERGEABLE) want = -EINVAL;
    else {
      const tags = new Map<number, number>();
      for (let v = s; v < s + this.n; v++) {
        const pg = mp.pages.get(v);
        if (!pg) {
          want = -ENOMEM;
          continue;
        }
        const before = { wipe: pg.wipe, dontfork: pg.dontfork, adv: pg.adv };
        if (!advisePage(pg, this.advice)) {
          want = -EINVAL;
          break;
        }
        // A flag change splits the VMA: each old VMA's changed part is one new VMA.
        if (before.wipe !== pg.wipe || before.dontfork !== pg.dontfork || before.adv !== pg.adv) {
          let t = tags.get(pg.tag);
          if (t === undefined) {
            t = model.nextTag++;
            tags.set(pg.tag, t);
          }
          pg.tag = t;
        }
      }
    }
    same(proc(real, k).sys.madvise(s * PAGE, this.n * PAGE, this.advice), want, `${this}`);
    for (const pg of dropped) releasePage(pg);
    finish(model, real, s, s + this.n);
  }
  toString = () => `madvise(#${this.who}, sel ${this.sel}, ${this.n}p, advice ${this.advice})`;
}

/**
 * MADV_PAGEOUT with swap: the content of every page stays as it was (the
 * next access reads it back). Which pages went out is the machine's choice
 * (those only this mapping uses); a page that went out is no longer lazily
 * freeable, since the frame MADV_FREE marked is gone.
 */
class Pageout implements Cmd {
  constructor(
    readonly who: number,
    readonly sel: number,
    readonly n: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    if (k < 0) return;
    const mp = model.procs[k] as MProc;
    const s = resolveVpn(model, mp, this.sel);
    let want = 0;
    for (let v = s; v < s + this.n; v++) if (!mp.pages.has(v)) want = -ENOMEM;
    same(proc(real, k).sys.madvise(s * PAGE, this.n * PAGE, MADV_PAGEOUT), want, `${this}`);
    for (let v = s; v < s + this.n; v++) {
      const pg = mp.pages.get(v);
      if (pg?.priv && swappedOut(proc(real, k), v)) pg.priv.lazy = false;
    }
    finish(model, real, s, s + this.n);
  }
  toString = () => `pageout(#${this.who}, sel ${this.sel}, ${this.n}p)`;
}

type RemapMode = "inplace" | "maymove" | "fixed" | "dontunmap" | "dontunmap-fixed";
const REMAP_FLAGS: Record<RemapMode, number> = {
  inplace: 0,
  maymove: MREMAP_MAYMOVE,
  fixed: MREMAP_MAYMOVE | MREMAP_FIXED,
  dontunmap: MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
  "dontunmap-fixed": MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED,
};

/** Whether [s, s + n) lies in one VMA: "yes", "no", or "maybe" (pages alike but from different mappings). */
function oneVma(mp: MProc, s: number, n: number): "yes" | "no" | "maybe" {
  const first = mp.pages.get(s) as MPage;
  let verdict: "yes" | "maybe" = "yes";
  for (let v = s + 1; v < s + n; v++) {
    const pg = mp.pages.get(v);
    if (!pg || !sameAttrs(first, pg, v - s)) return "no";
    if (pg.tag !== first.tag) verdict = "maybe";
  }
  return verdict;
}

class Mremap implements Cmd {
  constructor(
    readonly who: number,
    readonly sel: number,
    readonly oldN: number,
    readonly newN: number,
    readonly mode: RemapMode,
    readonly target: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    if (k < 0) return;
    const mp = model.procs[k] as MProc;
    const s = resolveVpn(model, mp, this.sel);
    const dont = this.mode.startsWith("dontunmap");
    const fixed = this.mode === "fixed" || this.mode === "dontunmap-fixed";
    const newN = dont ? this.oldN : this.newN;
    const t = BASE_VPN + this.target;
    const r = proc(real, k).sys.mremap(s * PAGE, this.oldN * PAGE, newN * PAGE, REMAP_FLAGS[this.mode], fixed ? t * PAGE : 0);
    const what = `${this}`;
    const done = (extra: number[]) => {
      for (const slot of liveSlots(model))
        for (let i = 0; i < extra.length; i += 2) verifyRange(model, real, slot, extra[i] as number, extra[i + 1] as number);
      finish(model, real, s, s + Math.max(this.oldN, newN));
    };
    if (!mp.pages.has(s) || mp.pages.get(s)?.heap) {
      same(r, mp.pages.has(s) ? r : -EFAULT, what);
      if (mp.pages.has(s)) fail(`${what}: the heap is not remapped by this model`);
      done([]);
      return;
    }
    let oldN = this.oldN;
    if (fixed) {
      if (s + oldN > t && t + newN > s) {
        same(r, -EINVAL, what);
        done([]);
        return;
      }
      unmapModel(mp, t, t + newN);
      if (oldN > newN) {
        unmapModel(mp, s + newN, s + oldN);
        oldN = newN;
      }
    } else if (!dont && oldN >= newN) {
      same(r, s * PAGE, what);
      unmapModel(mp, s + newN, s + oldN);
      done([]);
      return;
    }
    const one = oneVma(mp, s, oldN);
    if (one === "no" || (one === "maybe" && r === -EFAULT)) {
      same(r, -EFAULT, what);
      done(fixed ? [t, t + newN] : []);
      return;
    }
    if (!fixed && !dont && !mp.pages.has(s + oldN) && rangeFree(mp, s + oldN, s + newN)) {
      same(r, s * PAGE, what);
      const first = mp.pages.get(s) as MPage;
      for (let i = oldN; i < newN; i++) mp.pages.set(s + i, { ...first, priv: null, index: first.index + i });
      done([]);
      return;
    }
    if (this.mode === "inplace") {
      same(r, -ENOMEM, what);
      done([]);
      return;
    }
    if (fixed) same(r, t * PAGE, what);
    else expectFreeAt(mp, r, newN, what);
    this.move(model, mp, s, oldN, newN, r / PAGE, dont);
    done([r / PAGE, r / PAGE + newN]);
    return;
  }

  /** move_vma in the model: the pages travel, the rest is new; the old range goes unless DONTUNMAP. */
  private move(model: Model, mp: MProc, s: number, oldN: number, newN: number, to: number, dont: boolean): void {
    const moved: MPage[] = [];
    for (let i = 0; i < oldN; i++) moved.push(mp.pages.get(s + i) as MPage);
    const first = moved[0] as MPage;
    const tag = model.nextTag++;
    if (dont) {
      // The old VMA stays, empty: private pages read zero again, shared ones find their object.
      for (let i = 0; i < oldN; i++) mp.pages.set(s + i, { ...(moved[i] as MPage), priv: null });
    } else for (let i = 0; i < oldN; i++) mp.pages.delete(s + i);
    for (let i = 0; i < newN; i++) {
      const src = moved[i];
      mp.pages.set(to + i, src ? { ...src, tag } : { ...first, tag, priv: null, index: first.index + i });
    }
  }

  toString = () => `mremap(#${this.who}, sel ${this.sel}, ${this.oldN}p -> ${this.newN}p, ${this.mode}, window+${this.target})`;
}

class Brk implements Cmd {
  constructor(
    readonly who: number,
    readonly pages: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    if (k < 0) return;
    const mp = model.procs[k] as MProc;
    const want = START_BRK + this.pages * PAGE;
    same(proc(real, k).sys.brk(want), want, `${this}`);
    const old = (mp.brk - START_BRK) / PAGE;
    unmapModel(mp, HEAP_VPN + this.pages, HEAP_VPN + old);
    for (let i = old; i < this.pages; i++) {
      const pg = newPage(model, 0, PROT_READ | PROT_WRITE, null, 0);
      pg.heap = true;
      mp.pages.set(HEAP_VPN + i, pg);
    }
    mp.brk = want;
    finish(model, real, HEAP_VPN, HEAP_VPN + HEAP_MAX_PAGES);
  }
  toString = () => `brk(#${this.who}, +${this.pages}p)`;
}

type Width = "bytes" | 1 | 2 | 4;

/** Where an access of [va, va + len) first faults by the model, and how; null when it does not. */
interface Fault {
  addr: number;
  code: number;
  signo?: number;
}

function predictFault(mp: MProc, va: number, len: number, write: boolean): Fault | null {
  for (let at = va; at < va + len; at = (Math.floor(at / PAGE) + 1) * PAGE) {
    const pg = mp.pages.get(Math.floor(at / PAGE));
    if (!pg) return { addr: at, code: SEGV_MAPERR, signo: SIGSEGV };
    if (!(write ? writable(pg.prot) : readable(pg.prot))) return { addr: at, code: SEGV_ACCERR, signo: SIGSEGV };
    if (!inObject(pg)) return { addr: at, code: BUS_ADRERR, signo: SIGBUS };
  }
  return null;
}

/** The process was killed by the access: the signal and code the model predicted. */
function expectKilled(model: Model, real: Real, k: number, err: unknown, want: Fault, what: string): void {
  if (!(err instanceof SegmentationFault || err instanceof BusError)) throw err;
  same(err.signo, want.signo ?? SIGSEGV, `${what}: signal`);
  same(err.code, want.code, `${what}: si_code`);
  same(err.addr, want.addr, `${what}: si_addr`);
  const p = proc(real, k);
  same(p.state, "killed", `${what}: state`);
  same(p.exitSignal, want.signo ?? SIGSEGV, `${what}: exit signal`);
  real.procs[k] = null;
  dropProc(model, k);
  model.stats.faults++;
}

export class Access implements Cmd {
  constructor(
    readonly who: number,
    readonly sel: number,
    readonly offset: number,
    readonly len: number,
    readonly width: Width,
    readonly write: boolean,
    readonly seed: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    if (k < 0) return;
    const mp = model.procs[k] as MProc;
    const s = resolveVpn(model, mp, this.sel);
    const va = s * PAGE + this.offset;
    const len = this.width === "bytes" ? this.len : this.width;
    const bytes = new Uint8Array(len);
    for (let i = 0; i < len; i++) bytes[i] = (this.seed + i * 29) & 255;
    const want = predictFault(mp, va, len, this.write);
    const limit = want ? want.addr - va : len;
    // Most faulting accesses are made by a forked child (a probe), so the story goes on.
    if (want && (this.seed % 4 !== 0 || liveSlots(model).length === 1)) {
      this.probe(model, real, k, s, va, bytes, want);
      return;
    }
    const p = proc(real, k);
    let got: Uint8Array | null = null;
    try {
      if (this.write) this.store(p, va, bytes);
      else got = this.load(p, va, len);
    } catch (err) {
      if (!want) throw err;
      if (this.write) this.applyStore(mp, va, bytes, limit);
      expectKilled(model, real, k, err, want, `${this}`);
      finish(model, real, s, s + 3);
      return;
    }
    if (want) fail(`${this}: the model says it faults at 0x${want.addr.toString(16)} (code ${want.code}); it did not`);
    if (this.write) this.applyStore(mp, va, bytes, len);
    else this.compareLoad(mp, va, got as Uint8Array);
    finish(model, real, s, s + 3);
  }

  private probe(model: Model, real: Real, k: number, s: number, va: number, bytes: Uint8Array, parentFault: Fault): void {
    const child = proc(real, k).fork();
    if (child === null) fail(`${this}: fork for the probe failed`);
    let want = parentFault;
    real.procs.push(child);
    const slot = forkModel(model, k);
    // The child may lack a DONTFORK page: it faults where its own model says.
    want = predictFault(model.procs[slot] as MProc, va, bytes.length, this.write) ?? want;
    try {
      if (this.write) this.store(child, va, bytes);
      else this.load(child, va, bytes.length);
    } catch (err) {
      if (this.write) this.applyStore(model.procs[slot] as MProc, va, bytes, want.addr - va);
      expectKilled(model, real, slot, err, want, `${this} (in a forked child)`);
      finish(model, real, s, s + 3);
      return;
    }
    fail(`${this}: the model says it faults at 0x${want.addr.toString(16)} (code ${want.code}); it did not`);
  }

  private store(p: Process, va: number, bytes: Uint8Array): void {
    const v = bytes.length === 1 ? (bytes[0] as number) : bytes.length === 2 ? (bytes[0] as number) | ((bytes[1] as number) << 8) : 0;
    if (this.width === 1) p.mem.write8(va, v);
    else if (this.width === 2) p.mem.write16(va, v);
    else if (this.width === 4) p.mem.write32(va, new DataView(bytes.buffer).getUint32(0, true));
    else p.mem.write(va, bytes);
  }

  private load(p: Process, va: number, len: number): Uint8Array {
    if (this.width === "bytes") return p.mem.read(va, len);
    const out = new Uint8Array(4);
    const dv = new DataView(out.buffer);
    if (this.width === 1) dv.setUint8(0, p.mem.read8(va));
    else if (this.width === 2) dv.setUint16(0, p.mem.read16(va), true);
    else dv.setUint32(0, p.mem.read32(va), true);
    return out.subarray(0, len);
  }

  private applyStore(mp: MProc, va: number, bytes: Uint8Array, upto: number): void {
    for (let i = 0; i < upto; ) {
      const at = va + i;
      const chunk = Math.min(upto - i, PAGE - (at % PAGE));
      writableBytes(mp.pages.get(Math.floor(at / PAGE)) as MPage).set(bytes.subarray(i, i + chunk), at % PAGE);
      i += chunk;
    }
  }

  private compareLoad(mp: MProc, va: number, got: Uint8Array): void {
    for (let i = 0; i < got.length; i++) {
      const at = va + i;
      const b = pageBytes(mp.pages.get(Math.floor(at / PAGE)) as MPage)[at % PAGE];
      if (got[i] !== b) fail(`${this}: byte at 0x${at.toString(16)} reads ${got[i]}, the model says ${b}`);
    }
  }

  toString = () =>
    `${this.write ? "store" : "load"}(#${this.who}, sel ${this.sel}+${this.offset}, ${this.width === "bytes" ? `${this.len} bytes` : `u${this.width * 8}`}, seed ${this.seed})`;
}

/** A user access to a kernel address (the direct map, vmalloc, page tables): SIGSEGV with SEGV_MAPERR. */
class KernelAccess implements Cmd {
  constructor(
    readonly who: number,
    readonly offset: number,
    readonly write: boolean,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    let k = pick(model, this.who);
    if (k < 0) return;
    const va = PAGE_OFFSET + (this.offset % real.m.config.ramBytes);
    let p = proc(real, k);
    if (liveSlots(model).length === 1) {
      // The last process stays: a forked child makes the access.
      p = p.fork() ?? fail(`${this}: fork failed`);
      real.procs.push(p);
      k = forkModel(model, k);
    }
    try {
      if (this.write) p.mem.write8(va, 0x5a);
      else p.mem.read8(va);
    } catch (err) {
      expectKilled(model, real, k, err, { addr: va, code: SEGV_MAPERR }, `${this}`);
      finish(model, real, 0, 0);
      return;
    }
    fail(`${this}: a user access to kernel address 0x${va.toString(16)} succeeded`);
  }
  toString = () => `kernel-${this.write ? "store" : "load"}(#${this.who}, direct map +0x${this.offset.toString(16)})`;
}

/**
 * Memory pressure: a page MADV_FREE marked goes from every page holding it
 * when none of their entries is dirty; else it becomes dirty as a whole and
 * ordinary again, and stays in all of them (kernel/LINUX.md, round 2 item 4).
 */
export class Reclaim implements Cmd {
  check = () => true;
  run(model: Model, real: Real): void {
    real.m.kernel.reclaimLazyFree();
    const holders = new Map<Priv, MPage[]>();
    for (const mp of model.procs) {
      if (!mp) continue;
      for (const pg of mp.pages.values()) if (pg.priv?.lazy) holders.set(pg.priv, [...(holders.get(pg.priv) ?? []), pg]);
    }
    for (const [priv, pages] of holders) {
      if (pages.some((pg) => pg.dirty)) {
        priv.lazy = false;
        priv.dirty = true;
      } else for (const pg of pages) releasePage(pg);
    }
    finish(model, real, BASE_VPN, BASE_VPN + WINDOW);
  }
  toString = () => "reclaim";
}

const who = fc.nat(31);
const sel = fc.nat(1535);
const pages = fc.integer({ min: 1, max: 8 });
const prot = fc.constantFrom(...PROTS);

/** Every command of the model, weighted towards accesses. */
export function addressSpaceCommands(): Array<fc.Arbitrary<Cmd>> {
  const access = fc
    .tuple(
      who,
      sel,
      fc.oneof(fc.nat(PAGE - 1), fc.integer({ min: PAGE - 8, max: PAGE - 1 })),
      fc.integer({ min: 1, max: 2 * PAGE + 100 }),
      fc.constantFrom<Width>("bytes", "bytes", 1, 2, 4),
      fc.boolean(),
      fc.nat(255),
    )
    .map(([w, s, o, l, wd, wr, sd]) => new Access(w, s, o, l, wd, wr, sd) as Cmd);
  return [
    fc.constant(new Spawn() as Cmd),
    who.map((w) => new Fork(w) as Cmd),
    who.map((w) => new Fork(w) as Cmd),
    who.map((w) => new Exit(w) as Cmd),
    fc
      .tuple(
        who,
        fc.nat(WINDOW - 1),
        pages,
        prot,
        fc.boolean(),
        fc.constantFrom<Placement>("fixed", "fixed", "noreplace", "hint", "any"),
        fc.boolean(),
      )
      .map(([w, a, n, p, sh, pl, po]) => new Mmap(w, a, n, p, sh, pl, po && n <= 2) as Cmd),
    fc.tuple(who, sel, pages).map(([w, s, n]) => new Munmap(w, s, n) as Cmd),
    fc.tuple(who, sel, pages, prot).map(([w, s, n, p]) => new Mprotect(w, s, n, p) as Cmd),
    fc.tuple(who, sel, pages, fc.constantFrom(...ADVICES)).map(([w, s, n, a]) => new Madvise(w, s, n, a) as Cmd),
    fc.tuple(who, sel, pages).map(([w, s, n]) => new Pageout(w, s, n) as Cmd),
    fc.tuple(who, sel, pages).map(([w, s, n]) => new Pageout(w, s, n) as Cmd),
    fc
      .tuple(
        who,
        sel,
        pages,
        pages,
        fc.constantFrom<RemapMode>("inplace", "maymove", "fixed", "dontunmap", "dontunmap-fixed"),
        fc.nat(WINDOW - 1),
      )
      .map(([w, s, o, n, md, t]) => new Mremap(w, s, o, n, md, t) as Cmd),
    fc.tuple(who, fc.nat(HEAP_MAX_PAGES)).map(([w, n]) => new Brk(w, n) as Cmd),
    access,
    access,
    access,
    access,
    fc.tuple(who, fc.nat(0x7fffffff), fc.boolean()).map(([w, o, wr]) => new KernelAccess(w, o, wr) as Cmd),
    fc.constant(new Reclaim() as Cmd),
  ];
}
