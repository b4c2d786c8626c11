/**
 * The grader: runs a lab's checks against one submission in a worker thread
 * (worker.ts) with a time limit per check and a memory limit per worker. The
 * checks share one worker; a check that times out or crashes it costs that
 * check only, and the next check gets a fresh worker.
 */
import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { findLab } from "./labs.ts";
import type { CheckResult, GradeResult, Lab } from "./types.ts";

/** Limits of one grading run. */
export interface GradeOptions {
  /** Per check, in milliseconds (default: the lab's own). */
  readonly timeLimitMs?: number;
  /** Heap of the worker, in MiB (default 256). */
  readonly memoryMb?: number;
}

/** Why a submission could not be graded at all (unknown lab, no such file). */
export class GradeError extends Error {
  override readonly name = "GradeError";
}

/**
 * Grades `submission` (a student file, or the folder `memsim lab init`
 * made) against lab `labName`. Never throws for what the submission does;
 * throws GradeError when the lab or the file does not exist.
 */
export async function grade(labName: string, submission: string, opts: GradeOptions = {}): Promise<GradeResult> {
  const lab = findLab(labName);
  if (lab === null) throw new GradeError(`unknown lab '${labName}'`);
  const file = submissionFile(lab, submission);
  const limit = opts.timeLimitMs ?? lab.timeLimitMs;
  const checks: CheckResult[] = [];
  let session: Session | null = null;
  for (let i = 0; i < lab.checks.length; i++) {
    session ??= await Session.start(lab.name, file, limit, opts.memoryMb ?? 256);
    const broken = session.loadError;
    if (broken !== null) {
      // A submission that did not load will not load in a fresh worker either: every check left gets the reason.
      for (let j = i; j < lab.checks.length; j++) checks.push(result(lab, j, broken));
      break;
    }
    const got = await session.run(i, limit);
    checks.push(result(lab, i, got));
    if (got.status !== "pass" && got.status !== "fail") {
      await session.stop();
      session = null;
    }
  }
  await session?.stop();
  const score = checks.reduce((s, c) => s + c.score, 0);
  return { lab: lab.name, checks, score, maxScore: lab.checks.reduce((s, c) => s + c.weight, 0) };
}

/** The student file of `submission`: the path itself, or the lab's first student file inside a folder. */
export function submissionFile(lab: Lab<unknown>, submission: string): string {
  const path = resolve(submission);
  if (!existsSync(path)) throw new GradeError(`no such file or folder: ${submission}`);
  if (!statSync(path).isDirectory()) return path;
  const inside = join(path, lab.studentFiles[0]!);
  if (!existsSync(inside)) throw new GradeError(`${submission} has no ${lab.studentFiles[0]}`);
  return inside;
}

interface Outcome {
  readonly status: CheckResult["status"];
  readonly output: string;
}

function result(lab: Lab<unknown>, i: number, got: Outcome): CheckResult {
  const c = lab.checks[i]!;
  return {
    name: c.name,
    weight: c.weight,
    explain: c.explain,
    status: got.status,
    score: got.status === "pass" ? c.weight : 0,
    output: got.output,
  };
}

type Reply = { kind: "message"; msg: Record<string, unknown> } | { kind: "timeout" } | { kind: "crash"; why: string };

/** One worker: the lab and the submission loaded, checks run one at a time. */
class Session {
  /** Set when the submission did not load: every check fails with it. */
  loadError: Outcome | null = null;

  private constructor(private readonly worker: Worker) {}

  static async start(lab: string, file: string, limitMs: number, memoryMb: number): Promise<Session> {
    const worker = new Worker(bootstrap(), {
      eval: true,
      workerData: { lab, submission: pathToFileURL(file).href },
      resourceLimits: { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: 32 },
      stdout: true,
      stderr: true,
    });
    const s = new Session(worker);
    const first = await s.reply(Math.max(limitMs, 30_000));
    if (first.kind !== "message") s.loadError = failure(first, limitMs, "loading the submission");
    else if (typeof first.msg.loaded === "string") s.loadError = { status: "fail", output: `FAILED: ${first.msg.loaded}` };
    return s;
  }

  async run(index: number, limitMs: number): Promise<Outcome> {
    this.worker.postMessage({ run: index });
    const r = await this.reply(limitMs);
    if (r.kind !== "message") return failure(r, limitMs, "the check");
    return { status: r.msg.pass ? "pass" : "fail", output: String(r.msg.output) };
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }

  private reply(limitMs: number): Promise<Reply> {
    return new Promise((done) => {
      const w = this.worker;
      const finish = (r: Reply): void => {
        clearTimeout(timer);
        w.off("message", onMessage).off("error", onError).off("exit", onExit);
        done(r);
      };
      const onMessage = (msg: Record<string, unknown>): void => finish({ kind: "message", msg });
      const onError = (e: Error): void => finish({ kind: "crash", why: crashWhy(e) });
      const onExit = (code: number): void => finish({ kind: "crash", why: `the worker exited with status ${code}` });
      const timer = setTimeout(() => finish({ kind: "timeout" }), limitMs);
      w.on("message", onMessage).on("error", onError).on("exit", onExit);
    });
  }
}

function failure(r: Reply, limitMs: number, what: string): Outcome {
  if (r.kind === "timeout")
    return { status: "timeout", output: `FAILED: ${what} was still running after ${limitMs} ms (the time limit): an endless loop?` };
  return { status: "crash", output: `FAILED: ${what} crashed the worker: ${r.kind === "crash" ? r.why : "no reply"}` };
}

function crashWhy(e: Error): string {
  const code = (e as { code?: string }).code;
  if (code === "ERR_WORKER_OUT_OF_MEMORY") return "it ran out of memory (the worker's heap limit)";
  return `${e.name}: ${e.message}`;
}

/** The worker's entry: registers tsx's loader, then imports worker.ts. */
function bootstrap(): string {
  const require = createRequire(import.meta.url);
  const tsx = pathToFileURL(require.resolve("tsx/package.json").replace(/package\.json$/, "dist/esm/api/index.mjs")).href;
  const entry = new URL("./worker.ts", import.meta.url).href;
  return `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); });`;
}
