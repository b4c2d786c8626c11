/**
 * Fuzzing the inputs a user hands memsim: boot options, trace files in both
 * formats, CLI command lines, and script files for `memsim script` (the
 * language's lines one by one, with the checkers after each, are the shell
 * model's: models/shell.ts). Each either works or fails with the error class that
 * names what was wrong (ConfigError, TraceError, a usage message with exit
 * status 2 or 1); never another exception, never a corrupted machine.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, ENOMEM, Machine, parseTrace, replayTrace, TraceError } from "../../sim/index.ts";
import { memsim } from "../sim/cli/helpers.ts";
import { shellLine } from "./models/shell.ts";

const WILD: unknown[] = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  -1,
  0,
  1,
  0.5,
  3000,
  2 ** 53 + 2,
  2 ** 33,
  "64M",
  "",
  null,
  true,
  {},
  [],
  1 << 20,
  2 << 20,
  4 << 20,
  4096,
  12,
  13,
  65530,
  256,
  4,
  3,
  2,
];
const wild = fc.oneof(fc.constantFrom(...WILD), fc.integer({ min: -3, max: 70000 }), fc.string({ maxLength: 6 }));
/** Mostly a valid value, sometimes a wild one. */
const opt = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: wild });

const bootOptions = fc
  .tuple(
    fc.record(
      {
        ramBytes: opt(fc.constantFrom(1 << 20, 2 << 20, 4 << 20, 8 << 20)),
        seed: opt(fc.nat()),
        debugVm: opt(fc.integer({ min: 0, max: 3 })),
        slubDebug: opt(fc.constantFrom("", "FZPU", "F", "Z", "P", "U", "-", "Q")),
        overcommit: opt(
          fc.record({ mode: opt(fc.integer({ min: 0, max: 2 })), ratio: opt(fc.integer({ min: 0, max: 100 })) }, { requiredKeys: [] }),
        ),
        swapBytes: opt(fc.nat(64).map((n) => n * 4096)),
        maxMapCount: opt(fc.integer({ min: 1, max: 65530 })),
        maxOrder: opt(fc.integer({ min: 0, max: 12 })),
        pcpBatch: opt(fc.integer({ min: -1, max: 64 })),
        tlb: opt(fc.record({ entries: opt(fc.constantFrom(16, 64, 256)), ways: opt(fc.constantFrom(1, 2, 4, 8)) }, { requiredKeys: [] })),
      },
      { requiredKeys: [] },
    ),
    fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: wild }),
  )
  .map(([o, bogus]) => (bogus === null ? o : { ...o, bogus }));

describe("Machine.boot with fuzzed options", () => {
  it("boots a machine whose checkers pass, or throws ConfigError naming Machine.boot and the option", () => {
    let booted = 0;
    fc.assert(
      fc.property(bootOptions, (opts) => {
        let m: Machine;
        try {
          m = Machine.boot(opts as Parameters<typeof Machine.boot>[0]);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          expect((e as Error).message).toMatch(/^Machine\.boot: \S+/);
          return;
        }
        booted++;
        m.check();
        let p: ReturnType<Machine["spawn"]>;
        try {
          p = m.spawn("t");
        } catch (e) {
          // A machine too small (or a commit limit too low) for a process: spawn's documented error.
          expect((e as Error).message).toMatch(/^spawn t: out of memory/);
          m.check();
          return;
        }
        // A tiny vm.max_map_count can leave no room for the heap: malloc then fails with ENOMEM, as on Linux.
        const a = p.libc.malloc(100);
        if (a === 0) expect(p.libc.errno).toBe(ENOMEM);
        else p.libc.free(a);
        p.exit(0);
        m.check();
      }),
      { numRuns: 300 },
    );
    // The options must reach a boot often enough, not only ConfigError.
    expect(booted).toBeGreaterThan(15);
  });
});

const REP_LINES = [
  "a 0 100",
  "a 1 4000",
  "r 0 300",
  "f 0",
  "f 1",
  "a 0 100",
  "a 1 40",
  "f 0",
  "f 1",
  "f -1",
  "a 2 0",
  "r 2 0",
  "f 2",
  "a 0 -5",
  "a 9 10",
  "x 1 2",
  "a 1",
  "a 1 2 3",
  "",
  "  ",
  "\t",
  "a 0 99999999999",
  "r 7 8",
  "f 0",
];
const JSON_LINES = [
  '{"op":"a","id":0,"size":16}',
  '{"op":"r","id":0,"size":32}',
  '{"op":"f","id":0}',
  '{"op":"f","id":-1}',
  '{"op":"a","id":1,"size":1e9}',
  '{"op":"a","id":1.5,"size":3}',
  '{"op":"a","id":"1","size":3}',
  '{"op":"q","id":1}',
  '{"op":"a"}',
  "{",
  "[]",
  "null",
  '{"op":"a","id":2,"size":-1}',
  '{"op":"r","id":2,"size":0}',
  "",
];

/** One op of a generated trace: kind, id (-1 = NULL), size. */
const op = fc.tuple(
  fc.constantFrom("a", "r", "f"),
  fc.integer({ min: -1, max: 3 }),
  fc.oneof({ weight: 9, arbitrary: fc.nat(5000) }, { weight: 1, arbitrary: fc.constantFrom(-1, 0, 2 ** 31, 1e9) }),
);

