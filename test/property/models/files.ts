/**
 * Files against a byte-array model: processes sharing one open description
 * of /f write, pwrite, ftruncate, lseek, pread, fork and exit, and the
 * machine fsyncs, drops its caches, reclaims (the file LRU lists: dirty
 * pages written back first) and remounts; after every command every
 * checker passes and the file (read from the host side) equals the model,
 * and so it does after a last remount with every process gone.
 */
import fc from "fast-check";
import { expect } from "vitest";
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  type Machine,
  O_CREAT,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  type Process,
  SEEK_SET,
} from "../../../sim/index.ts";
import { bootMachine } from "../../support/boot.ts";
import { type PropertyModel, runModel, type StoryStats } from "../../support/budget.ts";

const PAGE = 4096;
/** Offsets reach past the 12 direct blocks, into the indirect block. */
const SPAN = 16 * PAGE;
const BUF_PAGES = 4;

/** The file as a byte array, and the position of the one description every process shares. */
interface Model {
  bytes: number[];
  pos: number;
  alive: boolean[];
}
interface Real {
  m: Machine;
  procs: Array<Process | null>;
  fd: number;
  buf: number;
}

function pick(model: Model, who: number): number {
  const alive = model.alive.map((a, k) => (a ? k : -1)).filter((k) => k >= 0);
  return alive[who % alive.length] as number;
}

function writeModel(model: Model, at: number, len: number, byte: number): void {
  while (model.bytes.length < at) model.bytes.push(0);
  for (let i = 0; i < len; i++) model.bytes[at + i] = byte;
}

function verify(model: Model, real: Real): void {
  real.m.check();
  const got = real.m.fs.readFile("/f");
  expect(got.length).toBe(model.bytes.length);
  expect(Buffer.from(got).equals(Buffer.from(model.bytes))).toBe(true);
}

abstract class Cmd implements fc.Command<Model, Real> {
  check = (_m: Readonly<Model>): boolean => true;
  abstract run(model: Model, real: Real): void;
  abstract toString(): string;
}

class Write extends Cmd {
  constructor(
    readonly who: number,
    readonly len: number,
    readonly byte: number,
  ) {
    super();
  }
  run(model: Model, real: Real): void {
    const p = real.procs[pick(model, this.who)] as Process;
    p.mem.fill(real.buf, this.byte, this.len);
    expect(p.sys.write(real.fd, real.buf, this.len)).toBe(this.len);
    writeModel(model, model.pos, this.len, this.byte);
    model.pos += this.len;
    verify(model, real);
  }
  toString = () => `write(#${this.who}, ${this.len}, ${this.byte})`;
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
    const p = real.procs[pick(model, this.who)] as Process;
    p.mem.fill(real.buf, this.byte, this.len);
    expect(p.sys.pwrite(real.fd, real.buf, this.len, this.off)).toBe(this.len);
    writeModel(model, this.off, this.len, this.byte);
    verify(model, real);
  }
  toString = () => `pwrite(#${this.who}, off ${this.off}, ${this.len}, ${this.byte})`;
}

class Ftruncate extends Cmd {
  constructor(
    readonly who: number,
    readonly len: number,
  ) {
    super();
  }
  run(model: Model, real: Real): void {
    const p = real.procs[pick(model, this.who)] as Process;
    expect(p.sys.ftruncate(real.fd, this.len)).toBe(0);
    if (this.len < model.bytes.length) model.bytes.length = this.len;
    else writeModel(model, model.bytes.length, this.len - model.bytes.length, 0);
    verify(model, real);
  }
  toString = () => `ftruncate(#${this.who}, ${this.len})`;
}

class Lseek extends Cmd {
  constructor(readonly off: number) {
    super();
  }
  run(model: Model, real: Real): void {
    const p = real.procs[pick(model, 0)] as Process;
    expect(p.sys.lseek(real.fd, this.off, SEEK_SET)).toBe(this.off);
    model.pos = this.off;
  }
  toString = () => `lseek(${this.off})`;
}

