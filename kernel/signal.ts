/**
 * Signals as the emulator delivers them: a fatal signal ends the process and
 * surfaces as an exception thrown out of the user code that caused it.
 */

import { formatVa } from "./mm/types.ts";
import { SEGV_ACCERR, SIGBUS, SIGNAL_NAMES, SIGSEGV } from "./uapi/signal.ts";

/** The process was killed by `signo`; thrown out of the access or call that caused it. */
export class ProcessKilled extends Error {
  override name = "ProcessKilled";
  constructor(
    readonly pid: number,
    readonly signo: number,
    message: string,
  ) {
    super(message);
  }
}

/** A user access the kernel could not satisfy (SIGSEGV with si_code and si_addr). */
export class SegmentationFault extends ProcessKilled {
  override name = "SegmentationFault";
  constructor(
    pid: number,
    /** SEGV_MAPERR (1) or SEGV_ACCERR (2). */
    readonly code: number,
    /** The exact faulting byte address. */
    readonly addr: number,
    /** "read", "write" or "exec". */
    readonly access: string,
  ) {
    super(pid, SIGSEGV, `pid ${pid}: SIGSEGV (${code === SEGV_ACCERR ? "SEGV_ACCERR" : "SEGV_MAPERR"}) at ${formatVa(addr)} on ${access}`);
  }
}

/** An access to a page past the end of the object a shared mapping maps (SIGBUS, BUS_ADRERR). */
export class BusError extends ProcessKilled {
  override name = "BusError";
  constructor(
    pid: number,
    /** BUS_ADRERR (2). */
    readonly code: number,
    /** The exact faulting byte address. */
    readonly addr: number,
    /** "read", "write" or "exec". */
    readonly access: string,
  ) {
    super(pid, SIGBUS, `pid ${pid}: SIGBUS (BUS_ADRERR) at ${formatVa(addr)} on ${access}`);
  }
}

/** What a SIGSEGV handler is given (siginfo_t, reduced). */
export interface SigInfo {
  readonly signo: number;
  readonly code: number;
  readonly addr: number;
  readonly access: "read" | "write" | "exec";
}

/** A user signal handler: "retry" re-runs the access, "default" takes the default action. */
export type SignalHandler = (info: SigInfo) => "retry" | "default";

/** "SIGSEGV" for 11. */
export function signalName(signo: number): string {
  return SIGNAL_NAMES[signo] ?? `SIG${signo}`;
}
