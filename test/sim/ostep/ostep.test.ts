/**
 * `memsim ostep SIMULATOR` against the originals' outputs:
 * test/golden/ostep/SIMULATOR/N.out is what OSTEP's SIMULATOR.py printed
 * for line N of ARGS (malloc and paging-linear-translate under python3;
 * paging-multilevel-translate under python2, the only Python it runs on);
 * memsim must print the same bytes and exit with the same status (1 after
 * an "Error" line, as the original's exit(1)).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PyRandom } from "../../../sim/ostep/py_random.ts";
import { memsim } from "../cli/helpers.ts";

function cases(sim: string): (readonly [string, number, string])[] {
  const dir = join(import.meta.dirname, "../../golden/ostep", sim);
  return readFileSync(join(dir, "ARGS"), "utf8")
    .trim()
    .split("\n")
    .map((args, i) => [args, i + 1, readFileSync(join(dir, `${i + 1}.out`), "utf8")] as const);
}

describe.each(["malloc", "paging-linear-translate", "paging-multilevel-translate"])("memsim ostep %s", (sim) => {
  it.each(cases(sim))("%s prints what the original printed (case %d)", async (args, _n, want) => {
    const r = await memsim(["ostep", sim, ...args.split(" ")]);
    expect(r.out).toBe(want);
    expect(r.status).toBe(/^Error/m.test(want) ? 1 : 0);
  });

  it("refuses an unknown flag as optparse does (status 2)", async () => {
    const r = await memsim(["ostep", sim, "-x"]);
    expect([r.status, r.err.split("\n").at(-2)]).toEqual([2, `memsim ostep ${sim}: error: no such option: -x`]);
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

describe("memsim ostep paging-multilevel-translate out of pages", () => {
  it("stops with status 1 where the original's assertion fails (-a 100: 128 pages cannot hold it)", async () => {
    const r = await memsim(["ostep", "paging-multilevel-translate", "-s", "4", "-a", "100"]);
    expect([r.status, r.err]).toEqual([
      1,
      "memsim ostep paging-multilevel-translate: AssertionError: out of physical pages: allocate fewer virtual pages (-a)\n",
    ]);
  });
});