/** Turns ops into a legal sequence (alloc a free id, realloc or free a live one, free(-1) as is). */
function legal(ops: Array<[string, number, number]>): Array<[string, number, number]> {
  const live = new Set<number>();
  return ops.map(([k, id, size]) => {
    if (id < 0) return ["f", -1, size];
    const kind = live.has(id) ? (k === "a" ? "f" : k) : "a";
    if (kind === "a") live.add(id);
    if (kind === "f") live.delete(id);
    return [kind, id, size];
  });
}

/**
 * A trace of ops, its header counting them (a .rep needs that), then one
 * mutation or none: a line replaced by a fuzz line or an arbitrary string,
 * a header count off by one. Many stay valid, so the replay runs too.
 */
function traceText(format: "rep" | "jsonl", fuzzLines: string[]) {
  return fc
    .tuple(fc.array(op, { maxLength: 12 }), fc.nat(3), fc.nat(20), fc.oneof(fc.constantFrom(...fuzzLines), fc.string({ maxLength: 12 })))
    .map(([raw, mutation, at, junk]) => {
      const ops = legal(raw);
      const lines = ops.map(([k, id, size]) =>
        format === "rep" ? (k === "f" ? `f ${id}` : `${k} ${id} ${size}`) : JSON.stringify(k === "f" ? { op: k, id } : { op: k, id, size }),
      );
      const ids = Math.max(0, ...ops.map(([, id]) => id + 1));
      const header = format === "rep" ? ["20000", String(ids), String(ops.length + (mutation === 2 ? 1 : 0)), "1"] : [];
      if (mutation === 1 && lines.length > 0) lines[at % lines.length] = junk;
      if (mutation === 3) lines.splice(at % (lines.length + 1), 0, junk);
      return [...header, ...lines].join("\n");
    });
}

describe("trace files with fuzzed text", () => {
  const machine = Machine.boot({ ramBytes: 16 << 20 });
  const spawn = () => machine.spawn("mdriver");
  const release = (p: unknown) => (p as { exit(s: number): void }).exit(0);
  for (const [name, text] of [
    ["t.rep", traceText("rep", REP_LINES)],
    ["t.jsonl", traceText("jsonl", JSON_LINES)],
    ["t.txt", fc.oneof(traceText("rep", REP_LINES), traceText("jsonl", JSON_LINES))],
  ] as const) {
    it(`${name}: parses and replays, or throws TraceError naming the file and line`, () => {
      let parsed = 0;
      fc.assert(
        fc.property(text, (t) => {
          let trace: ReturnType<typeof parseTrace>;
          try {
            trace = parseTrace(t, name);
          } catch (e) {
            expect(e).toBeInstanceOf(TraceError);
            expect((e as Error).message).toContain(name);
            return;
          }
          parsed++;
          const r = replayTrace(trace, { allocator: "firstfit", spawn, release, timedRuns: 0 });
          expect(typeof r.valid).toBe("boolean");
          machine.check();
        }),
        { numRuns: 150 },
      );
      // The generator must reach the replay, not only the parser's errors.
      expect(parsed).toBeGreaterThan(20);
    });
  }
});

const CLI_WORDS = [
  "run",
  "default",
  "oom",
  "fragment",
  "nosuch",
  "--ram",
  "4M",
  "8M",
  "12Q",
  "3000",
  "-1",
  "--seed",
  "7",
  "--json",
  "--json=yes",
  "--log-level",
  "loud",
  "silent",
  "--help",
  "-h",
  "--",
  "-",
  "-o",
  "report",
  "--addr",
  "0x1000",
  "ffff888000000000",
  "trace",
  "script",
  "/nonexistent/file.rep",
  "quiz",
  "translate",
  "-n",
  "0",
  "2",
  "help",
  "",
  "=",
  "--ram=",
];

describe("the memsim command line with fuzzed arguments", () => {
  it("exits 0, 1 or 2; a failure prints a message naming memsim; never an exception", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("run", "report", "trace", "script", "quiz", "help", "frob"),
        fc.array(fc.constantFrom(...CLI_WORDS), { maxLength: 5 }),
        async (cmd, rest) => {
          // report -o FILE would write FILE into the checkout: -o always names stdout here.
          const argv = [cmd, ...rest.flatMap((w) => (w === "-o" ? ["-o", "-"] : [w]))];
          const r = await memsim(argv);
          expect([0, 1, 2], `memsim ${argv.join(" ")}: ${r.err}`).toContain(r.status);
          if (r.status !== 0) expect(r.err, `memsim ${argv.join(" ")}`).toMatch(/^memsim\b/);
        },
      ),
      { numRuns: 120 },
    );
  });
});

describe("memsim script with fuzzed script files", () => {
  const dir = mkdtempSync(join(tmpdir(), "memsim-script-fuzz-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("exits 0 or 1; a failure names the file (and the line unless -k); no line is an internal error", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(shellLine, { maxLength: 15 }),
        fc.subarray(["--echo", "-k", "--json"]),
        fc.constantFrom("\n", "\r\n"),
        async (lines, flags, eol) => {
          const file = join(dir, `s${n++}.msh`);
          writeFileSync(file, ["spawn p", ...lines].join(eol));
          const r = await memsim(["script", "--ram", "4M", ...flags, file]);
          const all = `${r.out}\n${r.err}`;
          expect([0, 1], `memsim script ${flags.join(" ")}: ${r.err}`).toContain(r.status);
          expect(all, "internal error").not.toMatch(/internal error/);
          if (r.status === 1)
            expect(r.err).toMatch(flags.includes("-k") ? /^memsim script: .*: \d+ lines? failed$/m : /^memsim script: .*:\d+: /m);
        },
      ),
      { numRuns: 150 },
    );
  });
});
