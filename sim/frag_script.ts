/**
 * Fragmentation series of a script (the command language of `memsim
 * script`): the script runs on one session, and after every `interval`
 * lines (and the last) the buddy allocator and every slab cache of the
 * machine are sampled. The clock is the script's line number. A script
 * that boots again starts new series for the new machine, named `#2` ...
 */
import type { KLogger } from "../kernel/printk.ts";
import "./cli/lang/commands.ts"; // registers the language's commands
import { Session } from "./cli/lang/session.ts";
import type { FragSample, FragSeries } from "./frag.ts";
import { buddySample, KmallocRequests, slabSamples } from "./frag_kernel.ts";
import type { Machine } from "./machine.ts";

/** How to run and sample a script. */
export interface ScriptFragOptions {
  ramBytes: number;
  seed: number;
  log: KLogger;
  /** Called with every machine the script boots (before it is sampled). */
  onBoot?: (m: Machine) => void;
  /** A sample every `interval` lines. */
  interval: number;
  /** The buddy request order external fragmentation is measured for. */
  order: number;
}

/** A script line failed. */
export class ScriptLineError extends Error {
  override readonly name = "ScriptLineError";
}

/** One machine's series as they grow. */
class MachineSeries {
  readonly requests: KmallocRequests;
  readonly buddy: FragSample[] = [];
  readonly slabs = new Map<string, FragSample[]>();

  constructor(
    readonly m: Machine,
    readonly workload: string,
  ) {
    this.requests = new KmallocRequests(m);
  }

  sample(t: number, order: number): void {
    this.buddy.push(buddySample(t, this.m, order));
    for (const [name, s] of slabSamples(t, this.m, this.requests)) {
      const list = this.slabs.get(name) ?? [];
      list.push(s);
      this.slabs.set(name, list);
    }
  }

  /** The buddy's series, then every slab cache that held pages at some sample. */
  series(): FragSeries[] {
    const out: FragSeries[] = [{ name: "buddy", kind: "buddy", workload: this.workload, samples: this.buddy }];
    for (const [name, samples] of this.slabs) {
      if (samples.some((s) => s.heapBytes > 0)) out.push({ name, kind: "slab", workload: this.workload, samples });
    }
    return out;
  }
}

/**
 * Runs `text` (named `file`) and returns the series of every machine it
 * booted. Throws ScriptLineError naming file:line when a line fails.
 */
export function scriptFragSeries(text: string, file: string, opts: ScriptFragOptions): FragSeries[] {
  const machines: MachineSeries[] = [];
  const onBoot = (m: Machine) => {
    opts.onBoot?.(m);
    machines.push(new MachineSeries(m, machines.length === 0 ? file : `${file}#${machines.length + 1}`));
  };
  const s = new Session({ ramBytes: opts.ramBytes, seed: opts.seed, log: opts.log, onBoot });
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const r = s.exec(lines[i] as string);
    if (r.kind === "error") throw new ScriptLineError(`${file}:${i + 1}: ${r.text}`);
    const last = machines[machines.length - 1];
    if (last !== undefined && r.kind === "ok" && ((i + 1) % opts.interval === 0 || i + 1 === lines.length)) last.sample(i + 1, opts.order);
  }
  const last = machines[machines.length - 1];
  if (last !== undefined && last.buddy.at(-1)?.t !== lines.length) last.sample(lines.length, opts.order);
  return machines.flatMap((x) => x.series());
}
