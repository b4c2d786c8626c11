/**
 * Runs a model-based property until it has run at least `commands`
 * commands: batches of stories, each batch with its own seed derived from the
 * global one (CI fixes it, see test/setup.ts), so a failure prints a seed and
 * path that replay it. `run` returns how many commands its story ran.
 * Returns the number of commands run.
 */
import fc from "fast-check";

export function runCommands<T>(arb: fc.Arbitrary<T>, run: (story: T) => number, commands: number): number {
  const base = fc.readConfigureGlobal().seed ?? Math.floor(Math.random() * 2 ** 31);
  let done = 0;
  for (let batch = 0; done < commands; batch++) {
    fc.assert(
      fc.property(arb, (story) => {
        done += run(story);
      }),
      { numRuns: 10, seed: (base + batch * 7919) % 2 ** 31 },
    );
  }
  return done;
}
