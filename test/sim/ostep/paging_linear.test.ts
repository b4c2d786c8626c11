/**
 * `memsim ostep paging-linear-translate` against the original's outputs:
 * test/golden/ostep/paging-linear-translate/N.out is what OSTEP's
 * paging-linear-translate.py (python3) printed for line N of ARGS; memsim
 * must print the same bytes and exit with the same status (1 after an
 * "Error" line, as the original's exit(1)).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PyRandom } from "../../../sim/ostep/py_random.ts";
import { memsim } from "../cli/helpers.ts";

const DIR = join(import.meta.dirname, "../../golden/ostep/paging-linear-translate");
const CASES = readFileSync(join(DIR, "ARGS"), "utf8")
  .trim()
  .split("\n")
  .map((args, i) => [args, i + 1] as const);

describe("memsim ostep paging-linear-translate", () => {
  it.each(CASES)("%s prints what the original printed (case %d)", async (args, n) => {
    const want = readFileSync(join(DIR, `${n}.out`), "utf8");
    const r = await memsim(["ostep", "paging-linear-translate", ...args.split(" ")]);
    expect(r.out).toBe(want);
    expect(r.status).toBe(/^Error/m.test(want) ? 1 : 0);
  });

  it("refuses an unknown flag as optparse does (status 2)", async () => {
    const r = await memsim(["ostep", "paging-linear-translate", "-x"]);
    expect([r.status, r.err.split("\n").at(-2)]).toEqual([2, "memsim ostep paging-linear-translate: error: no such option: -x"]);
  });
});

describe("PyRandom: Python's Mersenne Twister", () => {
  it("gives CPython's random() and randint() for int seeds, 0 and above 2^32 included", () => {
    const draws = [0, 1, 123456, 2 ** 33 + 7].map((s) => {
      const r = new PyRandom(s);
      return [r.random(), r.random(), r.randint(1, 10), r.randint(0, 1000)];
    });
    // python3 -c "import random; random.seed(s); print(random.random(), random.random(), random.randint(1,10), random.randint(0,1000))"
    expect(draws).toEqual([
      [0.8444218515250481, 0.7579544029403025, 7, 41],
      [0.13436424411240122, 0.8474337369372327, 2, 261],
      [0.8056271362589, 0.7940590105180981, 1, 819],
      [0.7042964166818435, 0.15008850079098557, 5, 970],
    ]);
  });
});
