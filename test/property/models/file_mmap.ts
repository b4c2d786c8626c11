/**
 * File mappings against a byte-array model: processes sharing one open
 * description of /f (so one position), each with a MAP_SHARED and a MAP_PRIVATE mapping of it
 * (made before any fork, so children inherit both), write, pwrite, store
 * through either mapping, msync, ftruncate, fork and exit, and the machine
 * drops its caches, pages private memory out (MADV_PAGEOUT, with swap),
 * reclaims (the file lists first: mapped cache pages are unmapped and read
 * back on the next access) and remounts. The VMAs themselves change too:
 * a range of a mapping is unmapped and mapped again from the file, made
 * read-only and writable again (a split, then a merge), or moved away by
 * mremap and back (so the inode's i_mmap list, FILEMAP-2, follows every
 * link and unlink). After every command every checker passes, the file equals the
 * model, and each live process's mappings read as the model says: the
 * shared one as the file, the private one as the file except on the pages
 * it copied. A last remount with every process gone must still give the
 * model's bytes.
 */
import fc from "fast-check";
import { expect } from "vitest";
import {
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  type Machine,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  MS_ASYNC,
  MS_SYNC,
  O_CREAT,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "../../../sim/index.ts";
import { bootMachine } from "../../support/boot.ts";
import { type PropertyModel, runModel, type StoryStats } from "../../support/budget.ts";

const PAGE = 4096;
const SPAN_PAGES = 6;
const SPAN = SPAN_PAGES * PAGE;

/** The file, and per process (by slot) its private mapping's copied pages. */
interface Model {
  bytes: number[];
  /** The shared description's position (write advances it). */
  pos: number;
  copies: Array<Map<number, number[]> | null>;
}
interface Real {
  m: Machine;
  procs: Array<Process | null>;
  fd: number;
  buf: number;
  shared: number;
  priv: number;
  /** A free range of SPAN bytes where mremap moves a mapping for a while. */
  moveTo: number;
}

function pick(model: Model, who: number): number {
  const alive = model.copies.map((c, k) => (c === null ? -1 : k)).filter((k) => k >= 0);
  return alive[who % alive.length] as number;
}

function proc(model: Model, real: Real, who: number): Process {
  return real.procs[pick(model, who)] as Process;
}

/** The page `index` of the file as the model has it (zeros past the end). */
function filePage(model: Model, index: number): number[] {
  const out = new Array<number>(PAGE).fill(0);
  for (let i = 0; i < PAGE; i++) out[i] = model.bytes[index * PAGE + i] ?? 0;
  return out;
}

function writeModel(model: Model, at: number, len: number, byte: number): void {
  while (model.bytes.length < at) model.bytes.push(0);
  for (let i = 0; i < len; i++) model.bytes[at + i] = byte;
}

function verify(model: Model, real: Real): void {
  real.m.check();
  const got = real.m.fs.readFile("/f");
  expect(Buffer.from(got).equals(Buffer.from(model.bytes))).toBe(true);
  const pages = Math.min(SPAN_PAGES, Math.ceil(model.bytes.length / PAGE));
  for (let k = 0; k < real.procs.length; k++) {
    const p = real.procs[k];
    const copies = model.copies[k];
    if (p === null || p === undefined || copies === null || copies === undefined) continue;
    for (let i = 0; i < pages; i++) {
      const want = filePage(model, i);
      expect(Buffer.from(p.mem.read(real.shared + i * PAGE, PAGE)).equals(Buffer.from(want))).toBe(true);
      const mine = copies.get(i) ?? want;
      expect(Buffer.from(p.mem.read(real.priv + i * PAGE, PAGE)).equals(Buffer.from(mine))).toBe(true);
    }
  }
}

abstract class Cmd implements fc.Command<Model, Real> {
  check = (_m: Readonly<Model>): boolean => true;
  abstract run(model: Model, real: Real): void;
  abstract toString(): string;
}

class Pwrite extends Cmd {
  constructor(
    readonly who: number,
    readonly off: number,
    readonly len: number,
    readonly byte: number,
  ) {
    super();
  }
  run(model: Model, real: Real): void {
    const p = proc(model, real, this.who);
    p.mem.fill(real.buf, this.byte, this.len);
    expect(p.sys.pwrite(real.fd, real.buf, this.len, this.off)).toBe(this.len);
    writeModel(model, this.off, this.len, this.byte);
    verify(model, real);
  }
  toString = () => `pwrite(#${this.who}, off ${this.off}, ${this.len}, ${this.byte})`;
}

/** write(2) at the shared position, which every process's descriptor shares. */
class Write extends Cmd {
  constructor(
    readonly who: number,
    readonly len: number,
    readonly byte: number,
  ) {
    super();
  }
  override check = (m: Readonly<Model>) => m.pos + this.len <= SPAN;
  run(model: Model, real: Real): void {
    const p = proc(model, real, this.who);
    p.mem.fill(real.buf, this.byte, this.len);
    expect(p.sys.write(real.fd, real.buf, this.len)).toBe(this.len);
    writeModel(model, model.pos, this.len, this.byte);
    model.pos += this.len;
    verify(model, real);
  }
  toString = () => `write(#${this.who}, ${this.len}, ${this.byte})`;
}

/** A store through a mapping, inside the file (a store past the last page would be SIGBUS). */
class Store extends Cmd {
  constructor(
    readonly who: number,
    readonly kind: "shared" | "private",
    readonly off: number,
    readonly len: number,
    readonly byte: number,
  ) {
    super();
  }
  override check = (m: Readonly<Model>) => m.bytes.length > 0;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const p = real.procs[k] as Process;
    const end = Math.min(model.bytes.length, SPAN);
    const at = this.off % end;
    const len = Math.min(this.len, end - at);
    if (this.kind === "shared") {
      p.mem.fill(real.shared + at, this.byte, len);
      writeModel(model, at, len, this.byte);
    } else {
      p.mem.fill(real.priv + at, this.byte, len);
      const copies = model.copies[k] as Map<number, number[]>;
      for (let i = at; i < at + len; i++) {
        const index = Math.floor(i / PAGE);
        if (!copies.has(index)) copies.set(index, filePage(model, index));
        (copies.get(index) as number[])[i % PAGE] = this.byte;
      }
    }
    verify(model, real);
  }
  toString = () => `store(#${this.who}, ${this.kind}, off ${this.off}, ${this.len}, ${this.byte})`;
}

