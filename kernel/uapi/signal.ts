/** Signal numbers and si_code values with Linux's x86-64 names and values. */

export const SIGILL = 4;
export const SIGABRT = 6;
export const SIGBUS = 7;
export const SIGKILL = 9;
export const SIGSEGV = 11;
export const SIGCHLD = 17;

/** si_code for SIGSEGV: no mapping at the address. */
export const SEGV_MAPERR = 1;
/** si_code for SIGSEGV: a mapping exists but forbids the access. */
export const SEGV_ACCERR = 2;
/** si_code SI_KERNEL: raised by the kernel itself: a general protection fault (non-canonical address, si_addr 0) or the OOM killer's SIGKILL. */
export const SI_KERNEL = 0x80;
/** si_code for SIGBUS: nonexistent physical address / object. */
export const BUS_ADRERR = 2;

export const SIGNAL_NAMES: Readonly<Record<number, string>> = {
  [SIGILL]: "SIGILL",
  [SIGABRT]: "SIGABRT",
  [SIGBUS]: "SIGBUS",
  [SIGKILL]: "SIGKILL",
  [SIGSEGV]: "SIGSEGV",
};
