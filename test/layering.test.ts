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
