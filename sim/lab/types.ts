/**
 * What a lab is (sim/lab/README.md): a statement, the student files of its
 * skeleton, and named, weighted checks run against a submission. Checks run
 * inside the grader's worker (worker.ts); their metadata is read by the
 * grader itself, which never loads a submission.
 */

/** One check of a lab. `run` throws CheckFailed (or anything else) to fail. */
export interface LabCheck<S> {
  /** Short name, unique in the lab (`lazy-read-zero`). */
  readonly name: string;
  /** Points it is worth. */
  readonly weight: number;
  /** What it checks, in one sentence a student reads. */
  readonly explain: string;
  /** Runs the check; `log` collects what the student's code did. Throws to fail. */
  run(sub: S, log: string[]): void;
}

/** A lab: everything the grader and `memsim lab init` need. */
export interface Lab<S> {
  readonly name: string;
  readonly title: string;
  /** The files a student writes (their skeletons are in the lab's skeleton/ folder). */
  readonly studentFiles: readonly string[];
  /** The exports the submission must have, checked when it is loaded. */
  readonly exports: readonly string[];
  readonly checks: readonly LabCheck<S>[];
  /** Milliseconds one check may run before the grader stops it. */
  readonly timeLimitMs: number;
}

/** A check's expected failure: what the student's code did against what was expected. */
export class CheckFailed extends Error {
  override readonly name = "CheckFailed";
}

/** How one check ended. */
export type CheckStatus = "pass" | "fail" | "timeout" | "crash";

/** One check's result, as every output format reports it. */
export interface CheckResult {
  readonly name: string;
  readonly weight: number;
  readonly explain: string;
  readonly status: CheckStatus;
  /** weight when it passed, else 0. */
  readonly score: number;
  /** What happened: the log of the student's code, then why it failed. */
  readonly output: string;
}

/** A graded submission. */
export interface GradeResult {
  readonly lab: string;
  readonly checks: readonly CheckResult[];
  readonly score: number;
  readonly maxScore: number;
}
