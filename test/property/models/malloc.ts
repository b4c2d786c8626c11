/**
 * The C library's malloc against a model of live blocks, in real processes
 * (MMU, faults, brk and mmap VMAs) under random mallopt settings (the
 * tcache's count and the arena limit among them). Every command runs as one operation of the
 * scheduler on one of the process's two threads (`Switch` moves to the
 * other), so each thread fills its own tcache and frees blocks the other
 * allocated. After every
 * command: the heap checker and mallinfo2's halves adding up; every block's
 * bytes are compared in full before it is freed, reallocated or trimmed
 * around. After every story the kernel's checkers run before and after the
 * process exits.
 */
import fc from "fast-check";
import { expect } from "vitest";
import type { Process } from "../../../kernel/process.ts";
import type { Thread } from "../../../kernel/thread.ts";
import { Machine } from "../../../sim/machine.ts";
import type { UserProcess } from "../../../userspace/env.ts";
import { Libc } from "../../../userspace/libc/libc.ts";
import { M_ARENA_MAX, M_MMAP_THRESHOLD, M_TCACHE_COUNT, M_TOP_PAD, M_TRIM_THRESHOLD } from "../../../userspace/malloc/malloc.ts";
import { type PropertyModel, runModel, type StoryStats } from "../../support/budget.ts";

/** One live block: where, how many bytes were asked for, the byte it is filled with. */
interface Block {
  ptr: number;
  size: number;
  byte: number;
}

/** The reference model: the live blocks. The real side is the process and its libc. */
interface Model {
  live: Block[];
}

interface Real {
  proc: UserProcess;
  libc: Libc;
  stats: StoryStats;
  /** The process's two threads, and the index of the one commands run on. */
  threads: Thread[];
  on: number;
  machine: Machine;
}

/** Runs `body` as one operation of the current thread (the scheduler sets the tid malloc's tcache is keyed by). */
function onThread(real: Real, body: () => void): void {
  real.machine.run([{ thread: real.threads[real.on] as Thread, ops: [body] }]);
}

/** Every byte of `b` still holds its fill byte (read through the process's memory). */
function expectIntact(real: Real, b: Block, len = b.size): void {
  const got = real.proc.mem.read(b.ptr, len);
  let bad = -1;
  for (let i = 0; i < got.length && bad < 0; i++) if (got[i] !== b.byte) bad = i;
  expect(bad, `block 0x${b.ptr.toString(16)} (${b.size} B) byte ${bad}`).toBe(-1);
}

/** A new block: aligned, usable for its size, overlapping no live block; then filled. */
function adopt(model: Model, real: Real, b: Block, align = 16): void {
  expect(b.ptr).not.toBe(0);
  expect(b.ptr % align).toBe(0);
  expect(real.libc.mallocUsableSize(b.ptr)).toBeGreaterThanOrEqual(b.size);
  const end = b.ptr + Math.max(b.size, 1);
  for (const o of model.live) expect(b.ptr < o.ptr + Math.max(o.size, 1) && o.ptr < end, "overlap").toBe(false);
  real.proc.mem.fill(b.ptr, b.byte, b.size);
  model.live.push(b);
}

/** After every command: the heap checker, and mallinfo2's halves adding up. */
function afterEach(real: Real): void {
  real.libc.mallocCheck();
  real.stats.checks++;
  const info = real.libc.mallinfo2();
  expect(info.uordblks + info.fordblks).toBe(info.arena);
}

class Malloc implements fc.Command<Model, Real> {
  constructor(
    readonly size: number,
    readonly byte: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    onThread(real, () => adopt(model, real, { ptr: real.libc.malloc(this.size), size: this.size, byte: this.byte }));
    afterEach(real);
  }
  toString = () => `malloc(${this.size})`;
}

class Calloc implements fc.Command<Model, Real> {
  constructor(
    readonly n: number,
    readonly size: number,
    readonly byte: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    onThread(real, () => {
      const b = { ptr: real.libc.calloc(this.n, this.size), size: this.n * this.size, byte: 0 };
      expectIntact(real, b);
      adopt(model, real, { ...b, byte: this.byte });
    });
    afterEach(real);
  }
  toString = () => `calloc(${this.n}, ${this.size})`;
}

class Memalign implements fc.Command<Model, Real> {
  constructor(
    readonly alignLog: number,
    readonly size: number,
    readonly byte: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const align = 2 ** this.alignLog;
    onThread(real, () => adopt(model, real, { ptr: real.libc.memalign(align, this.size), size: this.size, byte: this.byte }, align));
    afterEach(real);
  }
  toString = () => `memalign(${2 ** this.alignLog}, ${this.size})`;
}

class Free implements fc.Command<Model, Real> {
  constructor(readonly index: number) {}
  check = (m: Readonly<Model>) => m.live.length > 0;
  run(model: Model, real: Real): void {
    const [b] = model.live.splice(this.index % model.live.length, 1) as [Block];
    expectIntact(real, b);
    onThread(real, () => real.libc.free(b.ptr));
    afterEach(real);
  }
  toString = () => `free(#${this.index})`;
}

