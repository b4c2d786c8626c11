/**
 * Multi-CPU stories end to end: threads that malloc, write, fork and unmap
 * on several CPUs under a seeded schedule. The same seed gives the same
 * bytes everywhere (steps, every event with its CPU, /proc files, stats);
 * a one-CPU machine runs the same story exactly as a machine booted without
 * the option.
 */
import { describe, expect, it } from "vitest";
import { Machine, type Program, type Schedule } from "../../sim/index.ts";

/** Boots, runs a story of 3 threads with malloc, stores, fork and free, and returns every byte it produced. */
function story(cpus: number | undefined, schedule: Schedule): string {
  const m = Machine.boot(cpus === undefined ? { ramBytes: 16 << 20 } : { ramBytes: 16 << 20, cpus });
  const lines: string[] = [];
  m.events.onAll((e) => lines.push(JSON.stringify(e)));
  const p = m.spawn("app");
  const threads = [p, p.spawnThread("a", { stackBytes: 16384 }), p.spawnThread("b", { stackBytes: 16384 })];
  const live: number[] = [];
  const programs: Program[] = threads.map((t, k) => ({
    thread: t ?? p,
    ops: [
      () => {
        const ptr = p.libc.malloc(3000 + k * 1000);
        live.push(ptr);
        return ptr;
      },
      () => p.mem.write32(live[live.length - 1] ?? 0, k),
      () => {
        const c = p.fork();
        c?.mem.write32(live[0] ?? 0, 77);
        c?.exit(0);
        return c?.pid;
      },
      () => p.mem.read32(live[0] ?? 0),
      () => p.libc.free(live.pop() ?? 0),
    ],
  }));
  const r = m.run(programs, { schedule, afterStep: () => m.check() });
  return [
    r.text(),
    lines.join("\n"),
    m.proc.interrupts(),
    m.proc.lockStat(),
    m.proc.meminfo(),
    p.proc.maps(),
    JSON.stringify(m.stats()),
  ].join("\n");
}

describe("multi-CPU stories", () => {
  it("the same seed gives the same bytes: steps, events with their CPUs, /proc and stats", () => {
    const s = { kind: "random", seed: 11, migrate: 0.3 } as const;
    const a = story(4, s);
    expect(story(4, s)).toBe(a);
    expect(story(4, { ...s, seed: 12 })).not.toBe(a);
    expect(a).toMatch(/"cpu":1,/);
    expect(a).toMatch(/"cpu":2,/);
  });

  it("round-robin and explicit schedules are as reproducible", () => {
    expect(story(2, { kind: "round-robin" })).toBe(story(2, { kind: "round-robin" }));
    const explicit = { kind: "explicit", steps: [2, 2, [1, 1], 0, 0, 0] } as const;
    expect(story(3, explicit)).toBe(story(3, explicit));
  });

  it("cpus: 1 runs the story exactly as a machine booted without the option", () => {
    expect(story(1, { kind: "random", seed: 5 })).toBe(story(undefined, { kind: "random", seed: 5 }));
  });
});
