/**
 * The process a trace replay runs in: a fresh machine per run (so runs do
 * not share free lists or caches), 256 MiB of RAM, no debug checks, one
 * process. Every figure includes its page faults and syscalls.
 */
import type { UserProcess } from "../../userspace/env.ts";
import { Machine } from "../machine.ts";

/** RAM of a replay machine. */
export const REPLAY_RAM_BYTES = 256 << 20;

/** A fresh process on a fresh machine. */
export function spawnReplayProcess(): UserProcess & { readonly minflt: number } {
  return Machine.boot({ ramBytes: REPLAY_RAM_BYTES, debugVm: 0 }).spawn("mdriver");
}
