import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Machine } from "../../../sim/machine.ts";
import { traceCommand } from "../../../sim/trace/cli.ts";
import { MALLOCLAB_TRACES } from "../../../sim/trace/malloclab.ts";
import { exitProcess, testSpawner } from "../../support/process.ts";

const dir = mkdtempSync(join(tmpdir(), "memsim-cli-"));
writeFileSync(join(dir, "small.rep"), "20000\n2\n4\n1\na 0 100\na 1 200\nf 0\nf 1\n");
writeFileSync(join(dir, "bad.rep"), "2\n2\na 0 1\nq 0\n");
mkdirSync(join(dir, "set"));
writeFileSync(join(dir, "set", "b.jsonl"), '{"op":"a","id":0,"size":16}\n{"op":"f","id":0}\n');
writeFileSync(join(dir, "set", "a.rep"), "1\n2\na 0 8\nf 0\n");
writeFileSync(join(dir, "set", "notes.txt"), "not a trace");

const spawn = testSpawner({ ramBytes: 16 << 20 });

function run(args: string[], sp = spawn): { code: number; out: string; err: string } {
  let out = "";
  let err = "";
  const code = traceCommand(
    args,
    { write: (s: string) => (out += s) },
    { write: (s: string) => (err += s) },
    { spawn: sp, release: exitProcess },
  );
  return { code, out, err };
}

describe("memsim trace run", () => {
  it("replays with the default malloc when no allocator is named", () => {
    const r = run(["run", join(dir, "small.rep"), "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).traces[0]).toMatchObject({ name: "small.rep", valid: true });
    expect(run(["run", join(dir, "small.rep")]).out.split("\n")[0]).toBe("Results for malloc:");
  });

  it("--json prints { traces, meanUtil, kops, perfIndex } and exits 0 when every trace is valid", () => {
    const r = run(["run", join(dir, "small.rep"), "--allocator", "firstfit", "--json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(Object.keys(j)).toEqual(["traces", "meanUtil", "kops", "perfIndex"]);
    expect(Object.keys(j.traces[0])).toEqual(["name", "valid", "util", "ops", "secs", "kops", "errors"]);
    expect(j.traces[0]).toMatchObject({ name: "small.rep", valid: true, util: 300 / 4192, ops: 4, errors: [] });
  });

  it("prints mdriver's table by default", () => {
    const r = run(["run", join(dir, "small.rep"), "--allocator=bestfit"]);
    expect(r.code).toBe(0);
    const lines = r.out.split("\n");
    expect(lines[0]).toBe("Results for bestfit:");
    expect(lines[1]).toBe("trace  valid  util     ops      secs      Kops  trace file");
    expect(lines[2]).toMatch(/^ 0 {7}yes {4}7% {7}4 +\d+\.\d{6} +\d+ {2}small\.rep$/);
    expect(lines[5]).toMatch(/^Perf index = 4 \(util\) \+ \d+ \(thru\) = \d+\/100$/);
  });

  it("a directory stands for its .rep and .jsonl files, in name order", () => {
    const r = run(["run", join(dir, "set"), "--allocator", "buddy", "--json"]);
    expect(JSON.parse(r.out).traces.map((t: { name: string }) => t.name)).toEqual(["a.rep", "b.jsonl"]);
  });

  it("exits 1 when a trace is invalid: here the machine is too small", () => {
    writeFileSync(join(dir, "big.rep"), "1\n2\na 0 8000000\nf 0\n");
    const tiny = () => Machine.boot({ ramBytes: 4 << 20 }).spawn("tiny");
    const r = run(["run", join(dir, "big.rep"), "--allocator", "arena"], tiny);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^ERROR \[trace 0\]: big\.rep line 3: malloc\(8000000\) for id 0 /);
    expect(r.out).toContain("Terminated with 1 errors");
  });

  it("with no files it replays the eleven bundled CS:APP traces", () => {
    const r = run(["run", "--json"], testSpawner({ ramBytes: 256 << 20 }));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).traces.map((t: { name: string }) => t.name)).toEqual([...MALLOCLAB_TRACES]);
  });

  const usage: Array<[string, string[], string]> = [
    [
      "an unknown allocator",
      ["run", "x.rep", "--allocator", "nope"],
      "memsim trace: unknown allocator 'nope' (known: malloc, arena, pool, firstfit,",
    ],
    ["an unknown option", ["run", "x.rep", "--fast"], "memsim trace: unknown option '--fast'"],
    ["--allocator without a name", ["run", "x.rep", "--allocator"], "memsim trace: --allocator needs a name"],
    ["an unknown subcommand", ["replay"], "memsim trace: unknown trace command 'replay'"],
    ["no subcommand (the usage goes to stderr, like every usage error)", [], "memsim trace: missing trace command (run or list)"],
  ];
  for (const [what, args, message] of usage) {
    it(`exits 2 on ${what}`, () => {
      const r = run(args);
      expect(r.code).toBe(2);
      expect(r.err.startsWith(message)).toBe(true);
      expect(r.err).toContain("usage: memsim trace run");
    });
  }

  it("exits 2 naming the file and line of a malformed trace, and a missing file", () => {
    const bad = run(["run", join(dir, "bad.rep"), "--allocator", "pool"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toBe(`memsim trace: ${join(dir, "bad.rep")}:4: unknown operation 'q' (expected a, r or f)\n`);
    const missing = run(["run", join(dir, "none.rep"), "--allocator", "pool"]);
    expect(missing.code).toBe(2);
    expect(missing.err).toBe(`memsim trace: ${join(dir, "none.rep")}: cannot read: ENOENT\n`);
  });
});

describe("memsim trace list", () => {
  it("names every registered allocator with a summary", () => {
    const r = run(["list"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("firstfit-lifo-nocoalesce     first fit, LIFO list, no coalescing\n");
    expect(r.out.split("\n")[1]).toBe("arena                        bump pointer, free pops only the newest block, reset/checkpoints");
    expect(r.out.split("\n")[0]).toMatch(/^malloc {23}the default malloc/);
  });
});
