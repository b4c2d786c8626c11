/**
 * What a quiz topic produces: exercises whose answers are computed from the
 * same data the question shows (by a small model or by memsim itself),
 * never written by hand.
 */
import type { Prandom } from "../../../kernel/lib/random.ts";
import type { Machine } from "../../machine.ts";

/** One exercise: the question a student reads and the worked answer. */
export interface Exercise {
  readonly topic: string;
  readonly question: string;
  readonly answer: string;
}

/** Called with every machine a topic boots to compute an answer (the CLI's --events / --ftrace). */
export type OnBoot = (m: Machine) => void;

/** A quiz topic: makes one exercise from a random stream; a topic that boots a machine hands it to `onBoot`. */
export interface Topic {
  readonly name: string;
  readonly summary: string;
  make(rng: Prandom, onBoot: OnBoot): Exercise;
}

/** "0x1a0" */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** Picks one element. */
export function pick<T>(rng: Prandom, xs: readonly T[]): T {
  return xs[rng.below(xs.length)] as T;
}

/** An integer in [lo, hi]. */
export function between(rng: Prandom, lo: number, hi: number): number {
  return lo + rng.below(hi - lo + 1);
}
