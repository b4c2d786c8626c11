/**
 * `memsim run`: boot a machine, exercise it, and print the /proc views.
 * Identical arguments print identical bytes.
 */
import { Machine } from "../machine.ts";
import { formatSize, parseSize } from "../units.ts";

interface Out {
  write(s: string): unknown;
}

/** Parses `--seed N` and `--ram SIZE`; returns an error message for anything else. */
function parseRunArgs(args: string[]): { seed: number; ram: number } | string {
  let seed = 1;
  let ram = 64 << 20;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = args[i + 1];
    if (a === "--seed" && v !== undefined && /^\d+$/.test(v)) {
      seed = Number(v);
      i++;
    } else if (a === "--ram" && v !== undefined) {
      try {
        ram = parseSize(v);
      } catch (e) {
        return `--ram: ${(e as Error).message}`;
      }
      i++;
    } else {
      return `unexpected argument '${a}'`;
    }
  }
  return { seed, ram };
}

/** Runs the default demonstration. Returns the exit status. */
export function runDemo(args: string[], out: Out): number {
  const parsed = parseRunArgs(args);
  if (typeof parsed === "string") {
    process.stderr.write(`memsim run: ${parsed}\n`);
    return 2;
  }
  let m: Machine;
  try {
    m = Machine.boot({ ramBytes: parsed.ram, seed: parsed.seed });
  } catch (e) {
    process.stderr.write(`memsim run: ${(e as Error).message}\n`);
    return 2;
  }
  out.write(`# memsim run: ram=${formatSize(parsed.ram)} seed=${parsed.seed}\n\n`);
  const held: Array<[number, number]> = [];
  for (let i = 0; i < 64; i++) {
    const order = m.kernel.rng.below(4);
    const pfn = m.kernel.allocPages(order);
    if (pfn !== null) held.push([pfn, order]);
  }
  for (let i = 0; i < held.length; i += 2) {
    const [pfn, order] = held[i] as [number, number];
    m.kernel.freePages(pfn, order);
  }
  out.write(`## ${held.length} blocks of order 0..3 allocated, every other one freed\n\n`);
  out.write("## /proc/buddyinfo\n");
  out.write(m.proc.buddyinfo());
  out.write("\n## /proc/meminfo (first lines)\n");
  out.write(`${m.proc.meminfo().split("\n").slice(0, 3).join("\n")}\n`);
  m.check();
  out.write("\nall invariant checkers passed\n");
  return 0;
}
