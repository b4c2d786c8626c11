/**
 * The CLI's small parts: the argument parser, the progress bar (terminal
 * only), the pretty log lines, and the bench command's shape (not its timing).
 */
import { describe, expect, it } from "vitest";
import { parseArgs, UsageError } from "../../../sim/cli/args.ts";
import { memoryIo } from "../../../sim/cli/io.ts";
import { makeProgress } from "../../../sim/cli/progress.ts";
import { makeLogger, prettyDestination } from "../../../sim/log.ts";
import { memsim } from "./helpers.ts";

const SPECS = [
  { name: "ram", kind: "size", help: "" },
  { name: "seed", kind: "int", help: "", max: 100 },
  { name: "json", kind: "flag", help: "" },
  { name: "compute", short: "c", kind: "flag", help: "" },
] as const;

describe("parseArgs", () => {
  it("reads --opt value, --opt=value, short flags, hex and positionals after --", () => {
    const p = parseArgs(["--ram", "16K", "--seed=0x10", "-c", "a", "--", "--json"], SPECS, [{ name: "x", help: "", rest: true }]);
    expect([p.int("ram", 0), p.int("seed", 0), p.flag("compute"), p.flag("json"), p.pos]).toEqual([
      16384,
      16,
      true,
      false,
      ["a", "--json"],
    ]);
  });

  it("names the problem in its error", () => {
    expect(() => parseArgs(["--seed", "101"], SPECS, [])).toThrow(new UsageError("--seed: expected an integer from 0 to 100, got '101'"));
    expect(() => parseArgs(["-z"], SPECS, [])).toThrow(new UsageError("unknown option '-z'"));
    expect(() => parseArgs([], SPECS, [{ name: "FILE", help: "" }])).toThrow(new UsageError("missing argument FILE"));
  });
});

describe("progress bar", () => {
  it("draws nothing when stderr is not a terminal", () => {
    const io = memoryIo();
    const bar = makeProgress(io, "bench");
    bar.update(1, 4, "case");
    bar.done();
    expect(io.err.text).toBe("");
  });

  it("redraws one line in place on a terminal and erases it when done", () => {
    const io = { ...memoryIo(), errIsTTY: true };
    const bar = makeProgress(io, "bench");
    bar.update(1, 4, "lifo");
    bar.done();
    expect(io.err.text).toBe(`\r\x1b[2Kbench [########----------------------] 1/4 lifo\r\x1b[2K`);
  });
});

describe("pretty logs", () => {
  it("turns pino's JSON into one readable line", () => {
    const lines: string[] = [];
    const log = makeLogger("warn", prettyDestination({ write: (s: string) => lines.push(s) }));
    log.child({ subsystem: "printk" }).warn({ kind: "page_alloc_failure" }, "order:11 failed");
    log.info({}, "dropped below the level");
    expect(lines).toEqual(["WARN  printk: order:11 failed kind=page_alloc_failure\n"]);
  });
});

describe("memsim bench", () => {
  it("--json lists the baselines and the matching cases with positive figures", async () => {
    const r = await memsim(["bench", "^no case has this name$", "--json"]);
    const rows = JSON.parse(r.out) as Array<{ name: string; nsPerOp: number; opsPerSec: number }>;
    expect(rows.map((x) => x.name.startsWith("baseline: "))).toEqual(rows.map(() => true));
    expect(rows.length).toBeGreaterThan(0);
    for (const x of rows) expect(x.nsPerOp > 0 && x.opsPerSec > 0).toBe(true);
  });
});
