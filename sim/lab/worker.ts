/**
 * The grader's worker thread: loads a lab and one submission (TypeScript,
 * through tsx's tsImport), then runs the checks the grader asks for, one message each.
 * Messages in: { run: index }. Out: { loaded: string | null } once (null
 * when the submission loaded, else why not), then { index, pass, output }
 * per check. An endless loop or a crash here costs the grader one check.
 */
import { parentPort, workerData } from "node:worker_threads";
import { tsImport } from "tsx/esm/api";
import { findLab } from "./labs.ts";
import { describe } from "./trial.ts";
import { CheckFailed } from "./types.ts";

interface Data {
  readonly lab: string;
  readonly submission: string;
}

const data = workerData as Data;
const port = parentPort!;
const lab = findLab(data.lab)!;

async function load(): Promise<Record<string, unknown> | string> {
  try {
    // tsImport: ESM whatever the submission's folder says (a lone file has no package.json).
    const mod = (await tsImport(data.submission, import.meta.url)) as Record<string, unknown>;
    const missing = lab.exports.filter((name) => typeof mod[name] !== "function");
    if (missing.length > 0) return `the submission does not export ${missing.join(", ")} (as functions)`;
    return mod;
  } catch (e) {
    return `the submission does not load: ${describe(e)}`;
  }
}

const sub = await load();
port.postMessage({ loaded: typeof sub === "string" ? sub : null });
port.on("message", (msg: { run: number }) => {
  const check = lab.checks[msg.run]!;
  const log: string[] = [];
  let pass = false;
  let why = "";
  try {
    check.run(sub, log);
    pass = true;
  } catch (e) {
    why = e instanceof CheckFailed ? e.message : `unexpected ${describe(e)}`;
  }
  const output = pass ? log.join("\n") : [...log, `FAILED: ${why}`].join("\n");
  port.postMessage({ index: msg.run, pass, output });
});
