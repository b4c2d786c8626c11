/**
 * The pgtbl lab's ugetpid checks: the student's usyscall(p, k) runs as the
 * onSpawn layer of every process (spawned or forked) and maps a read-only
 * page at USYSCALL holding the pid, a special mapping named "[usyscall]".
 */
import type { LabTask } from "../../../kernel/lab_layers.ts";
import type { KernelApi } from "../../../kernel/mm/lab_api.ts";
import type { Process } from "../../../kernel/process.ts";
import { PROT_READ, PROT_WRITE } from "../../../kernel/uapi/mman.ts";
import type { Machine } from "../../machine.ts";
import { attempt, checkers, expectAccErr, expectEq, freeFrames, labMachine, note } from "../trial.ts";
import { CheckFailed, type LabCheck } from "../types.ts";

/** What the ugetpid part of a submission exports: the onSpawn hook. */
export interface UgetpidSubmission {
  readonly usyscall: (p: LabTask, k: KernelApi) => void;
}

/** xv6's USYSCALL, where the grader reads the pid (the statement gives it). */
export const USYSCALL = 0x3f_ffff_d000;
const EACCES = 13;

/** A lab machine whose onSpawn is the student's usyscall. */
function boot(sub: UgetpidSubmission): Machine {
  return labMachine({ onSpawn: (p, k) => sub.usyscall(p, k) });
}

/** xv6's ugetpid(): the pid read from the USYSCALL page, logged. */
function ugetpid(p: Process, log: string[]): number {
  const v = p.mem.read32(USYSCALL);
  note(log, `pid ${p.pid}: ugetpid() read ${v} at 0x${USYSCALL.toString(16)}`);
  return v;
}

function mustFork(p: Process): Process {
  const c = p.fork();
  if (c === null) throw new CheckFailed(`fork of pid ${p.pid} failed`);
  return c;
}

/** The ugetpid checks. */
export const ugetpidChecks: LabCheck<UgetpidSubmission>[] = [
  {
    name: "ugetpid",
    weight: 2,
    explain: "Three spawned processes and a forked child each read their own pid at USYSCALL.",
    run(sub, log) {
      const m = boot(sub);
      const ps = [m.spawn("a"), m.spawn("b"), m.spawn("c")];
      for (const p of ps) expectEq(log, `ugetpid() of pid ${p.pid}`, ugetpid(p, log), p.pid);
      const c = mustFork(ps[0]!);
      expectEq(log, `ugetpid() of the forked child, pid ${c.pid}`, ugetpid(c, log), c.pid);
      expectEq(log, "ugetpid() of its parent after the fork", ugetpid(ps[0]!, log), ps[0]!.pid);
      checkers(m, log);
    },
  },
  {
    name: "usyscall-read-only",
    weight: 1,
    explain: "A write to USYSCALL is SIGSEGV (SEGV_ACCERR) and mprotect cannot make the page writable (EACCES).",
    run(sub, log) {
      const m = boot(sub);
      const p = m.spawn("a");
      expectEq(log, "mprotect(USYSCALL, 4096, PROT_READ|PROT_WRITE)", p.sys.mprotect(USYSCALL, 4096, PROT_READ | PROT_WRITE), -EACCES);
      const q = m.spawn("b");
      expectAccErr(
        log,
        attempt(log, "write32(USYSCALL)", () => q.mem.write32(USYSCALL, 99)),
      );
      checkers(m, log);
    },
  },
  {
    name: "usyscall-in-maps",
    weight: 1,
    explain: "/proc/PID/maps shows the page as a special mapping: 3fffffd000-3fffffe000 ... [usyscall].",
    run(sub, log) {
      const m = boot(sub);
      const p = m.spawn("a");
      const line =
        p.proc
          .maps()
          .split("\n")
          .find((l) => l.startsWith("3fffffd000-3fffffe000 ")) ?? "(no line for USYSCALL)";
      note(log, `maps: ${line}`);
      if (!line.endsWith(" [usyscall]")) throw new CheckFailed(`the maps line of USYSCALL does not end with "[usyscall]": ${line}`);
      checkers(m, log);
    },
  },
  {
    name: "usyscall-freed-at-exit",
    weight: 1,
    explain: "A process, its child and grandchild read their pids and exit: every frame is free again and the kernel's checkers pass.",
    run(sub, log) {
      const m = boot(sub);
      m.kernel.dropCaches();
      const before = freeFrames(m);
      const p = m.spawn("a");
      const c = mustFork(p);
      const g = mustFork(c);
      for (const t of [g, c, p]) expectEq(log, `ugetpid() of pid ${t.pid}`, ugetpid(t, log), t.pid);
      for (const t of [g, c, p]) t.exit(0);
      note(log, "pids 3, 2 and 1 exited");
      m.kernel.dropCaches();
      expectEq(log, "free frames after every exit", freeFrames(m), before);
      checkers(m, log);
    },
  },
];
