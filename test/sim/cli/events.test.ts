/**
 * `--events FILE` and `--ftrace FILE`: the stream of a small script as JSON
 * lines and as ftrace text, byte for byte (golden files), the same bytes on
 * every run, and a clear error for a file that cannot be written.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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
      "18 1 page_fault_user: address=0x555555559000 ip=0x0 error_code=0x6 outcome=demand_zero stack_growth=0 si_code=0",
      "12 events in the previous line (a = p malloc 100)",
      "7 1 brk: brk=0x0 ret=0x555555559000",
      "8 1 vm_enough_memory: pages=1 ret=0 committed=34",
      "... 10 more",
      "",
    ]);
    expect(r.err).toContain("events: unknown kind 'nope'");
  });
});

describe("--events and --ftrace on trace run, quiz and bench", () => {
  const dir = mkdtempSync(join(tmpdir(), "memsim-events-"));
  const rep = join(dir, "small.rep");
  writeFileSync(rep, "20000\n2\n4\n1\na 0 100\na 1 5000\nf 0\nf 1\n");

  interface Written {
    status: number;
    jsonl: string;
    ftrace: string;
  }

  /** Runs the command twice, each time with its own --events and --ftrace files. */
  async function twice(argv: string[]): Promise<[Written, Written]> {
    const run = async (n: number): Promise<Written> => {
      const r = await memsim([...argv, "--events", join(dir, `${n}.jsonl`), "--ftrace", join(dir, `${n}.trace`)]);
      expect(r.err).toBe("");
      return {
        status: r.status,
        jsonl: readFileSync(join(dir, `${n}.jsonl`), "utf8"),
        ftrace: readFileSync(join(dir, `${n}.trace`), "utf8"),
      };
    };
    const a = await run(1);
    return [a, await run(2)];
  }

  const eventLines = (w: Written) => w.ftrace.split("\n").filter((l) => l !== "" && !l.startsWith("#"));

  it("trace run writes the replay machine's events, every run, the same bytes for the same command", async () => {
    const [a, b] = await twice(["trace", "run", rep]);
    expect(a.status).toBe(0);
    expect(b.jsonl).toBe(a.jsonl);
    expect(b.ftrace).toBe(a.ftrace);
    const json = a.jsonl
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { kind: string; comm?: string; common_comm: string });
    // One checked run and three timed runs, each in a fresh process.
    expect(json.filter((e) => e.kind === "task_newtask").map((e) => e.comm)).toEqual(["mdriver0", "mdriver1", "mdriver2", "mdriver3"]);
    expect(json.filter((e) => e.kind === "sched_process_exit")).toHaveLength(4);
    // malloc's brk(0) and three brk calls growing the heap in every run (the third for the thread's tcache, 656 bytes
    // taken at the first free of a cached size); the checked run's heap watch asks brk(0) first.
    const brks = (comm: string) => json.filter((e) => e.kind === "brk" && e.common_comm === comm).length;
    expect(["mdriver0", "mdriver1", "mdriver2", "mdriver3"].map(brks)).toEqual([5, 4, 4, 4]);
    expect(eventLines(a)).toHaveLength(json.length);
  });

  it("trace run: --events without a FILE is a usage error; trace list boots no machine and takes no arguments", async () => {
    const r = await memsim(["trace", "run", rep, "--events"]);
    expect([r.status, r.err.split("\n")[0]]).toEqual([2, "memsim trace: --events needs a FILE"]);
    const l = await memsim(["trace", "list", "--events", join(dir, "list.jsonl")]);
    expect(l.status).toBe(2);
    expect(l.err.split("\n")[0]).toBe("memsim trace: list takes no arguments (got '--events')");
  });

  it("quiz kmalloc writes the events of the machine that computed the answers: one kmalloc per request, in order", async () => {
    const [a, b] = await twice(["quiz", "kmalloc", "-c"]);
    const r = await memsim(["quiz", "kmalloc", "-c"]);
    expect(a.status).toBe(0);
    expect(b.jsonl).toBe(a.jsonl);
    expect(b.ftrace).toBe(a.ftrace);
    const sizes = [...(/Requests: (.*)\./.exec(r.out)?.[1] ?? "").matchAll(/kmalloc\((\d+)\)/g)].map((m) => Number(m[1]));
    expect(sizes).toHaveLength(5);
    const kmallocs = a.jsonl
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { kind: string; bytes_req?: number })
      .filter((e) => e.kind === "kmalloc");
    // kmalloc(0) is not traced (as in Linux).
    expect(kmallocs.map((e) => e.bytes_req)).toEqual(sizes.filter((s) => s !== 0));
  });

  it("quiz on a topic answered by a model boots no machine: the files hold no events", async () => {
    const [a] = await twice(["quiz", "buddy"]);
    expect([a.status, a.jsonl, eventLines(a)]).toEqual([0, "", []]);
  });

  it("bench refuses --events and --ftrace (exit 2, naming why) and writes no file", async () => {
    const file = join(dir, "bench.jsonl");
    const r = await memsim(["bench", "nothing-matches", "--events", file]);
    expect(r.status).toBe(2);
    expect(r.err.split("\n")[0]).toBe(
      "memsim bench: --events and --ftrace are not taken here: recording events inside the timed loops would distort the timings bench reports (trace the same work with run, script or report; 'memsim bench events' measures what listening costs)",
    );
    expect(existsSync(file)).toBe(false);
    expect((await memsim(["bench", "x", "--ftrace", file])).status).toBe(2);
  });
});
