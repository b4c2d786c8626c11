/**
 * `--events FILE` and `--ftrace FILE`: the stream of a small script as JSON
 * lines and as ftrace text, byte for byte (golden files), the same bytes on
 * every run, and a clear error for a file that cannot be written.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expectGolden, GOLDEN, memsim } from "./helpers.ts";

const SCRIPT = join(GOLDEN, "events", "story.msh");

async function traced(dir: string, name: string): Promise<{ jsonl: string; ftrace: string; status: number }> {
  const ev = join(dir, `${name}.jsonl`);
  const ft = join(dir, `${name}.trace`);
  const r = await memsim(["script", SCRIPT, "--events", ev, "--ftrace", ft]);
  expect(r.err).toBe("");
  return { jsonl: readFileSync(ev, "utf8"), ftrace: readFileSync(ft, "utf8"), status: r.status };
}

describe("--events and --ftrace", () => {
  it("a script's events as JSON lines and as ftrace text match their golden files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "memsim-events-"));
    const t = await traced(dir, "a");
    expect(t.status).toBe(0);
    expectGolden("events/story.jsonl", t.jsonl);
    expectGolden("events/story.trace", t.ftrace);
  });

  it("the same command writes the same bytes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "memsim-events-"));
    const a = await traced(dir, "a");
    const b = await traced(dir, "b");
    expect(b.jsonl).toBe(a.jsonl);
    expect(b.ftrace).toBe(a.ftrace);
  });

  it("JSON lines and ftrace lines are the same events in the same order", async () => {
    const dir = mkdtempSync(join(tmpdir(), "memsim-events-"));
    const t = await traced(dir, "a");
    const json = t.jsonl
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { seq: number; kind: string; common_pid: number });
    const lines = t.ftrace.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    expect(lines).toHaveLength(json.length);
    json.forEach((e, i) => {
      expect(e.seq).toBe(i + 1);
      const m = /^\s*(\S+)-(\d+)\s+\[000\] \.{5}\s+(\d+)\.(\d{6}): (\w+): /.exec(lines[i] as string);
      expect(m, lines[i]).not.toBeNull();
      expect([Number(m?.[2]), Number(m?.[3]) * 1e6 + Number(m?.[4]), m?.[5]]).toEqual([e.common_pid, e.seq, e.kind]);
    });
  });

  it("a file that cannot be written is bad input (status 1) naming the file", async () => {
    const r = await memsim(["run", "--ram", "2M", "--events", "/nonexistent-dir/x.jsonl"]);
    expect(r.status).toBe(1);
    expect(r.err).toContain("cannot write /nonexistent-dir/x.jsonl");
  });

  it("memsim run --ftrace traces the scenario's machine", async () => {
    const dir = mkdtempSync(join(tmpdir(), "memsim-events-"));
    const ft = join(dir, "run.trace");
    const r = await memsim(["run", "--ram", "8M", "--ftrace", ft]);
    expect(r.status).toBe(0);
    const text = readFileSync(ft, "utf8");
    expect(text.startsWith("# tracer: nop\n")).toBe(true);
    for (const kind of ["mm_page_alloc", "mm_page_free", "page_fault_user", "brk", "task_newtask"]) expect(text).toContain(`: ${kind}: `);
  });

  it("the shell's events command shows what the previous line did, filtered by kind", async () => {
    const dir = mkdtempSync(join(tmpdir(), "memsim-events-"));
    const file = join(dir, "e.msh");
    writeFileSync(file, "boot ram=4M\nspawn p\na = p malloc 100\nevents kind=page_fault_user\nevents max=2\nevents kind=nope\n");
    const r = await memsim(["script", file]);
    expect(r.out.split("\n").slice(3)).toEqual([
      "1 page_fault_user events in the previous line (a = p malloc 100)",
      "19 1 page_fault_user: address=0x555555559000 ip=0x0 error_code=0x6 outcome=demand_zero stack_growth=0 si_code=0",
      "13 events in the previous line (a = p malloc 100)",
      "7 1 brk: brk=0x0 ret=0x555555559000",
      "8 1 vm_enough_memory: pages=1 ret=0 committed=34",
      "... 11 more",
      "",
    ]);
    expect(r.err).toContain("events: unknown kind 'nope'");
  });
});
