/**
 * A clone of the repository works with nothing beside it: no file names a
 * path outside the repository, every relative link in the docs resolves
 * inside it, and a fresh clone in an empty folder replays the bundled
 * CS:APP traces.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { MALLOCLAB_TRACES } from "../sim/trace/malloclab.ts";

const ROOT = resolve(import.meta.dirname, "..");
const SKIP = new Set(["node_modules", ".git", "out"]);

/** Every file of the repository (what git tracks when it can say, else the tree). */
function repoFiles(): string[] {
  try {
    return execFileSync("git", ["ls-files"], { cwd: ROOT, encoding: "utf8" }).split("\n").filter(Boolean);
  } catch {
    return walk(".");
  }
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    if (SKIP.has(name)) continue;
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...walk(path));
    else out.push(path);
  }
  return out;
}

const TEXT = /\.(ts|mjs|js|json|md|sh|c|h)$|(^|\/)(Makefile|run)$/;
const textFiles = repoFiles().filter((f) => TEXT.test(f) && f !== "package-lock.json" && existsSync(join(ROOT, f)));

/** A path that climbs out of the repository to a sibling folder of the team's. */
const SIBLING = new RegExp(["\\.\\./", "shared"].join(""));

describe("the repository stands on its own", () => {
  it("no source, test, script or doc names the team's sibling folder", () => {
    const bad = textFiles.filter((f) => SIBLING.test(readFileSync(join(ROOT, f), "utf8")));
    expect(bad).toEqual([]);
  });

  it("every relative link in a Markdown file resolves inside the repository", () => {
    const bad: string[] = [];
    for (const f of textFiles.filter((x) => x.endsWith(".md"))) {
      const text = readFileSync(join(ROOT, f), "utf8");
      for (const m of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        const target = m[1] as string;
        if (/^[a-z]+:/.test(target)) continue;
        const abs = resolve(ROOT, dirname(f), target);
        if (relative(ROOT, abs).startsWith("..") || !existsSync(abs)) bad.push(`${f} -> ${target}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("the eleven CS:APP traces and their provenance note ship inside the repository", () => {
    const dir = join(ROOT, "sim/trace/malloclab");
    for (const t of MALLOCLAB_TRACES) expect(existsSync(join(dir, t)), t).toBe(true);
    expect(readFileSync(join(dir, "README.md"), "utf8")).toContain("Computer Systems: A");
  });

  it("a fresh clone in an empty folder replays the bundled traces (committed state)", () => {
    let head = "";
    try {
      head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    } catch {
      return; // not a git checkout: the static checks above are the proof
    }
    const parent = mkdtempSync(join(tmpdir(), "memsim-clone-"));
    try {
      const clone = join(parent, "memsim");
      execFileSync("git", ["clone", "--quiet", "--no-local", ROOT, clone]);
      execFileSync("git", ["checkout", "--quiet", head], { cwd: clone });
      symlinkSync(join(ROOT, "node_modules"), join(clone, "node_modules"));
      expect(readdirSync(parent)).toEqual(["memsim"]);
      const out = execFileSync(process.execPath, ["--import", "tsx", "sim/cli/main.ts", "trace", "run", "--json"], {
        cwd: clone,
        encoding: "utf8",
      });
      const result = JSON.parse(out) as { traces: Array<{ name: string; valid: boolean }> };
      expect(result.traces.map((t) => t.name)).toEqual([...MALLOCLAB_TRACES]);
      expect(result.traces.every((t) => t.valid)).toBe(true);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
