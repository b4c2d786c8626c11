import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...sources(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const found: string[] = [];
  for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)) {
    const spec = (m[1] ?? m[2]) as string;
    if (spec.startsWith(".")) found.push(relative(ROOT, join(ROOT, file, "..", spec)));
  }
  return found;
}

describe("imports point downward only", () => {
  it("kernel/ imports nothing from sim/ or userspace/", () => {
    const bad = sources("kernel").flatMap((f) =>
      imports(f)
        .filter((i) => /^(sim|userspace)\//.test(i))
        .map((i) => `${f} -> ${i}`),
    );
    expect(bad).toEqual([]);
  });

  it("userspace/ imports no kernel internals (only kernel/errno.ts and kernel/uapi)", () => {
    const bad = sources("userspace").flatMap((f) =>
      imports(f)
        .filter((i) => (i.startsWith("kernel/") && i !== "kernel/errno.ts" && !i.startsWith("kernel/uapi/")) || i.startsWith("sim/"))
        .map((i) => `${f} -> ${i}`),
    );
    expect(bad).toEqual([]);
  });

  it("the checker itself finds an upward import", () => {
    const found = imports("sim/machine.ts");
    expect(found).toContain("kernel/kernel.ts");
  });
});

/** The groups of kernel/ files that import each other in a circle (strongly connected components, Tarjan). */
function importCycles(dir: string): string[] {
  const files = sources(dir);
  const known = new Set(files);
  const graph = new Map(files.map((f) => [f, imports(f).filter((i) => known.has(i))]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    for (;;) {
      const w = stack.pop() as string;
      onStack.delete(w);
      group.push(w);
      if (w === v) break;
    }
    if (group.length > 1) groups.push(group.sort().join(" <-> "));
  };
  for (const f of [...files].sort()) if (!index.has(f)) visit(f);
  return groups.sort();
}

/**
 * Circles not broken yet (issue 14 part 4). The list must shrink, never grow:
 * a new circle, or one broken without its line removed here, fails the test.
 */
const CYCLES_LEFT = [
  "kernel/fork.ts <-> kernel/proc/pid.ts <-> kernel/process.ts <-> kernel/syscalls.ts",
  "kernel/mm/dump_pagetables.ts <-> kernel/mm/pgalloc.ts <-> kernel/mm/pgtable.ts <-> kernel/mm/pgtable_map.ts <-> kernel/mm/pgtable_range.ts",
  "kernel/mm/mmu.ts <-> kernel/mm/mmu_memory.ts",
  "kernel/mm/slab.ts <-> kernel/mm/slab_debug.ts <-> kernel/mm/slab_slowpath.ts",
];

describe("kernel/ import cycles", () => {
  it("no file imports itself around a circle, beyond the circles listed as not yet broken", () => {
    expect(importCycles("kernel")).toEqual(CYCLES_LEFT);
  });

  it("kernel.ts, kernel_types.ts, task_init.ts and main.ts are in no circle (main.ts is the only file that knows every layer)", () => {
    const inCycle = importCycles("kernel").flatMap((g) => g.split(" <-> "));
    for (const f of ["kernel/kernel.ts", "kernel/kernel_types.ts", "kernel/task_init.ts", "kernel/main.ts", "kernel/mm/mm_check.ts"])
      expect(inCycle).not.toContain(f);
  });

  it("the cycle finder finds a circle", () => {
    expect(importCycles("kernel/mm").length).toBeGreaterThan(0);
  });
});
