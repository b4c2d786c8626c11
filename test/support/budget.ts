/**
 * Command budgets for model-based tests. A property test here is counted in
 * commands, not in runs: {@link runCommands} keeps drawing stories (batches
 * of fast-check runs, each batch seeded from the global seed, which CI fixes
 * in test/setup.ts) until the stories have run the budget. The same models
 * run in the soak (test/soak/soak.ts) for a million commands or more.
 *
 * A failure is fast-check's: the story is shrunk to a minimal one and the
 * message names the batch's seed and path; runCommands adds the FC_SEED that
 * replays the whole run.
 */
import fc from "fast-check";
import { expect } from "vitest";

/** What one story did: commands run, and invariant checker runs. */
export interface StoryStats {
  commands: number;
  checks: number;
}

/** A model-based test the budgeted vitest property and the soak both drive. */
export interface PropertyModel<T = unknown> {
  /** The name the soak's --models takes. */
  readonly name: string;
  /** Commands per CI run of its vitest property. */
  readonly budget: number;
  /** The longest story it draws. */
  readonly storyMax: number;
  /** The fast-check arbitrary of one story of up to `maxCommands` commands. */
  arbitrary(maxCommands: number): fc.Arbitrary<T>;
  /** Runs one story against a fresh machine; throws at the first disagreement with the model. */
  run(story: T): StoryStats;
}

/**
 * Runs sync commands as fc.modelRun does (each whose check passes), counting
 * those that ran into `stats.commands`.
 */
export function runModel<M extends object, R>(model: M, real: R, cmds: Iterable<fc.Command<M, R>>, stats: StoryStats): void {
  for (const c of cmds) {
    if (!c.check(model)) continue;
    stats.commands++;
    c.run(model, real);
  }
}

/** Stories per fast-check batch; each batch gets its own seed. */
const RUNS_PER_BATCH = 10;

/**
 * Runs a property until its stories have run at least `commands` commands.
 * `run` returns how many commands its story ran. Returns the number of
 * commands run. Throws fast-check's report (shrunk story, batch seed and
 * path) with the FC_SEED that replays the run.
 */
export function runCommands<T>(arb: fc.Arbitrary<T>, run: (story: T) => number, commands: number): number {
  const base = fc.readConfigureGlobal().seed ?? Math.floor(Math.random() * 2 ** 31);
  let done = 0;
  for (let batch = 0; done < commands; batch++) {
    const seed = (base + batch * 7919) % 2 ** 31;
    try {
      fc.assert(
        fc.property(arb, (story) => {
          done += run(story);
        }),
        { numRuns: RUNS_PER_BATCH, seed },
      );
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new Error(`replay with FC_SEED=${base} (batch ${batch}, seed ${seed})\n${why}`, { cause: e });
    }
  }
  return done;
}

/** The commands `model` runs per vitest run: its budget, or FC_COMMANDS (which overrides every model's, for a longer local run). */
export function budgetOf<T>(model: PropertyModel<T>): number {
  return Number(process.env.FC_COMMANDS ?? model.budget);
}

/** Runs `model` for {@link budgetOf} commands; returns the commands run. */
export function runBudget<T>(model: PropertyModel<T>, commands = budgetOf(model)): number {
  return runCommands(model.arbitrary(model.storyMax), (story) => model.run(story).commands, commands);
}

/** Commands between two full recounts (every checker) in {@link checkAfterCommand}. */
export const FULL_CHECK_EVERY = 5;

/**
 * The checkers a model runs after each command. The full recount (every
 * checker: the buddy lists alone take ~0.4 ms on a small machine) would make
 * 10,000 commands too slow for the suite, so the checkers of the layers the
 * model drives (`own`, e.g. ["slab"]) run after every command and all of
 * them every FULL_CHECK_EVERY commands; stories end with a full recount too.
 * Counts each m.check call in `stats.checks`.
 */
export function checkAfterCommand(m: { check(only?: string): void }, stats: StoryStats, own: readonly string[]): void {
  for (const name of own) m.check(name);
  stats.checks += own.length;
  if (stats.commands % FULL_CHECK_EVERY !== 0) return;
  m.check();
  stats.checks++;
}

/**
 * expect(actual, what).toBe(expected), with the compare done first: vitest's
 * expect costs microseconds per call, which per page per command is more than
 * the command itself.
 */
export function expectSame(actual: unknown, expected: unknown, what?: string): void {
  if (!Object.is(actual, expected)) expect(actual, what).toBe(expected);
}

/**
 * vitest's timeout for a budgeted test: its length is set in commands, and
 * the suite's forks share two cores, so the default minute is too tight; the
 * timeout is only there to stop a hang.
 */
export const BUDGET_TIMEOUT = 600_000;
