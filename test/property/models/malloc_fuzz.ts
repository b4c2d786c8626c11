/**
 * A scribbled heap never breaks the emulator: after random writes over chunk
 * and arena headers, malloc/free/realloc either work or kill the process
 * (glibc's "malloc(): corrupted ..." aborts); never another exception, and
 * the kernel's checkers pass after the process is gone.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { ProcessKilled } from "../../../kernel/signal.ts";
import { Machine } from "../../../sim/machine.ts";
import { Libc } from "../../../userspace/libc/libc.ts";
import type { PropertyModel, StoryStats } from "../../support/budget.ts";

/** One step after the heap was scribbled on. */
type Op =
  | { kind: "malloc"; size: number }
  | { kind: "free"; index: number }
  | { kind: "realloc"; index: number; size: number }
  | { kind: "memalign"; size: number };

const size = fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 200, max: 20000 }), fc.integer({ min: 100000, max: 300000 }));
const op: fc.Arbitrary<Op> = fc.oneof(
  size.map((s) => ({ kind: "malloc" as const, size: s })),
  fc.nat(100).map((i) => ({ kind: "free" as const, index: i })),
  fc.tuple(fc.nat(100), size).map(([i, s]) => ({ kind: "realloc" as const, index: i, size: s })),
  size.map((s) => ({ kind: "memalign" as const, size: s })),
);
/**
 * A scribble: a word offset around a live block's header (block >= 0), or a
 * word of the arena header at the heap's start (block < 0), and the value written.
 */
const scribble = fc.record({
  block: fc.integer({ min: -30, max: 100 }),
  word: fc.integer({ min: -6, max: 12 }),
  arenaWord: fc.nat(257),
  value: fc.oneof(fc.nat(64), fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 1, 8, 9, 16, 17, 0x21, 0x31)),
});
const HEAP = 0x555555559000;

type Story = [number[], Array<typeof scribble extends fc.Arbitrary<infer S> ? S : never>, Op[]];

/** The machine the stories' processes run on (one per test file: spawning is cheaper than booting). */
let machine: Machine | null = null;

/**
 * Allocations, then scribbles over chunk and arena headers, then malloc /
 * free / realloc / memalign: each works or kills the process; the kernel's
 * checkers pass after every story. Commands: allocations, scribbles and ops.
 */
export const MALLOC_FUZZ_MODEL: PropertyModel<Story> = {
  name: "malloc-fuzz",
  budget: 10_000,
  storyMax: 40,
  arbitrary: (max) =>
    fc.tuple(
      fc.array(size, { minLength: 3, maxLength: 12 }),
      fc.array(scribble, { minLength: 1, maxLength: 4 }),
      fc.array(op, { maxLength: max, size: "max" }),
    ),
  run([sizes, scribbles, ops]) {
    machine ??= Machine.boot({ ramBytes: 64 << 20, debugVm: 0 });
    const m = machine;
    const stats: StoryStats = { commands: sizes.length + 1, checks: 0 };
    const p = m.spawn("fuzz");
    const libc = new Libc(p);
    const live = sizes.map((s) => libc.malloc(s)).filter((q) => q !== 0);
    libc.free(live.splice(1, 1)[0]!);
    try {
      for (const s of scribbles) {
        stats.commands++;
        p.mem.write32(s.block < 0 ? HEAP + 4 * s.arenaWord : live[s.block % live.length]! + 4 * s.word, s.value);
      }
      for (const o of ops) {
        stats.commands++;
        if (o.kind === "malloc") live.push(libc.malloc(o.size));
        else if (o.kind === "memalign") live.push(libc.memalign(64, o.size));
        else if (live.length > 0) {
          const i = o.index % live.length;
          if (o.kind === "free") libc.free(live.splice(i, 1)[0]!);
          else live[i] = libc.realloc(live[i]!, o.size);
        }
      }
    } catch (e) {
      expect(e).toBeInstanceOf(ProcessKilled);
    }
    if (p.state === "running") p.exit(0);
    m.check();
    stats.checks++;
    return stats;
  },
};