class Realloc implements fc.Command<Model, Real> {
  constructor(
    readonly index: number,
    readonly size: number,
    readonly byte: number,
  ) {}
  check = (m: Readonly<Model>) => m.live.length > 0;
  run(model: Model, real: Real): void {
    const [b] = model.live.splice(this.index % model.live.length, 1) as [Block];
    expectIntact(real, b);
    let ptr = 0;
    onThread(real, () => {
      ptr = real.libc.realloc(b.ptr, this.size);
    });
    if (this.size === 0) expect(ptr).toBe(0);
    else {
      expectIntact(real, { ptr, size: Math.min(b.size, this.size), byte: b.byte });
      adopt(model, real, { ptr, size: this.size, byte: this.byte });
    }
    afterEach(real);
  }
  toString = () => `realloc(#${this.index}, ${this.size})`;
}

class Trim implements fc.Command<Model, Real> {
  constructor(readonly pad: number) {}
  check = () => true;
  run(model: Model, real: Real): void {
    onThread(real, () => real.libc.mallocTrim(this.pad));
    for (const b of model.live) expectIntact(real, b);
    afterEach(real);
  }
  toString = () => `malloc_trim(${this.pad})`;
}

/** Moves the commands that follow to the other thread. */
class Switch implements fc.Command<Model, Real> {
  check = () => true;
  run(_model: Model, real: Real): void {
    real.on = 1 - real.on;
    afterEach(real);
  }
  toString = () => "switch thread";
}

const size = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 130 }), weight: 5 },
  { arbitrary: fc.integer({ min: 131, max: 5000 }), weight: 4 },
  { arbitrary: fc.integer({ min: 5000, max: 60000 }), weight: 2 },
  { arbitrary: fc.integer({ min: 100000, max: 300000 }), weight: 1 },
);
const byte = fc.integer({ min: 1, max: 255 });
const index = fc.nat(1000);

const commands = (maxCommands: number) =>
  fc.commands(
    [
      fc.tuple(size, byte).map(([s, b]) => new Malloc(s, b)),
      fc.tuple(size, byte).map(([s, b]) => new Malloc(s, b)),
      fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 400 }), byte).map(([n, s, b]) => new Calloc(n, s, b)),
      fc.tuple(fc.integer({ min: 5, max: 16 }), size, byte).map(([a, s, b]) => new Memalign(a, s, b)),
      index.map((i) => new Free(i)),
      index.map((i) => new Free(i)),
      fc.tuple(index, fc.oneof(size, fc.constant(0)), byte).map(([i, s, b]) => new Realloc(i, s, b)),
      fc.integer({ min: 0, max: 70000 }).map((p) => new Trim(p)),
      fc.constant(new Switch()),
    ],
    { maxCommands, size: "max" },
  );

/** mallopt settings that move the trim, mmap and pad lines so that their paths run often. */
const tunables = fc.record({
  trim: fc.constantFrom(0, 8192, 65536),
  mmap: fc.constantFrom(0, 16384, 65536),
  pad: fc.constantFrom(0, 0, 4096, 100),
  /** M_TCACHE_COUNT: glibc's 7 most often, the cache off, or one chunk per list (full lists often). */
  tcache: fc.constantFrom(7, 7, 0, 1),
  /** M_ARENA_MAX: glibc's limit (the second thread gets its own arena on an mmapped heap), or one arena for both. */
  arenas: fc.constantFrom(0, 0, 1),
});

type Tunables = { trim: number; mmap: number; pad: number; tcache: number; arenas: number };

function start(t: Tunables, proc: Process, machine: Machine): { model: Model; real: Real } {
  const libc = new Libc(proc);
  if (t.trim) libc.mallopt(M_TRIM_THRESHOLD, t.trim);
  if (t.mmap) libc.mallopt(M_MMAP_THRESHOLD, t.mmap);
  if (t.pad) libc.mallopt(M_TOP_PAD, t.pad);
  expect(libc.mallopt(M_TCACHE_COUNT, t.tcache)).toBe(1);
  if (t.arenas) expect(libc.mallopt(M_ARENA_MAX, t.arenas)).toBe(1);
  const second = proc.spawnThread("t1", { stackBytes: 4096 });
  expect(second).not.toBeNull();
  const threads = [proc.threads[0] as Thread, second as Thread];
  return { model: { live: [] }, real: { proc, libc, stats: { commands: 0, checks: 0 }, threads, on: 0, machine } };
}

/** The machine the stories' processes run on (one per test file, as spawning is cheaper than booting 64 MiB). */
let machine: Machine | null = null;

/** malloc/calloc/memalign/free/realloc/malloc_trim in a real process under random mallopt settings. */
export const MALLOC_MODEL: PropertyModel<[Tunables, Iterable<fc.Command<Model, Real>>]> = {
  name: "malloc",
  budget: 10_000,
  storyMax: 100,
  arbitrary: (max) => fc.tuple(tunables, commands(max)),
  run([t, cmds]) {
    machine ??= Machine.boot({ ramBytes: 64 << 20, debugVm: 1 });
    const m = machine;
    const proc = m.spawn("prop");
    const s = start(t, proc, m);
    runModel(s.model, s.real, cmds, s.real.stats);
    for (const b of s.model.live) {
      expectIntact(s.real, b);
      s.real.libc.free(b.ptr);
    }
    afterEach(s.real);
    expect(s.real.libc.mallinfo2().hblks).toBe(0);
    m.check();
    proc.exit(0);
    m.check();
    s.real.stats.checks += 2;
    return s.real.stats;
  },
};
