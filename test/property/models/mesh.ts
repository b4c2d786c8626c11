import fc from "fast-check";
import { expect } from "vitest";
import type { Process } from "../../../kernel/process.ts";
import { Machine } from "../../../sim/index.ts";
import { createMesh, type MeshAllocator } from "../../../userspace/alloc/mesh.ts";
import { checkAfterCommand, expectSame, type PropertyModel, runModel, type StoryStats } from "../../support/budget.ts";

/*
 * The Mesh allocator against a byte model: random bursts of mallocs (a few
 * size classes, so spans fill and mesh; now and then a large block), frees
 * of random blocks, and mesh passes. The model is each live block's size and
 * tag. After every command: the allocator's checker, the live bytes, the
 * first and last 16 bytes of every live block, Shmem in the kernel's meminfo
 * equal to the physical spans the allocator counts (a punched or meshed
 * page really went back), and the mm checker (every checker each
 * FULL_CHECK_EVERY commands). A block is compared in full before it is
 * freed, through whichever virtual span it was handed out at.
 */

interface Block {
  p: number;
  size: number;
  tag: number;
}

interface Model {
  blocks: Block[];
  nextTag: number;
}

interface Real {
  m: Machine;
  p: Process;
  a: MeshAllocator;
  stats: StoryStats;
}

function bytesFor(tag: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (tag * 131 + i * 7) & 0xff;
  return b;
}

function expectBytes(r: Real, b: Block, from: number, to: number): void {
  if (to <= from) return;
  const got = r.p.mem.read(b.p + from, to - from);
  const want = bytesFor(b.tag, to).subarray(from);
  const bad = got.findIndex((v, i) => v !== want[i]);
  if (bad >= 0) expect(got[bad], `byte +${from + bad} of block ${b.tag} at 0x${b.p.toString(16)}`).toBe(want[bad]);
}

function verify(model: Model, r: Real): void {
  r.a.check();
  checkAfterCommand(r.m, r.stats, ["mm"]);
  expectSame(
    r.a.stats().liveBytes,
    model.blocks.reduce((s, b) => s + b.size, 0),
    "live bytes",
  );
  const shmemKb = Number(/^Shmem:\s+(\d+) kB$/m.exec(r.m.proc.meminfo())?.[1]);
  expectSame(shmemKb, r.a.meshStats().physicalSpans * 4, "Shmem against the physical spans");
  for (const b of model.blocks) {
    expectBytes(r, b, 0, Math.min(b.size, 16));
    expectBytes(r, b, Math.max(0, b.size - 16), b.size);
  }
}

class Malloc implements fc.Command<Model, Real> {
  constructor(
    readonly size: number,
    readonly count: number,
  ) {}
  check(): boolean {
    return true;
  }
  run(model: Model, r: Real): void {
    for (let i = 0; i < this.count; i++) {
      const p = r.a.malloc(this.size);
      expect(p, "malloc returned NULL").not.toBe(0);
      const b = { p, size: this.size, tag: model.nextTag++ };
      r.p.mem.write(p, bytesFor(b.tag, b.size));
      model.blocks.push(b);
    }
    verify(model, r);
  }
  toString(): string {
    return `${this.count} x malloc(${this.size})`;
  }
}

class Free implements fc.Command<Model, Real> {
  constructor(
    readonly pick: number,
    readonly count: number,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.blocks.length > 0;
  }
  run(model: Model, r: Real): void {
    for (let i = 0; i < this.count && model.blocks.length > 0; i++) {
      const k = (this.pick * (i + 1)) % model.blocks.length;
      const b = model.blocks[k] as Block;
      expectBytes(r, b, 0, b.size);
      r.a.free(b.p, b.size);
      model.blocks.splice(k, 1);
    }
    verify(model, r);
  }
  toString(): string {
    return `free ${this.count} from #${this.pick}`;
  }
}

class Mesh implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(model: Model, r: Real): void {
    const before = r.a.meshStats();
    const pairs = r.a.mesh();
    // Each pair gives one physical span back and keeps every slot.
    expect(r.a.meshStats()).toEqual({
      meshes: before.meshes + pairs,
      physicalSpans: before.physicalSpans - pairs,
      virtualSpans: before.virtualSpans,
    });
    verify(model, r);
  }
  toString(): string {
    return "mesh()";
  }
}

const size = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(16, 64, 250, 1000) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 1024 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1025, max: 20_000 }) },
);

const commands = [
  fc.tuple(size, fc.integer({ min: 1, max: 24 })).map(([s, n]) => new Malloc(s, n)),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 24 })).map(([i, n]) => new Free(i, n)),
  fc.constant(new Mesh()),
];

/** Mesh's malloc/free/mesh against a byte model; its checker and Shmem after every command. */
export const MESH_MODEL: PropertyModel<{ seed: number; cmds: Iterable<fc.Command<Model, Real>> }> = {
  name: "mesh",
  budget: 600,
  storyMax: 60,
  arbitrary: (max) =>
    fc.record({ seed: fc.integer({ min: 1, max: 1000 }), cmds: fc.commands(commands, { maxCommands: max, size: "max" }) }),
  run({ seed, cmds }) {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    const p = m.spawn("mesh");
    // Automatic passes too (every 16 frees), besides the drawn ones.
    const a = createMesh(p, { seed, meshPeriod: 16, spans: 1024 });
    const model: Model = { blocks: [], nextTag: 1 };
    const stats: StoryStats = { commands: 0, checks: 0 };
    const real = { m, p, a, stats };
    runModel(model, real, cmds, stats);
    for (const b of model.blocks) {
      expectBytes(real, b, 0, b.size);
      a.free(b.p, b.size);
    }
    a.check();
    expect(a.meshStats().physicalSpans).toBe(0);
    expect(a.meshStats().virtualSpans).toBe(0);
    p.exit(0);
    m.check();
    stats.checks += 2;
    return stats;
  },
};
