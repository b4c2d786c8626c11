/**
 * `memsim quiz [topic]`: generated exercises in the style of OSTEP's
 * homework scripts. The seed picks the exercises; answers are hidden unless
 * -c (as OSTEP's scripts do) and are always computed, never stored.
 * `--events` / `--ftrace` record the machines a topic boots to compute its
 * answers (kmalloc boots one per exercise; the others use small models).
 */
import { Prandom } from "../../../kernel/lib/random.ts";
import { UsageError } from "../args.ts";
import type { Command } from "../command.ts";
import { BUDDY_TOPIC } from "./buddy.ts";
import type { Exercise, OnBoot, Topic } from "./exercise.ts";
import { FIT_TOPIC } from "./fit.ts";
import { KMALLOC_TOPIC } from "./kmalloc.ts";
import { TRANSLATE_TOPIC } from "./translate.ts";

/** Every topic; `memsim quiz` without a topic asks one exercise of each. */
export const TOPICS: Topic[] = [TRANSLATE_TOPIC, BUDDY_TOPIC, FIT_TOPIC, KMALLOC_TOPIC];

/** A stable number per topic name, so each topic has its own stream for a seed. */
function topicSalt(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** `count` exercises of each topic, for a seed; every machine a topic boots is handed to `onBoot`. */
export function makeQuiz(topics: readonly Topic[], seed: number, count: number, onBoot: OnBoot = () => {}): Exercise[] {
  const out: Exercise[] = [];
  for (const t of topics) {
    const rng = new Prandom((seed ^ topicSalt(t.name)) >>> 0);
    for (let i = 0; i < count; i++) out.push(t.make(rng, onBoot));
  }
  return out;
}

function formatQuiz(ex: readonly Exercise[], showAnswers: boolean): string {
  let out = "";
  ex.forEach((e, i) => {
    out += `\nQuestion ${i + 1} (${e.topic})\n${e.question}\n`;
    out += showAnswers ? `Answer:\n${e.answer.replace(/^/gm, "  ")}\n` : "Answer: work it out, then run again with -c to check.\n";
  });
  return out;
}

/** `memsim quiz`. */
export const quizCommand: Command = {
  name: "quiz",
  summary: "generated exercises (page walks, buddy, fit policies, kmalloc sizes); -c shows the answers",
  description: `topics:\n${TOPICS.map((t) => `  ${t.name.padEnd(10)} ${t.summary}`).join("\n")}\n  all        one of each (the default)`,
  options: [
    { name: "compute", short: "c", kind: "flag", help: "show the answers" },
    { name: "number", short: "n", kind: "int", arg: "N", help: "exercises per topic (default 1)", min: 1, max: 50 },
  ],
  positionals: [{ name: "topic", help: "one topic, or all", optional: true }],
  run(ctx) {
    const name = ctx.args.pos[0] ?? "all";
    const topics = name === "all" ? TOPICS : TOPICS.filter((t) => t.name === name);
    if (topics.length === 0) throw new UsageError(`unknown topic '${name}' (topics: ${TOPICS.map((t) => t.name).join(", ")}, all)`);
    const count = ctx.args.int("number", 1);
    const ex = makeQuiz(topics, ctx.seed, count, ctx.watch);
    const show = ctx.args.flag("compute");
    if (ctx.json) {
      const doc = ex.map((e) => (show ? e : { topic: e.topic, question: e.question }));
      ctx.io.out.write(`${JSON.stringify({ command: "quiz", topic: name, seed: ctx.seed, exercises: doc }, null, 2)}\n`);
      return 0;
    }
    ctx.io.out.write(
      `# memsim quiz: topic=${name} seed=${ctx.seed} number=${count}${show ? " (answers shown)" : ""}\n${formatQuiz(ex, show)}`,
    );
    return 0;
  },
};