class Ftruncate extends Cmd {
  constructor(
    readonly who: number,
    readonly len: number,
  ) {
    super();
  }
  run(model: Model, real: Real): void {
    const p = proc(model, real, this.who);
    expect(p.sys.ftruncate(real.fd, this.len)).toBe(0);
    if (this.len < model.bytes.length) {
      model.bytes.length = this.len;
      // Pages wholly past the new end are unmapped everywhere, private copies included.
      const keep = Math.ceil(this.len / PAGE);
      for (const c of model.copies) if (c !== null) for (const i of [...c.keys()]) if (i >= keep) c.delete(i);
    } else writeModel(model, model.bytes.length, this.len - model.bytes.length, 0);
    verify(model, real);
  }
  toString = () => `ftruncate(#${this.who}, ${this.len})`;
}

/** msync of pages [first, first + n) of both mappings (MS_SYNC writes that file range only). */
class Msync extends Cmd {
  constructor(
    readonly who: number,
    readonly flags: number,
    readonly first: number,
    readonly n: number,
  ) {
    super();
  }
  run(model: Model, real: Real): void {
    const p = proc(model, real, this.who);
    const len = Math.min(this.n, SPAN_PAGES - this.first) * PAGE;
    expect(p.sys.msync(real.shared + this.first * PAGE, len, this.flags)).toBe(0);
    expect(p.sys.msync(real.priv + this.first * PAGE, len, this.flags)).toBe(0);
    verify(model, real);
  }
  toString = () => `msync(#${this.who}, ${this.flags === MS_SYNC ? "MS_SYNC" : "MS_ASYNC"}, pages ${this.first}+${this.n})`;
}

class Fork extends Cmd {
  constructor(readonly who: number) {
    super();
  }
  override check = (m: Readonly<Model>) => m.copies.filter((c) => c !== null).length < 4;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const child = (real.procs[k] as Process).fork();
    expect(child).not.toBeNull();
    real.procs.push(child);
    const copies = model.copies[k] as Map<number, number[]>;
    model.copies.push(new Map([...copies].map(([i, b]) => [i, [...b]])));
    verify(model, real);
  }
  toString = () => `fork(#${this.who})`;
}

class Exit extends Cmd {
  constructor(readonly who: number) {
    super();
  }
  override check = (m: Readonly<Model>) => m.copies.filter((c) => c !== null).length > 1;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    (real.procs[k] as Process).exit(0);
    real.procs[k] = null;
    model.copies[k] = null;
    verify(model, real);
  }
  toString = () => `exit(#${this.who})`;
}

/**
 * Pages [first, first + n) of one process's mapping change VMA: "remap"
 * unmaps them and maps the file there again (MAP_FIXED, the same offset;
 * a private mapping loses its copies there), "split" makes them read-only
 * and writable again (split, then merge back), "move" moves the whole
 * mapping by mremap and back to its address.
 */
