/**
 * Golden outputs of every command and view. The files under test/golden/
 * are the reviewed output; a change in output fails here until the files are
 * rewritten with UPDATE_GOLDEN=1 and reviewed in the diff.
 */
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { COMMANDS } from "../../../sim/cli/cli.ts";
import { TOPICS } from "../../../sim/cli/quiz/quiz.ts";
import { SCENARIOS } from "../../../sim/cli/scenario.ts";
import { expectGolden, GOLDEN, memsim } from "./helpers.ts";

describe("memsim run", () => {
  for (const s of SCENARIOS) {
    it(`run ${s.name} prints its golden text`, async () => {
      const r = await memsim(["run", s.name, "--ram", "16M", "--seed", "3"]);
      expect(r.err).toBe("");
      expect(r.status).toBe(0);
      expectGolden(`cli/run-${s.name}.txt`, r.out);
    });
  }

  for (const s of SCENARIOS) {
    it(`run ${s.name} tells its story, or where it stops, on the smallest machines too`, async () => {
      for (const ram of ["1M", "2M", "3M"]) {
        const r = await memsim(["run", s.name, "--ram", ram]);
        expect([r.status, r.err]).toEqual([0, ""]);
        expect(r.out).toContain("all invariant checkers passed");
      }
    });
  }

  it("run with no arguments is the default scenario at 64M and seed 1", async () => {
    const r = await memsim(["run"]);
    expect(r.out.split("\n")[0]).toBe("# memsim run: scenario=default ram=64M seed=1");
    expectGolden("cli/run.txt", r.out);
  });

  it("run --json prints the same run as one JSON document", async () => {
    const r = await memsim(["run", "--json", "--ram", "8M"]);
    const doc = JSON.parse(r.out) as { scenario: string; ram: number; seed: number; steps: string[]; meminfo: Record<string, number> };
    expect([doc.scenario, doc.ram, doc.seed, doc.steps.length]).toEqual(["default", 8 << 20, 1, 10]);
    expect(doc.meminfo.MemTotal).toBeGreaterThan(0);
    expectGolden("cli/run-json.json", r.out);
  });

  it("run thrash --json: EAT per step from the cost clock, low while the working set fits the group's 16 frames, thousands of ns past it", async () => {
    const r = await memsim(["run", "thrash", "--json", "--ram", "8M"]);
    const doc = JSON.parse(r.out) as { eat: Array<{ step: number; label: string; accesses: number; ns: number; eatNs: number }> };
    expect(doc.eat.map((e) => e.label)).toEqual([8, 12, 16, 17, 20, 24, 32].map((n) => `working set ${n} pages`));
    // 16 accesses a page, 4 sweeps, plus one retried access per fault (8 + 4 + 4 first touches, then 52 faults at 17 pages).
    expect(doc.eat.map((e) => e.accesses)).toEqual([520, 772, 1028, 1140, 1360, 1632, 2176]);
    for (const e of doc.eat) expect(e.eatNs).toBe(Math.round((e.ns * 10) / e.accesses) / 10);
    const fits = doc.eat.slice(0, 3).map((e) => e.eatNs);
    const over = doc.eat.slice(3).map((e) => e.eatNs);
    expect(Math.max(...fits)).toBeLessThan(20);
    expect(Math.min(...over)).toBeGreaterThan(9000);
    expectGolden("cli/run-thrash.json", r.out);
  });

  it("identical arguments print identical bytes; another seed prints others", async () => {
    const a = await memsim(["run", "--seed", "9", "--ram", "16M"]);
    const b = await memsim(["run", "--seed", "9", "--ram", "16M"]);
    const c = await memsim(["run", "--seed", "10", "--ram", "16M"]);
    expect(a.out).toBe(b.out);
    expect(c.out).not.toBe(a.out);
  });
});

