/** Reading one counter of a machine's /proc/vmstat, as the kernel suites do. */
import type { Machine } from "../../sim/index.ts";

/** The value of /proc/vmstat's line `name` (NaN when the machine prints no such line). */
export function vmstat(m: Machine, name: string): number {
  const line = m.proc
    .vmstat()
    .split("\n")
    .find((l) => l.startsWith(`${name} `));
  return Number(line?.split(" ")[1]);
}
