/**
 * The process a test runs userspace code in: a real process (kernel page
 * tables, demand paging, brk and mmap) on a fresh machine. Tests that want
 * userspace code without a kernel behind it use {@link makeFlatProcess}.
 */
import { expect } from "vitest";
import { Process } from "../../kernel/process.ts";
import { SIGABRT } from "../../kernel/uapi/signal.ts";
import type { UserProcess } from "../../userspace/env.ts";
import { bootMachine } from "./boot.ts";
import { FlatProcess, type FlatProcessOptions } from "./flat_process.ts";

/** Options of {@link makeTestProcess}. */
export interface TestProcessOptions {
  /** RAM of the machine (default 64 MiB). */
  ramBytes?: number;
  /** Kernel debug level (default 1: cheap asserts). */
  debugVm?: number;
}

/** A fresh process on a fresh machine. */
export function makeTestProcess(opts: TestProcessOptions = {}): UserProcess {
  return bootMachine({ ramBytes: opts.ramBytes ?? 64 << 20, debugVm: opts.debugVm ?? 1 }).spawn("t");
}

/** A spawner of fresh processes that all run on one machine (cheaper than a machine each). */
export function testSpawner(opts: TestProcessOptions = {}): () => UserProcess {
  const m = bootMachine({ ramBytes: opts.ramBytes ?? 64 << 20, debugVm: opts.debugVm ?? 1 });
  let n = 0;
  return () => m.spawn(`t${n++}`);
}

/** Ends a process a spawner made, giving its memory back (a process already killed stays as it is). */
export function exitProcess(p: UserProcess): void {
  if (p instanceof Process && p.state === "running") p.exit(0);
}

/**
 * Asserts that `act` aborts the process: abort(3) with `message` on its
 * stderr, the process killed by SIGABRT (the flat process only records it).
 */
export function expectAbort(proc: UserProcess, act: () => unknown, message: string): void {
  let thrown: unknown;
  try {
    act();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, "the call should abort the process").toBeInstanceOf(Error);
  expect((thrown as { signo?: number }).signo).toBe(SIGABRT);
  expect((proc as { stderr?: string }).stderr).toBe(`${message}\n`);
  if (proc instanceof Process) expect(proc.describe()).toBe("killed by SIGABRT");
}

/** A fresh flat process: the same contract with no kernel behind it (test/support/flat_process.ts). */
export function makeFlatProcess(opts: FlatProcessOptions = {}): UserProcess {
  return new FlatProcess(opts);
}
