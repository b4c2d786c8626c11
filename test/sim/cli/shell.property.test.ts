/**
 * Random lines of the command language never crash the shell and never hit
 * an internal error: every outcome is a result, an error naming what was
 * wrong, a kernel panic the user caused (double free) or a killed process.
 * Afterwards the machine's checkers pass unless a panic was reported.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LANG_COMMANDS, SUBJECT_COMMANDS } from "../../../sim/cli/lang/registry.ts";
import { Session } from "../../../sim/cli/lang/session.ts";
import "../../../sim/cli/lang/commands.ts";
import { silentLogger } from "../../../kernel/printk.ts";

const WORDS = [
  "0",
  "1",
  "3",
  "11",
  "-1",
  "0x10",
  "4K",
  "16K",
  "1M",
  "3G",
  "12Q",
  "rw",
  "r",
  "none",
  "private",
  "anon",
  "shared",
  "fixed",
  "dontneed",
  "free",
  "maymove",
  "$a",
  "$b",
  "0x7ffff7fff000",
  "ffff888000100000",
  "ffffc90000000000",
  "nth=1",
  "ram=4M",
  "seed=2",
  "x",
  "",
];

const subjectNames = [...new Set(Object.values(SUBJECT_COMMANDS).flatMap((c) => c.map((x) => x.name)))];

const line = fc.oneof(
  fc
    .tuple(fc.constantFrom(...LANG_COMMANDS.map((c) => c.name)), fc.array(fc.constantFrom(...WORDS), { maxLength: 4 }))
    .map(([c, w]) => [c, ...w].join(" ")),
  fc
    .tuple(fc.constantFrom("p", "q"), fc.constantFrom(...subjectNames), fc.array(fc.constantFrom(...WORDS), { maxLength: 4 }))
    .map(([s, c, w]) => [s, c, ...w].join(" ")),
  fc.constantFrom(
    "a = p mmap 0 16K rw private anon",
    "b = p malloc 100",
    "spawn p",
    "p fork q",
    "a = alloc_pages 1",
    "b = kmalloc 64",
    "a = vmalloc 8K",
  ),
);

describe("the shell under random lines", () => {
  it("answers every line without an internal error", () => {
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 25 }), (lines) => {
        const s = new Session({ ramBytes: 4 << 20, seed: 1, log: silentLogger });
        s.exec("spawn p");
        let panicked = false;
        for (const l of lines) {
          const r = s.exec(l);
          if (r.kind === "skip") continue;
          expect(r.text, l).not.toMatch(/^internal error/);
          if (r.kind === "error" && /^(kernel panic|invariant violated)/.test(r.text)) panicked = true;
        }
        if (!panicked) s.m.check();
      }),
      { numRuns: 60 },
    );
  });
});