describe("help", () => {
  it("memsim --help lists every command", async () => {
    const r = await memsim(["--help"]);
    for (const c of COMMANDS) expect(r.out).toContain(`  ${c.name} `);
    expectGolden("cli/help.txt", r.out);
  });

  it("memsim help CMD prints what memsim CMD --help prints", async () => {
    for (const c of COMMANDS) expect((await memsim(["help", c.name])).out).toBe((await memsim([c.name, "--help"])).out);
  });

  for (const c of COMMANDS) {
    it(`memsim ${c.name} --help`, async () => {
      const r = await memsim([c.name, "--help"]);
      expect(r.status).toBe(0);
      expect(r.out.startsWith(c.raw ? `usage: memsim ${c.name} ` : `usage: memsim ${c.name} [options]`)).toBe(true);
      expectGolden(`cli/help-${c.name}.txt`, r.out);
    });
  }
});

describe("memsim script", () => {
  const scripts = readdirSync(join(GOLDEN, "scripts")).filter((f) => f.endsWith(".msh"));
  it("has scripts to run", () => {
    expect(scripts.length).toBeGreaterThan(0);
  });
  for (const f of scripts) {
    it(`script ${f} prints its golden transcript`, async () => {
      const r = await memsim(["script", "--echo", "--keep-going", join(GOLDEN, "scripts", f)]);
      expectGolden(`cli/script-${f.replace(/\.msh$/, ".txt")}`, r.out);
      expectGolden(`cli/script-${f.replace(/\.msh$/, ".status")}`, `${r.status}\n${r.err.replaceAll(GOLDEN, "GOLDEN")}`);
    });
  }

  it("every command of the language appears in some golden script", async () => {
    const { LANG_COMMANDS, SUBJECT_COMMANDS } = await import("../../../sim/cli/lang/registry.ts");
    const { readFileSync } = await import("node:fs");
    const text = scripts.map((f) => readFileSync(join(GOLDEN, "scripts", f), "utf8")).join("\n");
    const used = new Set(
      text.split("\n").flatMap((l) =>
        l
          .replace(/#.*/, "")
          .replace(/^\s*\w+ = /, "")
          .trim()
          .split(/\s+/)
          .slice(0, 2),
      ),
    );
    const missing = LANG_COMMANDS.map((c) => c.name).filter((n) => !used.has(n));
    const subject = Object.values(SUBJECT_COMMANDS)
      .flat()
      .map((c) => c.name)
      .filter((n) => !used.has(n));
    expect({ missing, subject }).toEqual({ missing: [], subject: [] });
  });

  it("script --json prints one JSON object per command", async () => {
    const r = await memsim(["script", "--json", join(GOLDEN, "scripts", "buddy.msh")]);
    const lines = r.out.trim().split("\n");
    const first = JSON.parse(lines[0] as string) as { line: number; cmd: string; ok: boolean; text: string };
    expect(first).toEqual({
      line: 2,
      cmd: "boot ram=32M seed=1 pcp=-1",
      ok: true,
      text: "booted: ram=32M seed=1 pages=8192 managed=8047 free=8047",
    });
    expect(lines.every((l) => (JSON.parse(l) as { ok: boolean }).ok)).toBe(true);
  });
});

describe("memsim quiz", () => {
  for (const t of TOPICS) {
    it(`quiz ${t.name} hides its answers and shows them with -c`, async () => {
      const q = await memsim(["quiz", t.name, "--seed", "5", "-n", "2"]);
      const a = await memsim(["quiz", t.name, "--seed", "5", "-n", "2", "-c"]);
      expect(q.out).not.toContain("Answer:\n");
      expect(a.out).toContain("Answer:\n");
      expectGolden(`cli/quiz-${t.name}.txt`, a.out);
    });
  }

  it("quiz with the same seed asks the same questions; another seed others", async () => {
    const a = await memsim(["quiz", "--seed", "1"]);
    const b = await memsim(["quiz", "--seed", "1"]);
    const c = await memsim(["quiz", "--seed", "2"]);
    expect(a.out).toBe(b.out);
    expect(c.out).not.toBe(a.out);
  });

  it("quiz --json leaves the answers out unless -c", async () => {
    const q = JSON.parse((await memsim(["quiz", "kmalloc", "--json"])).out) as { exercises: Array<Record<string, string>> };
    const a = JSON.parse((await memsim(["quiz", "kmalloc", "--json", "-c"])).out) as { exercises: Array<Record<string, string>> };
    expect(Object.keys(q.exercises[0] ?? {})).toEqual(["topic", "question"]);
    expect(Object.keys(a.exercises[0] ?? {})).toEqual(["topic", "question", "answer"]);
  });
});

describe("memsim report", () => {
  it("report --json lists every block of RAM exactly once", async () => {
    const r = await memsim(["report", "--json", "--ram", "8M"]);
    const doc = JSON.parse(r.out) as { blocks: Array<{ pfn: string; order: number }> };
    let next = 0;
    for (const b of doc.blocks) {
      expect(Number.parseInt(b.pfn, 16)).toBe(next);
      next += 1 << b.order;
    }
    expect(next).toBe(2048);
    expectGolden("cli/report-8M.json", r.out);
  });

  it("report thrash draws the EAT of each step: one point and one table row per step of the working set", async () => {
    const r = await memsim(["report", "-o", "-", "--ram", "8M", "thrash"]);
    const at = r.out.indexOf('<section id="eat">');
    expect(at).toBeGreaterThan(0);
    const section = r.out.slice(at, r.out.indexOf("</section>", at) + "</section>".length);
    expect(section.match(/<circle /g)?.length).toBe(7);
    expect(section.match(/<tr><td>\d/g)?.length).toBe(7);
    expectGolden("cli/report-thrash-eat.html", `${section}\n`);
    const def = await memsim(["report", "-o", "-", "--ram", "8M"]);
    expect(def.out).not.toContain('<section id="eat">');
  });

  it("report -o - writes the page to stdout, the same bytes each time", async () => {
    const a = await memsim(["report", "-o", "-", "--ram", "8M"]);
    const b = await memsim(["report", "-o", "-", "--ram", "8M"]);
    expect(a.out).toBe(b.out);
    expect(a.out.startsWith("<!DOCTYPE html>")).toBe(true);
    expectGolden("cli/report-8M.html", a.out);
  });
});

describe("memsim trace", () => {
  it("trace list prints the registered allocators", async () => {
    const r = await memsim(["trace", "list"]);
    expect(r.status).toBe(0);
    expectGolden("cli/trace-list.txt", r.out);
  });

  it("trace run replays a trace through the dispatcher, with a spinner only on a terminal", async () => {
    const dir = mkdtempSync(join(tmpdir(), "memsim-trace-"));
    writeFileSync(join(dir, "small.rep"), "20000\n2\n4\n1\na 0 100\na 1 200\nf 0\nf 1\n");
    const r = await memsim(["trace", "run", join(dir, "small.rep"), "--json"]);
    expect(r.status).toBe(0);
    expect(r.err).toBe("");
    const doc = JSON.parse(r.out) as { traces: Array<{ name: string; valid: boolean; ops: number }> };
    expect(doc.traces.map((t) => [t.name, t.valid, t.ops])).toEqual([["small.rep", true, 4]]);
    const { cli } = await import("../../../sim/cli/cli.ts");
    const { memoryIo } = await import("../../../sim/cli/io.ts");
    const io = { ...memoryIo(), errIsTTY: true };
    expect(await cli(["trace", "run", join(dir, "small.rep")], io)).toBe(0);
    const clear = "\r\x1b[2K";
    expect(io.err.text.startsWith(`${clear}trace / 1 runs replayed`)).toBe(true);
    expect(io.err.text.endsWith(`runs replayed${clear}`)).toBe(true);
  });
});

describe("README", () => {
  it("the command-language example in README.md runs without an error", async () => {
    const { readFileSync } = await import("node:fs");
    const { ROOT } = await import("./helpers.ts");
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const block = /The command language \(shell and scripts\), a few lines of it:\n\n```\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const file = join(mkdtempSync(join(tmpdir(), "memsim-readme-")), "readme.msh");
    writeFileSync(file, block as string);
    const r = await memsim(["script", file]);
    expect([r.status, r.err]).toEqual([0, ""]);
    expect(r.out.split("\n").length).toBeGreaterThan(20);
  });
});
