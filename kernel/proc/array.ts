/**
 * /proc/PID/stat (Linux fs/proc/array.c do_task_stat): one line of 52
 * space-separated fields, `pid (comm) state ppid ...`, in Linux's order.
 *
 * memsim fills the fields it models: pid, comm, state, ppid, minflt,
 * majflt, num_threads, vsize (bytes), rss (pages), rsslim (RLIM_INFINITY),
 * startstack, start_brk, exit_signal (SIGCHLD), priority 20 and
 * nice 0. Fields of things memsim has no notion of (process groups,
 * sessions, terminals, CPU time, start time, signals' masks, children's
 * reaped faults) are 0, as Linux prints for a value it hides.
 */

/** What one /proc/PID/stat line shows. */
export interface StatFields {
  readonly pid: number;
  readonly comm: string;
  /** One letter: R running, Z zombie. */
  readonly state: string;
  readonly ppid: number;
  readonly minflt: number;
  readonly majflt: number;
  readonly threads: number;
  readonly vsizeBytes: number;
  readonly rssPages: number;
  readonly startStack: number;
  readonly startBrk: number;
}

/** RLIM_INFINITY as an unsigned 64-bit number (rsslim). */
const RLIM_INFINITY_U64 = "18446744073709551615";
/** SIGCHLD, the signal a process's parent gets when it ends. */
const SIGCHLD = 17;

/** Renders /proc/PID/stat from `s` (one line, newline-terminated). */
export function renderStat(s: StatFields): string {
  // Fields 1..52 of proc(5), grouped as Linux prints them.
  const f: Array<string | number> = [s.pid, `(${s.comm})`, s.state, s.ppid];
  f.push(0, 0, 0, -1, 0); // pgrp session tty_nr tpgid flags
  f.push(s.minflt, 0, s.majflt, 0); // minflt cminflt majflt cmajflt
  f.push(0, 0, 0, 0, 20, 0, s.threads, 0, 0); // utime stime cutime cstime priority nice num_threads itrealvalue starttime
  f.push(s.vsizeBytes, s.rssPages, RLIM_INFINITY_U64); // vsize rss rsslim
  f.push(0, 0, s.startStack, 0, 0); // startcode endcode startstack kstkesp kstkeip
  f.push(0, 0, 0, 0, 0, 0, 0); // signal blocked sigignore sigcatch wchan nswap cnswap
  f.push(SIGCHLD, 0, 0, 0, 0, 0, 0); // exit_signal processor rt_priority policy delayacct_blkio_ticks guest_time cguest_time
  f.push(0, 0, s.startBrk, 0, 0, 0, 0, 0); // start_data end_data start_brk arg_start arg_end env_start env_end exit_code
  return `${f.join(" ")}\n`;
}