class Revma extends Cmd {
  constructor(
    readonly who: number,
    readonly kind: "shared" | "private",
    readonly how: "remap" | "split" | "move",
    readonly first: number,
    readonly n: number,
  ) {
    super();
  }
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    const p = real.procs[k] as Process;
    const base = this.kind === "shared" ? real.shared : real.priv;
    const n = Math.min(this.n, SPAN_PAGES - this.first);
    const at = base + this.first * PAGE;
    if (this.how === "remap") {
      expect(p.sys.munmap(at, n * PAGE)).toBe(0);
      const flags = (this.kind === "shared" ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED;
      expect(p.sys.mmap(at, n * PAGE, PROT_READ | PROT_WRITE, flags, real.fd, this.first * PAGE)).toBe(at);
      if (this.kind === "private") for (let i = this.first; i < this.first + n; i++) (model.copies[k] as Map<number, number[]>).delete(i);
    } else if (this.how === "split") {
      expect(p.sys.mprotect(at, n * PAGE, PROT_READ)).toBe(0);
      expect(p.sys.mprotect(at, n * PAGE, PROT_READ | PROT_WRITE)).toBe(0);
    } else {
      const away = p.sys.mremap(base, SPAN, SPAN, MREMAP_MAYMOVE | MREMAP_FIXED, real.moveTo);
      expect(away).toBe(real.moveTo);
      expect(p.sys.mremap(away, SPAN, SPAN, MREMAP_MAYMOVE | MREMAP_FIXED, base)).toBe(base);
    }
    verify(model, real);
  }
  toString = () => `${this.how}(#${this.who}, ${this.kind}, pages ${this.first}+${this.n})`;
}

class Reclaim extends Cmd {
  constructor(
    readonly who: number,
    readonly what: "remount" | "dropCaches" | "pageout" | "reclaim",
  ) {
    super();
  }
  run(model: Model, real: Real): void {
    if (this.what === "remount") real.m.fs.remount();
    else if (this.what === "dropCaches") real.m.dropCaches();
    else if (this.what === "reclaim") real.m.kernel.taskParts.reclaim.tryToFreePages(8, 0);
    else expect(proc(model, real, this.who).sys.madvise(real.priv, SPAN, MADV_PAGEOUT)).toBe(0);
    verify(model, real);
  }
  toString = () => `${this.what}(#${this.who})`;
}

const who = fc.nat(7);
const len = fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 2 * PAGE }));
const off = fc.oneof(fc.integer({ min: 0, max: 128 }), fc.integer({ min: 0, max: SPAN }));
const byte = fc.integer({ min: 1, max: 255 });
const commands = [
  fc.tuple(who, off, len, byte).map(([w, o, l, b]) => new Pwrite(w, o, l, b)),
  fc.tuple(who, len, byte).map(([w, l, b]) => new Write(w, l, b)),
  fc.tuple(who, fc.constantFrom("shared" as const, "private" as const), off, len, byte).map(([w, k, o, l, b]) => new Store(w, k, o, l, b)),
  fc.tuple(who, fc.integer({ min: 0, max: SPAN })).map(([w, l]) => new Ftruncate(w, l)),
  fc
    .tuple(who, fc.constantFrom(MS_SYNC, MS_ASYNC), fc.nat(SPAN_PAGES - 1), fc.integer({ min: 1, max: SPAN_PAGES }))
    .map(([w, f, first, n]) => new Msync(w, f, first, n)),
  fc
    .tuple(
      who,
      fc.constantFrom("shared" as const, "private" as const),
      fc.constantFrom("remap" as const, "split" as const, "move" as const),
      fc.nat(SPAN_PAGES - 1),
      fc.integer({ min: 1, max: SPAN_PAGES }),
    )
    .map(([w, k, h, f, n]) => new Revma(w, k, h, f, n)),
  who.map((w) => new Fork(w)),
  who.map((w) => new Exit(w)),
  fc
    .tuple(who, fc.constantFrom("remount" as const, "dropCaches" as const, "pageout" as const, "reclaim" as const))
    .map(([w, r]) => new Reclaim(w, r)),
];

/** The file-mapping model: a story of up to `maxCommands` commands on a fresh 16 MiB machine with 4 MiB of swap. */
export const FILE_MMAP_MODEL: PropertyModel<Iterable<fc.Command<Model, Real>>> = {
  name: "file_mmap",
  budget: 800,
  storyMax: 25,
  arbitrary: (max) => fc.commands(commands, { maxCommands: max, size: "max" }),
  run(cmds): StoryStats {
    const m = bootMachine({ ramBytes: 16 << 20, swapBytes: 4 << 20, debugVm: 1 });
    const p = m.spawn("t");
    const buf = p.sys.mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    const fd = p.sys.open("/f", O_CREAT | O_RDWR, 0o644);
    const shared = p.sys.mmap(0, SPAN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    const priv = p.sys.mmap(0, SPAN, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    // Reserved, then freed: a hole every process inherits free (nothing else maps there).
    const moveTo = p.sys.mmap(0, SPAN, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
    expect(p.sys.munmap(moveTo, SPAN)).toBe(0);
    const model: Model = { bytes: [], pos: 0, copies: [new Map()] };
    const real: Real = { m, procs: [p], fd, buf, shared, priv, moveTo };
    const stats: StoryStats = { commands: 0, checks: 0 };
    runModel(model, real, cmds, stats);
    for (const q of m.processes()) q.exit(0);
    m.fs.remount();
    real.procs = [];
    verify(model, real);
    stats.checks = stats.commands + 1;
    return stats;
  },
};
