/**
 * paging-policy.py's answers from a memsim machine: the reference string
 * replayed as one 4-byte store per access (to page n of an anonymous
 * mapping) by a process in a memory cgroup of `cachesize` frames, with
 * swap, booted in the every-access mode so the policy hears of each
 * access, under the `layers.replacement` policy matching the simulator's:
 *
 * | policy | layer |
 * |---|---|
 * | FIFO | fifoReplacement |
 * | LRU | lruReplacement (exact in this mode) |
 * | OPT | optReplacement(keys, { ties: "newest" }): the simulator takes the last of equals |
 * | UNOPT | optReplacement(keys, { pick: "soonest" }) |
 * | RAND, CLOCK | pyRandReplacement, pyClockReplacement (paging_policy_layers.ts), drawing from the simulator's generator |
 * | MRU | pyMruReplacement (paging_policy_layers.ts) |
 *
 * OPT and UNOPT get the string of page keys a first run recorded
 * (recordingReplacement), as any OPT on memsim does. A hit is an access
 * that took no page fault; the victim is the page whose entry stopped
 * being present during the access (it went to swap).
 */
import type { ReplacementLayer } from "../../kernel/mm/replacement.ts";
import { fifoReplacement, lruReplacement, optReplacement, recordingReplacement } from "../../kernel/mm/replacement_policies.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../kernel/uapi/mman.ts";
import { Machine } from "../machine.ts";
import { pyClockReplacement, pyMruReplacement, pyRandReplacement } from "./paging_policy_layers.ts";
import type { PyRandom } from "./py_random.ts";

/** The simulator's policies. */
export type PolicyName = "FIFO" | "LRU" | "MRU" | "OPT" | "UNOPT" | "RAND" | "CLOCK";

/** What the machine did for one access: whether it hit, and the page it evicted (-1 for none). */
export interface ReplayStep {
  readonly hit: boolean;
  readonly victim: number;
}

/** The steps, and the kernel's view after the replay (the lines --show-kernel prints). */
export interface Replay {
  readonly steps: ReplayStep[];
  readonly kernel: string[];
}

const PAGE = 4096;
const VMSTAT = ["pgfault", "pgmajfault", "pswpin", "pswpout"] as const;

/** Replays `addrs` (pages 0 and up) in a group of `cachesize` frames under `policy`. Throws when the kernel breaks an invariant (m.check). */
export function replayOnMachine(policy: PolicyName, addrs: readonly number[], cachesize: number, rng: PyRandom, clockbits: number): Replay {
  let layer: ReplacementLayer;
  if (policy === "OPT" || policy === "UNOPT") {
    const keys: number[] = [];
    replay(recordingReplacement(fifoReplacement, keys), addrs, cachesize);
    layer = optReplacement(keys, policy === "OPT" ? { ties: "newest" } : { pick: "soonest" });
  } else if (policy === "RAND") layer = pyRandReplacement(rng);
  else if (policy === "CLOCK") layer = pyClockReplacement(rng, clockbits);
  else if (policy === "MRU") layer = pyMruReplacement;
  else layer = policy === "LRU" ? lruReplacement : fifoReplacement;
  return replay(layer, addrs, cachesize);
}

function replay(layer: ReplacementLayer, addrs: readonly number[], cachesize: number): Replay {
  const pages = addrs.reduce((a, b) => Math.max(a, b), 0) + 1;
  const distinct = new Set(addrs).size;
  const frames = Math.min(cachesize, distinct);
  const ramBytes = (16 << 20) + Math.ceil((frames * PAGE) / (1 << 20)) * (1 << 20);
  const m = Machine.boot({ ramBytes, swapBytes: (distinct + 16) * PAGE, mmu: { observeAccesses: true }, layers: { replacement: layer } });
  const g = m.cgroups.create("paging-policy", { max: cachesize * PAGE });
  const p = m.spawn("paging-policy");
  p.cgroup = g;
  const base = p.sys.mmap(0, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  let faults = 0;
  m.events.on("page_fault_user", () => {
    faults++;
  });
  const present = (n: number) => m.kernel.mmu.peek(p.mm.pt, base + n * PAGE) >= 0;
  const vmstat = () => readCounters(m.proc.vmstat());
  const before = vmstat();
  const resident = new Set<number>();
  const steps: ReplayStep[] = [];
  for (const [i, n] of addrs.entries()) {
    const f = faults;
    p.mem.write32(base + n * PAGE, i);
    let victim = -1;
    for (const r of resident)
      if (!present(r)) {
        victim = r;
        resident.delete(r);
      }
    resident.add(n);
    steps.push({ hit: faults === f, victim });
  }
  m.check();
  const after = vmstat();
  const meminfo = readCounters(m.proc.meminfo());
  const cg = (file: "memory.current" | "memory.swap.current") => m.cgroups.read(g, file).trim();
  const kernel = [
    `KERNEL policy ${m.kernel.taskParts.reclaim.host.name} in a memory cgroup of ${cachesize} frames, every access reported`,
    `KERNEL ${VMSTAT.map((k) => `${k} ${(after.get(k) ?? 0) - (before.get(k) ?? 0)}`).join("   ")}`,
    `KERNEL memory.current ${cg("memory.current")}   memory.swap.current ${cg("memory.swap.current")}`,
    `KERNEL Active(anon) ${meminfo.get("Active(anon)")} kB   Inactive(anon) ${meminfo.get("Inactive(anon)")} kB`,
    "",
  ];
  return { steps, kernel };
}

/** "name value" and "name: value kB" lines as a map. */
function readCounters(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const mm = /^(\S+?):?\s+(\d+)/.exec(line);
    if (mm) out.set(mm[1]!, Number(mm[2]));
  }
  return out;
}
