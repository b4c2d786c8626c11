/**
 * The `numaNodes` and `numa` boot options (kernel/mm/numa.ts): checked, and
 * turned into the node list the kernel boots with. Bad input is a
 * ConfigError naming the field, never a broken machine.
 */
import { evenNuma, MAX_NUMNODES, type NumaNodeSpec, type NumaSpec } from "../kernel/mm/numa.ts";
import { MAX_RAM_BYTES } from "../kernel/mm/physmem.ts";
import { MAX_CPUS } from "../kernel/smp.ts";
import { ConfigError } from "./config.ts";

/** The `numa` boot option's full form. */
export interface NumaOptions {
  /** The nodes in physical order: node 0 holds the lowest frames (and the kernel). */
  nodes: Array<{ cpus: number[]; memBytes: number }>;
  /** distance[a][b]: 10 on the diagonal, 11..254 elsewhere. Default: 10 local, 20 remote. */
  distance?: number[][];
  /** Memory tiering: reclaim on a node with CPUs demotes cold pages to the nearest node without CPUs (default false). */
  tiering?: boolean;
}

/** What resolveNuma settles: RAM, CPUs and the node list (null: one node, the machine as before). */
export interface ResolvedNuma {
  ramBytes: number;
  cpus: number;
  numa: NumaSpec | null;
}

const MIN_NODE_BYTES = 1 << 20;

/**
 * `numaNodes: n` cuts `ramBytes` into n nodes (kernel/mm/numa.ts evenNuma);
 * `numa: { nodes, distance }` gives them one by one, and then RAM and CPUs
 * are the sums of the nodes' (ramBytes and cpus, when given, must agree).
 * Throws ConfigError naming the bad field.
 */
export function resolveNuma(
  numaNodes: unknown,
  numa: unknown,
  ramBytes: number,
  cpus: number,
  given: { ram: boolean; cpus: boolean },
): ResolvedNuma {
  if (numaNodes !== undefined && numa !== undefined) throw new ConfigError("Machine.boot: give numaNodes or numa, not both");
  if (numa !== undefined) return resolveFull(numa, ramBytes, cpus, given);
  if (numaNodes === undefined || numaNodes === 1) return { ramBytes, cpus, numa: null };
  if (typeof numaNodes !== "number" || !Number.isInteger(numaNodes) || numaNodes < 1 || numaNodes > MAX_NUMNODES)
    throw new ConfigError(`Machine.boot: numaNodes must be an integer from 1 to ${MAX_NUMNODES}, got ${String(numaNodes)}`);
  if (ramBytes / numaNodes < MIN_NODE_BYTES)
    throw new ConfigError(`Machine.boot: numaNodes ${numaNodes} leaves less than 1 MiB per node of ${ramBytes} bytes of RAM`);
  return { ramBytes, cpus, numa: evenNuma(ramBytes, cpus, numaNodes) };
}

