/**
 * What layers register with the kernel as they boot: invariant checkers,
 * /proc/meminfo fields, /proc/vmstat counters, sections of `m.stats()` and
 * the counters the cost clock (clock.ts) is derived from.
 * A leaf module: every layer's boot may import it, it imports no layer.
 */
import { CostClock, DEFAULT_CLOCK_COSTS } from "./clock.ts";
import type { MeminfoValues } from "./proc/meminfo.ts";

/** A named invariant checker, run by `m.check()`. */
export interface Checker {
  readonly name: string;
  /** Other names `check(only)` accepts for it ("frames" for the frames layer's checker). */
  readonly aliases?: readonly string[];
  readonly run: () => void;
}

/** The kernel's lists of observers, filled at boot in layer order. */
export class Registry {
  readonly checkers: Checker[] = [];
  /** Layers add their /proc/meminfo fields here (kB). */
  readonly meminfoSources: Array<(v: MeminfoValues) => void> = [];
  /** Layers add their /proc/vmstat counters here, in order. */
  readonly vmstatSources: Array<(out: Array<[string, number]>) => void> = [];
  /** Layers add their section of `m.stats()` here. */
  readonly statsSources: Array<[string, () => unknown]> = [];

  /** @param clock the machine's cost clock; layers lend it their counters (default costs when absent). */
  constructor(readonly clock: CostClock = new CostClock(DEFAULT_CLOCK_COSTS)) {}

  /**
   * Runs every checker, or only the one named `only`; throws
   * InvariantViolation on the first failure. Throws RangeError for an unknown name.
   */
  check(only?: string): void {
    const named = (c: Checker) => c.name === only || c.aliases?.includes(only as string) === true;
    if (only !== undefined && !this.checkers.some(named)) {
      throw new RangeError(`check: no checker named '${only}' (have ${this.checkers.map((c) => c.name).join(", ")})`);
    }
    for (const c of this.checkers) if (only === undefined || named(c)) c.run();
  }
}