class Pread extends Cmd {
  constructor(
    readonly who: number,
    readonly off: number,
    readonly len: number,
  ) {
    super();
  }
  run(model: Model, real: Real): void {
    const p = real.procs[pick(model, this.who)] as Process;
    const want = model.bytes.slice(this.off, this.off + this.len);
    expect(p.sys.pread(real.fd, real.buf, this.len, this.off)).toBe(want.length);
    expect([...p.mem.read(real.buf, want.length)]).toEqual(want);
  }
  toString = () => `pread(#${this.who}, off ${this.off}, ${this.len})`;
}

class Fork extends Cmd {
  constructor(readonly who: number) {
    super();
  }
  override check = (m: Readonly<Model>) => m.alive.filter(Boolean).length < 4;
  run(model: Model, real: Real): void {
    const child = (real.procs[pick(model, this.who)] as Process).fork();
    expect(child).not.toBeNull();
    real.procs.push(child);
    model.alive.push(true);
    verify(model, real);
  }
  toString = () => `fork(#${this.who})`;
}

class Exit extends Cmd {
  constructor(readonly who: number) {
    super();
  }
  override check = (m: Readonly<Model>) => m.alive.filter(Boolean).length > 1;
  run(model: Model, real: Real): void {
    const k = pick(model, this.who);
    (real.procs[k] as Process).exit(0);
    real.procs[k] = null;
    model.alive[k] = false;
    verify(model, real);
  }
  toString = () => `exit(#${this.who})`;
}

class Machine_ extends Cmd {
  constructor(readonly what: "remount" | "dropCaches" | "fsync" | "reclaim") {
    super();
  }
  run(model: Model, real: Real): void {
    if (this.what === "remount") real.m.fs.remount();
    else if (this.what === "dropCaches") real.m.dropCaches();
    else if (this.what === "reclaim") real.m.kernel.taskParts.reclaim.tryToFreePages(8, 0);
    else expect((real.procs[pick(model, 0)] as Process).sys.fsync(real.fd)).toBe(0);
    verify(model, real);
  }
  toString = () => this.what;
}

const who = fc.nat(7);
// Mostly small numbers, so that writes, truncations and reads meet inside the same pages.
const len = fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: BUF_PAGES * PAGE }));
const off = fc.oneof(fc.integer({ min: 0, max: 128 }), fc.integer({ min: 0, max: 2 * PAGE }), fc.integer({ min: 0, max: SPAN }));
const byte = fc.integer({ min: 1, max: 255 });
const commands = [
  fc.tuple(who, len, byte).map(([w, l, b]) => new Write(w, l, b)),
  fc.tuple(who, off, len, byte).map(([w, o, l, b]) => new Pwrite(w, o, l, b)),
  fc.tuple(who, off).map(([w, l]) => new Ftruncate(w, l)),
  off.map((o) => new Lseek(o)),
  fc.tuple(who, off, len).map(([w, o, l]) => new Pread(w, o, l)),
  who.map((w) => new Fork(w)),
  who.map((w) => new Exit(w)),
  fc.constantFrom("remount" as const, "dropCaches" as const, "fsync" as const, "reclaim" as const).map((w) => new Machine_(w)),
];

/** The files model: a story of up to `maxCommands` commands on a fresh 16 MiB machine and its disk. */
export const FILES_MODEL: PropertyModel<Iterable<fc.Command<Model, Real>>> = {
  name: "files",
  budget: 10_000,
  storyMax: 30,
  arbitrary: (max) => fc.commands(commands, { maxCommands: max, size: "max" }),
  run(cmds): StoryStats {
    const m = bootMachine({ ramBytes: 16 << 20, debugVm: 1 });
    const p = m.spawn("t");
    const buf = p.sys.mmap(0, BUF_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    const fd = p.sys.open("/f", O_CREAT | O_RDWR, 0o644);
    const model: Model = { bytes: [], pos: 0, alive: [true] };
    const real: Real = { m, procs: [p], fd, buf };
    const stats: StoryStats = { commands: 0, checks: 0 };
    runModel(model, real, cmds, stats);
    for (const q of m.processes()) q.exit(0);
    m.fs.remount();
    verify(model, real);
    const vfs = m.kernel.tasks.vfs!;
    expect(vfs.openCount(vfs.fs.lookup(1, "f"))).toBe(0);
    stats.checks = stats.commands + 1;
    return stats;
  },
};