function resolveFull(numa: unknown, ramBytes: number, cpus: number, given: { ram: boolean; cpus: boolean }): ResolvedNuma {
  if (typeof numa !== "object" || numa === null)
    throw new ConfigError(`Machine.boot: numa must be { nodes, distance?, tiering? }, got ${String(numa)}`);
  const o = numa as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (k !== "nodes" && k !== "distance" && k !== "tiering") throw new ConfigError(`Machine.boot: unknown option 'numa.${k}'`);
  const raw = o.nodes;
  if (!Array.isArray(raw) || raw.length < 1 || raw.length > MAX_NUMNODES)
    throw new ConfigError(`Machine.boot: numa.nodes must be an array of 1 to ${MAX_NUMNODES} nodes, got ${String(raw)}`);
  const nodes = raw.map((n, nid) => resolveNode(n, nid));
  const total = nodes.reduce((s, n) => s + n.memBytes, 0);
  if (given.ram && total !== ramBytes)
    throw new ConfigError(`Machine.boot: numa.nodes hold ${total} bytes of RAM, but ramBytes is ${ramBytes}`);
  const nrCpus = nodes.reduce((s, n) => s + n.cpus.length, 0);
  if (given.cpus && nrCpus !== cpus) throw new ConfigError(`Machine.boot: numa.nodes name ${nrCpus} CPUs, but cpus is ${cpus}`);
  const seen = new Set<number>();
  for (const [nid, n] of nodes.entries())
    for (const c of n.cpus) {
      if (c >= nrCpus || seen.has(c))
        throw new ConfigError(`Machine.boot: numa.nodes[${nid}].cpus: CPU ${c} is out of 0..${nrCpus - 1} or on two nodes`);
      seen.add(c);
    }
  if (nrCpus < 1 || nrCpus > MAX_CPUS)
    throw new ConfigError(`Machine.boot: numa.nodes name ${nrCpus} CPUs; a machine has 1 to ${MAX_CPUS}`);
  if (total > MAX_RAM_BYTES) throw new ConfigError(`Machine.boot: numa.nodes hold ${total} bytes of RAM, more than 4 GiB`);
  const distance = o.distance === undefined ? undefined : resolveDistance(o.distance, nodes.length);
  const tiering = resolveTiering(o.tiering, nodes);
  const spec: NumaSpec = distance === undefined ? { nodes } : { nodes, distance };
  return { ramBytes: total, cpus: nrCpus, numa: tiering ? { ...spec, tiering } : spec };
}

/** `numa.tiering`: a boolean; true needs a node with CPUs and one without (a slow tier to demote to). */
function resolveTiering(t: unknown, nodes: readonly NumaNodeSpec[]): boolean {
  if (t === undefined || t === false) return false;
  if (t !== true) throw new ConfigError(`Machine.boot: numa.tiering must be true or false, got ${String(t)}`);
  if (!nodes.some((n) => n.cpus.length === 0) || !nodes.some((n) => n.cpus.length > 0))
    throw new ConfigError("Machine.boot: numa.tiering needs a node with CPUs and a node without (the slow tier)");
  return true;
}

function resolveNode(n: unknown, nid: number): NumaNodeSpec {
  if (typeof n !== "object" || n === null) throw new ConfigError(`Machine.boot: numa.nodes[${nid}] must be { cpus, memBytes }`);
  const r = n as Record<string, unknown>;
  for (const k of Object.keys(r))
    if (k !== "cpus" && k !== "memBytes") throw new ConfigError(`Machine.boot: unknown option 'numa.nodes[${nid}].${k}'`);
  const mem = r.memBytes;
  if (typeof mem !== "number" || !Number.isInteger(mem) || mem < MIN_NODE_BYTES || mem % 4096 !== 0)
    throw new ConfigError(`Machine.boot: numa.nodes[${nid}].memBytes must be a multiple of 4096, at least 1 MiB, got ${String(mem)}`);
  const cpus = r.cpus ?? [];
  if (!Array.isArray(cpus) || !cpus.every((c) => Number.isInteger(c) && c >= 0))
    throw new ConfigError(`Machine.boot: numa.nodes[${nid}].cpus must be an array of CPU numbers, got ${String(cpus)}`);
  return { cpus: cpus as number[], memBytes: mem };
}

function resolveDistance(d: unknown, n: number): number[][] {
  const bad = () =>
    new ConfigError(`Machine.boot: numa.distance must be ${n} rows of ${n} integers, 10 on the diagonal and 11 to 254 elsewhere`);
  if (!Array.isArray(d) || d.length !== n) throw bad();
  return d.map((row, a) => {
    if (!Array.isArray(row) || row.length !== n) throw bad();
    return row.map((v, b) => {
      const ok = Number.isInteger(v) && (a === b ? v === 10 : v > 10 && v < 255);
      if (!ok) throw bad();
      return v as number;
    });
  });
}
