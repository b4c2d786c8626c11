/**
 * Where trace replays run: one machine (256 MiB of RAM, no debug checks)
 * that spawns a fresh process for every run and takes it back afterwards,
 * as a shell runs mdriver again and again on one computer. Every figure
 * includes the run's page faults and syscalls.
 */
import { Process } from "../../kernel/process.ts";
import type { UserProcess } from "../../userspace/env.ts";
import { Machine } from "../machine.ts";

/** RAM of a replay machine. */
export const REPLAY_RAM_BYTES = 256 << 20;

/** A machine that hosts replay runs. */
export class ReplayHost {
  readonly machine = Machine.boot({ ramBytes: REPLAY_RAM_BYTES, debugVm: 0 });
  private n = 0;

  /** A fresh process for one run. */
  readonly spawn = (): Process => this.machine.spawn(`mdriver${this.n++}`);

  /** Ends a run's process so its memory goes back (a process killed by a signal is gone already). */
  readonly release = (p: UserProcess): void => {
    if (p instanceof Process && p.state === "running") p.exit(0);
  };
}
