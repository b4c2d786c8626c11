/**
 * Signals as the emulator delivers them: a fatal signal ends the process and
 * surfaces as an exception thrown out of the user code that caused it.
 */

import { formatVa } from "./mm/types.ts";
import { SEGV_ACCERR, SEGV_MAPERR, SI_KERNEL, SIGBUS, SIGNAL_NAMES, SIGSEGV } from "./uapi/signal.ts";

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
    /** SEGV_MAPERR (1), SEGV_ACCERR (2), or SI_KERNEL (128) for a non-canonical address. */
    readonly code: number,
    /** The exact faulting byte address (0 with SI_KERNEL, as for a general protection fault). */
    readonly addr: number,
    /** "read", "write" or "exec". */
    readonly access: string,
  ) {
    super(pid, SIGSEGV, `pid ${pid}: SIGSEGV (${segvCodeName(code)}) at ${formatVa(addr)} on ${access}`);
  }
}

function segvCodeName(code: number): string {
  return code === SEGV_ACCERR ? "SEGV_ACCERR" : code === SEGV_MAPERR ? "SEGV_MAPERR" : code === SI_KERNEL ? "SI_KERNEL" : String(code);
}

/** A user access to a shared mapping past the end of its object (SIGBUS, BUS_ADRERR). */
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
