/**
 * Model-based testing of any Allocator: fast-check commands (malloc, free,
 * realloc) run against the allocator in a fresh test process and against a
 * model that is just the list of live sizes. After every command: the
 * allocator's heap checker, its live-byte count against the model, no two
 * live payloads overlapping, and the edges of every live payload still
 * holding their bytes; a payload is compared in full before it is freed or
 * reallocated, and after a realloc.
 */
import fc from "fast-check";
import { expect } from "vitest";
import type { Allocator } from "../../userspace/alloc/allocator.ts";
import type { UserProcess } from "../../userspace/env.ts";
import { exitProcess, testSpawner } from "./process.ts";

/** The model: sizes of the live blocks, in the order the real side keeps them. */
export interface AllocModel {
  sizes: number[];
}

/** The system under test. */
export interface AllocReal {
  proc: UserProcess;
  a: Allocator;
  ptrs: number[];
  tags: number[];
  nextTag: number;
}

/** The bytes block `tag` holds: its own sequence, so a moved or mixed-up block shows. */
function bytesFor(tag: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (tag * 131 + i * 7 + (i >>> 8)) & 0xff;
  return b;
}

function expectBytes(r: AllocReal, p: number, tag: number, from: number, to: number, what: string): void {
  if (to <= from) return;
  const got = r.proc.mem.read(p + from, to - from);
  const want = bytesFor(tag, to).subarray(from);
  const bad = got.findIndex((v, i) => v !== want[i]);
  expect(bad, `${what}: byte +${from + bad} of block ${tag} at 0x${p.toString(16)}`).toBe(-1);
}

/** Checks run after every command. */
function afterEach(m: AllocModel, r: AllocReal): void {
  r.a.check();
  expect(r.a.stats().liveBytes).toBe(m.sizes.reduce((s, n) => s + n, 0));
  const order = r.ptrs.map((_p, i) => i).sort((x, y) => (r.ptrs[x] as number) - (r.ptrs[y] as number));
  for (let k = 1; k < order.length; k++) {
    const a = order[k - 1] as number;
    const b = order[k] as number;
    expect((r.ptrs[a] as number) + Math.max(m.sizes[a] as number, 1), "live payloads overlap").toBeLessThanOrEqual(r.ptrs[b] as number);
  }
  for (let i = 0; i < r.ptrs.length; i++) {
    const n = m.sizes[i] as number;
    expectBytes(r, r.ptrs[i] as number, r.tags[i] as number, 0, Math.min(n, 16), "head");
    expectBytes(r, r.ptrs[i] as number, r.tags[i] as number, Math.max(0, n - 16), n, "tail");
  }
}

class MallocCmd implements fc.Command<AllocModel, AllocReal> {
  constructor(readonly size: number) {}
  check(): boolean {
    return true;
  }
  run(m: AllocModel, r: AllocReal): void {
    const p = r.a.malloc(this.size);
    expect(p, "malloc returned NULL").not.toBe(0);
    expect(p % 16).toBe(0);
    const tag = r.nextTag++;
    r.proc.mem.write(p, bytesFor(tag, this.size));
    m.sizes.push(this.size);
    r.ptrs.push(p);
    r.tags.push(tag);
    afterEach(m, r);
  }
  toString(): string {
    return `malloc(${this.size})`;
  }
}

class FreeCmd implements fc.Command<AllocModel, AllocReal> {
  constructor(readonly pick: number) {}
  check(m: Readonly<AllocModel>): boolean {
    return m.sizes.length > 0;
  }
  run(m: AllocModel, r: AllocReal): void {
    const i = this.pick % m.sizes.length;
    const n = m.sizes[i] as number;
    expectBytes(r, r.ptrs[i] as number, r.tags[i] as number, 0, n, "before free");
    r.a.free(r.ptrs[i] as number, n);
    m.sizes.splice(i, 1);
    r.ptrs.splice(i, 1);
    r.tags.splice(i, 1);
    afterEach(m, r);
  }
  toString(): string {
    return `free(#${this.pick})`;
  }
}

class ReallocCmd implements fc.Command<AllocModel, AllocReal> {
  constructor(
    readonly pick: number,
    readonly size: number,
  ) {}
  check(m: Readonly<AllocModel>): boolean {
    return m.sizes.length > 0;
  }
  run(m: AllocModel, r: AllocReal): void {
    const i = this.pick % m.sizes.length;
    const old = m.sizes[i] as number;
    const tag = r.tags[i] as number;
    expectBytes(r, r.ptrs[i] as number, tag, 0, old, "before realloc");
    const q = r.a.realloc(r.ptrs[i] as number, old, this.size);
    if (q === 0 && this.size === 0) {
      // glibc's realloc(p, 0) frees p and returns NULL; other allocators return a minimal block.
      m.sizes.splice(i, 1);
      r.ptrs.splice(i, 1);
      r.tags.splice(i, 1);
      afterEach(m, r);
      return;
    }
    expect(q, "realloc returned NULL").not.toBe(0);
    expect(q % 16).toBe(0);
    expectBytes(r, q, tag, 0, Math.min(old, this.size), "kept by realloc");
    if (this.size > old) r.proc.mem.write(q + old, bytesFor(tag, this.size).subarray(old));
    m.sizes[i] = this.size;
    r.ptrs[i] = q;
    afterEach(m, r);
  }
  toString(): string {
    return `realloc(#${this.pick}, ${this.size})`;
  }
}

/** Sizes: mostly small, some pages, a few beyond most allocators' small classes. */
export const sizeArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 256 }) },
  { weight: 3, arbitrary: fc.integer({ min: 257, max: 8192 }) },
  { weight: 1, arbitrary: fc.integer({ min: 8193, max: 300_000 }) },
);

/** The malloc / free / realloc commands. */
export function allocCommands(maxCommands = 40) {
  return fc.commands(
    [
      sizeArb.map((s) => new MallocCmd(s)),
      fc.nat().map((i) => new FreeCmd(i)),
      fc.tuple(fc.nat(), sizeArb).map(([i, s]) => new ReallocCmd(i, s)),
    ],
    { maxCommands, size: "max" },
  );
}

/**
 * Runs the model-based property for the allocator `make` builds; each run
 * gets a fresh process (spawned on one machine per property, and exited
 * after the run so its memory goes back).
 */
export function checkAllocatorModel(make: (proc: UserProcess) => Allocator, numRuns = 50, maxCommands = 40, spawn = testSpawner()): void {
  fc.assert(
    fc.property(allocCommands(maxCommands), (cmds) => {
      const proc = spawn();
      try {
        const setup = () => ({ model: { sizes: [] }, real: { proc, a: make(proc), ptrs: [], tags: [], nextTag: 1 } });
        fc.modelRun(setup, cmds);
      } finally {
        exitProcess(proc);
      }
    }),
    { numRuns },
  );
}
