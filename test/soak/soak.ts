/**
 * The soak run before a release: the property-test models (test/property/
 * models/) for a million commands or more, with progress on stderr and a
 * summary at the end. `make soak [SOAK_COMMANDS=1000000] [SOAK_SEED=n]`.
 *
 *   tsx test/soak/soak.ts [--commands N] [--seed S] [--models a,b] [--story-max M]
 *
 * Each model (test/soak/soak_models.ts: every budgeted property test's model)
 * runs stories (fast-check command sequences of up to its storyMax commands,
 * or M) until it has run its share of the commands. A failing story is shrunk by fast-check to a
 * minimal one; the summary prints it with the seed and path, and the soak
 * command that replays it (--models NAME --seed SEED --commands 1: the
 * failing story is the first one drawn from that seed). Exit status 1 when
 * any story failed.
 */
import fc from "fast-check";
import { SOAK_MODELS, type SoakModel } from "./soak_models.ts";

interface Args {
  commands: number;
  seed: number;
  models: string[];
  /** The longest story; 0: each model's own (its storyMax). */
  storyMax: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { commands: 1_000_000, seed: Date.now() % 2 ** 31, models: SOAK_MODELS.map((m) => m.name), storyMax: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) usage(`${flag} needs a value`);
    if (flag === "--models") {
      args.models = value.split(",");
      for (const name of args.models) if (!SOAK_MODELS.some((m) => m.name === name)) usage(`no model named '${name}'`);
      continue;
    }
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 1) usage(`${flag} must be a positive integer, got '${value}'`);
    if (flag === "--commands") args.commands = n;
    else if (flag === "--seed") args.seed = n;
    else if (flag === "--story-max") args.storyMax = n;
    else usage(`unknown option ${flag}`);
  }
  return args;
}

function usage(msg: string): never {
  process.stderr.write(
    `soak: ${msg}\nusage: tsx test/soak/soak.ts [--commands N] [--seed S] [--models ${SOAK_MODELS.map((m) => m.name).join(",")}] [--story-max M]\n`,
  );
  process.exit(2);
}

interface Tally {
  commands: number;
  stories: number;
  checks: number;
  failures: string[];
  /** Per model: commands, stories, seconds. */
  perModel: string[];
}

/** Runs `model` for `want` commands in stories of up to storyMax commands. */
function soakModel(model: SoakModel, want: number, args: Args, tally: Tally, progress: (model: string, done: number) => void): void {
  let done = 0;
  let round = 0;
  while (done < want) {
    const seed = (args.seed + round * 7919) % 2 ** 31;
    round++;
    // Only the drawn story counts: later calls are fast-check shrinking a failure.
    let drawn = true;
    const result = fc.check(
      fc.property(model.arbitrary(args.storyMax || model.storyMax), (story) => {
        const first = drawn;
        drawn = false;
        const r = model.run(story);
        if (!first) return;
        done += r.commands;
        tally.commands += r.commands;
        tally.checks += r.checks;
        tally.stories++;
        progress(model.name, done);
      }),
      { numRuns: 1, seed },
    );
    if (result.failed) {
      const where = `${model.name}: seed ${result.seed}, path "${result.counterexamplePath}" (replay: tsx test/soak/soak.ts --models ${model.name} --seed ${result.seed} --commands 1${args.storyMax ? ` --story-max ${args.storyMax}` : ""})`;
      const story = result.counterexample ? fc.stringify(result.counterexample[0]) : "(none)";
      const why = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
      tally.failures.push(`${where}\n  ${why.split("\n")[0]}\n  minimal story: ${story}`);
      process.stderr.write(`\nFAIL ${where}\n  ${why.split("\n")[0]}\n`);
      if (tally.failures.length >= 5) return;
    }
  }
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const models = SOAK_MODELS.filter((m) => args.models.includes(m.name));
  const tally: Tally = { commands: 0, stories: 0, checks: 0, failures: [], perModel: [] };
  const t0 = performance.now();
  let last = 0;
  const progress = (name: string, done: number) => {
    const now = performance.now();
    if (now - last < 2000) return;
    last = now;
    const rate = Math.round(tally.commands / ((now - t0) / 1000));
    process.stderr.write(
      `soak: ${tally.commands}/${args.commands} commands (${name} ${done}), ${tally.stories} stories, ${rate} commands/s\n`,
    );
  };
  process.stderr.write(`soak: ${args.commands} commands over ${models.map((m) => m.name).join(", ")}, seed ${args.seed}\n`);
  let left = args.commands;
  models.forEach((model, i) => {
    const share = Math.ceil(left / (models.length - i));
    const [before, stories, t] = [tally.commands, tally.stories, performance.now()];
    soakModel(model, share, args, tally, progress);
    left -= tally.commands - before;
    const secs = ((performance.now() - t) / 1000).toFixed(1);
    tally.perModel.push(`    ${model.name.padEnd(16)} ${tally.commands - before} commands, ${tally.stories - stories} stories, ${secs} s`);
  });
  const secs = (performance.now() - t0) / 1000;
  const out = [
    `soak summary (seed ${args.seed})`,
    `  commands run:  ${tally.commands}`,
    `  stories:       ${tally.stories}`,
    `  checker runs:  ${tally.checks}`,
    `  time:          ${secs.toFixed(1)} s`,
    `  models:        ${models.length}`,
    ...tally.perModel,
    `  failures:      ${tally.failures.length}`,
    ...tally.failures.map((f) => `  - ${f}`),
  ];
  process.stdout.write(`${out.join("\n")}\n`);
  process.exit(tally.failures.length > 0 ? 1 : 0);
}

main();
