/**
 * The command language of `memsim shell` and `memsim script` (sim/cli/lang)
 * under random lines: known commands with random words, subject commands
 * (`p mmap ...`), assignments and `$name` substitutions, comments, stray
 * whitespace, and lines of arbitrary text. Every line gives a result or an
 * error naming what was wrong, never an internal error (a JS exception from
 * inside the emulator) and never a throw out of the session. The machine's
 * checkers run after every line, until a line reports a kernel panic the user
 * caused (a double free_pages): the kernel stops there, as Linux would.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { silentLogger } from "../../../kernel/printk.ts";
import { LANG_COMMANDS, SUBJECT_COMMANDS } from "../../../sim/cli/lang/registry.ts";
import { Session } from "../../../sim/cli/lang/session.ts";
import "../../../sim/cli/lang/commands.ts";
import type { PropertyModel, StoryStats } from "../../support/budget.ts";

const WORDS = [
  "0",
  "1",
  "3",
  "11",
  "64",
  "4096",
  "-1",
  "0x10",
  "0x1000",
  "4K",
  "16K",
  "1M",
  "3G",
  "12Q",
  "1e3",
  "NaN",
  "Infinity",
  "99999999999999999999",
  "0x7fffffffffffffff",
  "rw",
  "r",
  "rwx",
  "none",
  "private",
  "anon",
  "shared",
  "fixed",
  "populate",
  "dontneed",
  "free",
  "willneed",
  "maymove",
  "$a",
  "$b",
  "$nope",
  "0x7ffff7fff000",
  "0x555555559000",
  "0x100000000",
  "ffff888000100000",
  "ffffc90000000000",
  "nth=1",
  "nth=0",
  "probability=50",
  "ram=4M",
  "ram=1",
  "seed=2",
  "=",
  "#",
  "x",
  "",
];

const subjectNames = [...new Set(Object.values(SUBJECT_COMMANDS).flatMap((c) => c.map((x) => x.name)))];
const word = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...WORDS) },
  { weight: 1, arbitrary: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }).map(String) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);
const words = fc.array(word, { maxLength: 5 });
const space = fc.constantFrom(" ", "  ", "\t", " \t ");

/** One line of the language, mostly well formed. */
const line = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...LANG_COMMANDS.map((c) => c.name)), words).map(([c, w]) => [c, ...w]) },
  {
    weight: 6,
    arbitrary: fc.tuple(fc.constantFrom("p", "q", "c"), fc.constantFrom(...subjectNames), words).map(([s, c, w]) => [s, c, ...w]),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      ["a", "=", "p", "mmap", "0", "16K", "rw", "private", "anon"],
      ["b", "=", "p", "malloc", "100"],
      ["a", "=", "p", "brk", "0"],
      ["spawn", "p"],
      ["spawn", "q"],
      ["p", "fork", "q"],
      ["q", "exit"],
      ["a", "=", "alloc_pages", "1"],
      ["free_pages", "$a", "1"],
      ["b", "=", "kmalloc", "64"],
      ["kfree", "$b"],
      ["a", "=", "vmalloc", "8K"],
      ["c", "=", "kmem_cache_create", "obj", "96"],
      ["p", "write", "$a", "hello"],
      ["p", "read", "$a", "16"],
      ["check"],
    ),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom("a", "b", "9x", "_"), fc.constantFrom(...LANG_COMMANDS.map((c) => c.name)), words)
      .map(([v, c, w]) => [v, "=", c, ...w]),
  },
);

/** A line as typed (exported for the script-file fuzzer): its words joined by random whitespace, sometimes a comment, sometimes raw text instead. */
export const shellLine = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.tuple(line, space, fc.constantFrom("", "", "", " # note", "#")).map(([w, sp, comment]) => `${w.join(sp)}${comment}`),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12, unit: "binary" }) },
);

/** Random lines through one session; the checkers after every line until a panic. */
export const SHELL_MODEL: PropertyModel<string[]> = {
  name: "shell",
  budget: 5_000,
  storyMax: 60,
  arbitrary: (max) => fc.array(shellLine, { minLength: 1, maxLength: max, size: "max" }),
  run(lines) {
    const s = new Session({ ramBytes: 4 << 20, seed: 1, log: silentLogger });
    s.exec("spawn p");
    const stats: StoryStats = { commands: 0, checks: 0 };
    let panicked = false;
    for (const l of lines) {
      stats.commands++;
      const r = s.exec(l);
      if (r.kind === "skip") continue;
      // An internal error is a JS exception from inside memsim; an invariant violation, a corrupted machine.
      // (After a panic the user caused, `check` may rightly find the machine inconsistent.)
      if (/^internal error/.test(r.text) || (!panicked && /^invariant violated/.test(r.text)))
        expect.fail(`line ${JSON.stringify(l)}: ${r.text}`);
      if (r.kind === "error" && r.text.startsWith("kernel panic")) panicked = true;
      // `boot` replaces the machine: check whichever one the session has now.
      if (panicked || !s.booted) continue;
      try {
        s.m.check();
      } catch (e) {
        expect.fail(`after line ${JSON.stringify(l)}: ${(e as Error).message}`);
      }
      stats.checks++;
    }
    return stats;
  },
};
