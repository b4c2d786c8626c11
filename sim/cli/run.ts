/**
 * `memsim run [scenario]`: boots a machine, runs a scenario, prints its
 * narration and the views. Parameters and seed are echoed at the top;
 * identical arguments print identical bytes.
 */
import { parseMeminfo } from "../../kernel/proc/meminfo.ts";
import { Machine } from "../machine.ts";
import { formatSize } from "../units.ts";
import { type OptSpec, UsageError } from "./args.ts";
import type { Command, CommandCtx } from "./command.ts";
import { type EventCounts, formatCounts } from "./event_tally.ts";
import { findScenario, type Recorder, runScenario, SCENARIOS, type Scenario } from "./scenario.ts";
import { renderPmap, renderPs } from "./toolviews.ts";
import { VIEWS } from "./views.ts";

/** --ram, shared by the commands that boot a machine for a scenario. */
export const RAM_OPTION: OptSpec = { name: "ram", kind: "size", arg: "SIZE", help: "RAM size, e.g. 64M, 1G (default 64M)" };

/** The scenario named by the first positional ("default" when absent). Throws UsageError for an unknown one. */
export function scenarioArg(name: string | undefined): Scenario {
  const s = findScenario(name ?? "default");
  if (!s) throw new UsageError(`unknown scenario '${name}' (scenarios: ${SCENARIOS.map((x) => x.name).join(", ")})`);
  return s;
}

/** Boots the machine a scenario command asked for and runs the scenario. */
export function bootAndRun(ctx: CommandCtx, s: Scenario): { m: Machine; rec: Recorder; ram: number } {
  const ram = ctx.args.int("ram", 64 << 20);
  const m = Machine.boot({ ramBytes: ram, seed: ctx.seed, log: ctx.log, ...(s.swapBytes === undefined ? {} : { swapBytes: s.swapBytes }) });
  ctx.watch(m);
  const rec = runScenario(s, m);
  m.check();
  return { m, rec, ram };
}

function runText(ctx: CommandCtx, s: Scenario): number {
  const { m, rec, ram } = bootAndRun(ctx, s);
  const out = ctx.io.out;
  out.write(`# memsim run: scenario=${s.name} ram=${formatSize(ram)} seed=${ctx.seed}\n# ${s.summary}\n\n`);
  rec.steps.forEach((text, i) => {
    out.write(`[${i + 1}] ${text}\n    events: ${formatCounts(rec.happened[i] as EventCounts)}\n`);
  });
  for (const v of VIEWS) {
    if (v.inRun) out.write(`\n## ${v.title}\n${v.render(m)}`);
  }
  const procs = m.processes();
  if (procs.length > 0) out.write(`\n## ps\n${renderPs(m)}`);
  const first = procs.find((p) => p.state === "running");
  if (first) {
    out.write(`\n## /proc/${first.pid}/maps (${first.comm})\n${first.proc.maps()}`);
    out.write(`\n## pmap -x ${first.pid}\n${renderPmap(first)}`);
  }
  out.write("\nall invariant checkers passed\n");
  return 0;
}

function runJson(ctx: CommandCtx, s: Scenario): number {
  const { m, rec, ram } = bootAndRun(ctx, s);
  const views: Record<string, string> = {};
  for (const v of VIEWS) if (v.inRun) views[v.name] = v.render(m);
  const doc = {
    command: "run",
    scenario: s.name,
    ram,
    seed: ctx.seed,
    steps: rec.steps,
    happened: rec.happened,
    meminfo: parseMeminfo(m.proc.meminfo()),
    views,
    processes: m.processes().map((p) => ({
      pid: p.pid,
      ppid: p.ppid,
      comm: p.comm,
      state: p.state,
      minflt: p.minflt,
      majflt: p.majflt,
      maps: p.state === "running" ? p.proc.maps() : "",
    })),
    stats: m.stats(),
    samples: rec.samples,
    ...(rec.eat.length > 0 ? { eat: rec.eat } : {}),
  };
  ctx.io.out.write(`${JSON.stringify(doc, null, 2)}\n`);
  return 0;
}

/** `memsim run`. */
export const runCommand: Command = {
  name: "run",
  summary: "boot a machine, run a scenario, print what happened and the /proc views",
  description: `scenarios:\n${SCENARIOS.map((s) => `  ${s.name.padEnd(10)} ${s.summary}`).join("\n")}`,
  options: [RAM_OPTION],
  positionals: [{ name: "scenario", help: "which story to run (default: default)", optional: true }],
  run(ctx) {
    const s = scenarioArg(ctx.args.pos[0]);
    return ctx.json ? runJson(ctx, s) : runText(ctx, s);
  },
};
