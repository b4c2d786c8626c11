/**
 * `memsim lab list|init` and `memsim grade`: the lab kits and the grader of
 * sim/lab (README.md, "Teaching with memsim").
 */
import { writeFileSync } from "node:fs";
import { FORMATS, type Format, formatResult } from "../lab/formats.ts";
import { GradeError, grade } from "../lab/grader.ts";
import { initLab } from "../lab/init.ts";
import { findLab, LABS } from "../lab/labs.ts";
import { InputError, UsageError } from "./args.ts";
import type { Command, CommandCtx } from "./command.ts";

/** `memsim lab list` / `memsim lab init LAB DIR`. */
export const labCommand: Command = {
  name: "lab",
  summary: "lab kits: 'lab list', 'lab init LAB DIR' (skeleton files and statement)",
  description: "list: the labs, their checks and points. init LAB DIR: copies the lab's skeleton files and statement.md into DIR.",
  positionals: [
    { name: "ACTION", help: "list or init" },
    { name: "ARGS", help: "for init: LAB DIR", optional: true, rest: true },
  ],
  run(ctx) {
    const [action, ...rest] = ctx.args.pos;
    if (action === "list") return list(ctx);
    if (action !== "init") throw new UsageError(`unknown action '${action}' (actions: list, init)`);
    if (rest.length !== 2) throw new UsageError("lab init takes LAB DIR");
    const lab = findLab(rest[0]!);
    if (!lab) throw new UsageError(`unknown lab '${rest[0]}' (labs: ${LABS.map((l) => l.name).join(", ")})`);
    const files = initLab(lab, rest[1]!);
    if (typeof files === "string") throw new InputError(files);
    for (const f of files) ctx.io.out.write(`wrote ${f}\n`);
    ctx.io.out.write(`\nRead statement.md, write the TODOs, then: memsim grade ${lab.name} ${rest[1]}\n`);
    return 0;
  },
};

function list(ctx: CommandCtx): number {
  if (ctx.json) {
    const labs = LABS.map((l) => ({
      name: l.name,
      title: l.title,
      files: l.studentFiles,
      checks: l.checks.map((c) => ({ name: c.name, weight: c.weight, explain: c.explain })),
    }));
    ctx.io.out.write(`${JSON.stringify(labs, null, 2)}\n`);
    return 0;
  }
  for (const l of LABS) {
    const points = l.checks.reduce((s, c) => s + c.weight, 0);
    ctx.io.out.write(
      `${l.name.padEnd(8)} ${l.title} (${l.checks.length} checks, ${points} points; you write ${l.studentFiles.join(", ")})\n`,
    );
  }
  return 0;
}

/** `memsim grade LAB SUBMISSION [--format F] [-o FILE]`. */
export const gradeCommand: Command = {
  name: "grade",
  summary: "grade a lab submission: one line per check and 'Score: x/y' (or json, gradescope, tap, junit)",
  description:
    "Runs the lab's checks against SUBMISSION (the student's file, or the folder 'memsim lab init' made) in a worker thread, with a time limit per check. Exit 0 when graded, whatever the score.",
  options: [
    {
      name: "format",
      short: "f",
      kind: "string",
      arg: "FORMAT",
      help: `output format: ${FORMATS.join(", ")} (default text)`,
      choices: FORMATS,
    },
    { name: "output", short: "o", kind: "string", arg: "FILE", help: "write the result to FILE (e.g. results.json for Gradescope)" },
    { name: "time-limit", kind: "int", arg: "MS", help: "milliseconds per check (default: the lab's)", min: 100, max: 600_000 },
  ],
  positionals: [
    { name: "LAB", help: "the lab ('memsim lab list')" },
    { name: "SUBMISSION", help: "the student's file or folder" },
  ],
  async run(ctx) {
    const [labName, submission] = ctx.args.pos as [string, string];
    if (!findLab(labName)) throw new UsageError(`unknown lab '${labName}' (labs: ${LABS.map((l) => l.name).join(", ")})`);
    const format = (ctx.args.str("format") ?? (ctx.json ? "json" : "text")) as Format;
    const limit = ctx.args.has("time-limit") ? { timeLimitMs: ctx.args.int("time-limit", 0) } : {};
    let text: string;
    try {
      text = formatResult(await grade(labName, submission, limit), format);
    } catch (e) {
      if (e instanceof GradeError) throw new InputError(e.message);
      throw e;
    }
    const file = ctx.args.str("output");
    if (file === undefined) ctx.io.out.write(text);
    else writeFileSync(file, text);
    return 0;
  },
};
