/**
 * Bad input never crashes memsim: each case prints a message naming what was
 * wrong and exits with the documented status (2 bad command line, 1 bad input
 * found while running).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { memsim } from "./helpers.ts";

const HINT = (cmd: string) => `Try 'memsim ${cmd} --help' for more information.\n`;

describe("bad command lines exit 2 with a message naming the problem", () => {
  const cases: Array<[string[], string]> = [
    [["frob"], "memsim: unknown command 'frob' (try 'memsim --help')\n"],
    [["run", "--ram", "12Q"], `memsim run: --ram: not a size: '12Q' (use a number with an optional K, M, G or T suffix)\n${HINT("run")}`],
    [["run", "--ram"], `memsim run: option '--ram' needs a value (SIZE)\n${HINT("run")}`],
    [
      ["run", "--ram", "3000"],
      `memsim run: Machine.boot: ramBytes must be a multiple of 4096 from 1 MiB (1048576) to 4 GiB (4294967296), got 3000\n${HINT("run")}`,
    ],
    [["run", "--seed", "-4"], `memsim run: --seed: expected an integer from 0 to 4294967295, got '-4'\n${HINT("run")}`],
    [["run", "--colour"], `memsim run: unknown option '--colour'\n${HINT("run")}`],
    [["run", "nosuch"], `memsim run: unknown scenario 'nosuch' (scenarios: default, oom, fragment, compaction, thrash)\n${HINT("run")}`],
    [["run", "default", "extra"], `memsim run: unexpected argument 'extra'\n${HINT("run")}`],
    [["run", "--json=yes"], `memsim run: option '--json' takes no value\n${HINT("run")}`],
    [["script"], `memsim script: missing argument FILE\n${HINT("script")}`],
    [["quiz", "calculus"], `memsim quiz: unknown topic 'calculus' (topics: translate, buddy, fit, kmalloc, all)\n${HINT("quiz")}`],
    [["quiz", "-n", "0"], `memsim quiz: --number: expected an integer from 1 to 50, got '0'\n${HINT("quiz")}`],
    [["report"], `memsim report: missing -o FILE (the page to write; '-' for stdout)\n${HINT("report")}`],
    [
      ["report", "-o", "-", "--addr", "0xnothex"],
      `memsim report: --addr: bad address '0xnothex' (expected hex, e.g. 0x7f0000001000)\n${HINT("report")}`,
    ],
    [
      ["report", "-o", "-", "--addr", "ffff888000000000"],
      `memsim report: --addr: ffff888000000000 is a kernel address; the walk is drawn for user addresses\n${HINT("report")}`,
    ],
    [
      ["report", "-o", "-", "fragment", "--addr", "0x1000"],
      `memsim report: --addr: scenario 'fragment' leaves no process to walk in\n${HINT("report")}`,
    ],
    [["serve", "--port", "70000"], `memsim serve: --port: expected an integer from 0 to 65535, got '70000'\n${HINT("serve")}`],
    [["bench", "("], `memsim bench: bad pattern '(': not a regular expression\n${HINT("bench")}`],
    [
      ["run", "--log-level", "loud"],
      `memsim run: --log-level: expected one of silent, fatal, error, warn, info, debug, trace, got 'loud'\n${HINT("run")}`,
    ],
  ];
  for (const [argv, message] of cases) {
    it(`memsim ${argv.join(" ")}`, async () => {
      const r = await memsim(argv);
      expect(r.err).toBe(message);
      expect(r.out).toBe("");
      expect(r.status).toBe(2);
    });
  }
});

describe("bad input found while running exits 1", () => {
  it("a missing script file", async () => {
    const r = await memsim(["script", "no/such/file.msh"]);
    expect([r.status, r.err]).toEqual([1, "memsim script: cannot read 'no/such/file.msh': no such file\n"]);
  });

  it("a directory given as a script", async () => {
    const r = await memsim(["script", "test"]);
    expect([r.status, r.err]).toEqual([1, "memsim script: cannot read 'test': is a directory\n"]);
  });

  it("a report into a directory that does not exist", async () => {
    const r = await memsim(["report", "-o", "no/such/dir/r.html", "--ram", "4M"]);
    expect([r.status, r.err]).toEqual([1, "memsim report: cannot write 'no/such/dir/r.html': no such directory\n"]);
  });

  it("serve on a port already in use", async () => {
    const { serveReport } = await import("../../../sim/cli/report/report.ts");
    const busy = await serveReport("busy", 0);
    try {
      const port = (busy.address() as { port: number }).port;
      const r = await memsim(["serve", "--port", String(port), "--ram", "4M"]);
      expect([r.status, r.err]).toEqual([1, `memsim serve: port ${port} is in use on 127.0.0.1\n`]);
    } finally {
      busy.close();
    }
  });

  it("a script stops at its first bad line and names file and line", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "memsim-")), "bad.msh");
    writeFileSync(file, "boot ram=4M\n\nexplain 0xnothex\necho never printed\n");
    const r = await memsim(["script", file]);
    expect(r.status).toBe(1);
    expect(r.out).toBe("booted: ram=4M seed=1 pages=1024 managed=991 free=991\n");
    expect(r.err).toBe(`memsim script: ${file}:3: error: explain: bad address '0xnothex' (expected hex, e.g. 0x7f0000001000)\n`);
  });
});
