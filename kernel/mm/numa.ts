/**
 * NUMA topology (Linux mm/numa.c, drivers/base/node.c, the zonelists of
 * mm/page_alloc.c): which frames and which CPUs belong to which node, the
 * node distance table, and the order in which each node falls back to the
 * others. Built once at boot from the `numa` boot option; a machine booted
 * without it has one node holding every frame and every CPU.
 *
 *   node 0                 node 1                 ...
 *   [startPfn[0], end[0])  [startPfn[1], end[1])       frames, consecutive
 *   CPUs cpusOf(0)         CPUs cpusOf(1)               each CPU on one node
 *
 * Distances follow the ACPI SLIT convention Linux uses: 10 to itself
 * (LOCAL_DISTANCE), 20 to any other node unless the boot option gives a
 * table (REMOTE_DISTANCE). A node's fallback order is every node sorted by
 * distance from it, ties broken by the lower node id (Linux's
 * find_next_best_node also weighs the load of nodes already chosen; memsim
 * leaves that out so the order is fixed at boot).
 */

/** Most nodes a machine may have (node masks are 32-bit integers here; Linux's default MAX_NUMNODES is larger). */
export const MAX_NUMNODES = 8;
/** Distance of a node to itself. */
export const LOCAL_DISTANCE = 10;
/** Distance between two nodes when the boot option gives no table. */
export const REMOTE_DISTANCE = 20;

/** One node as the boot option describes it. */
export interface NumaNodeSpec {
  /** The CPUs of the node (numbers 0..cpus-1, each on exactly one node); may be empty (a memory-only node). */
  readonly cpus: readonly number[];
  /** Bytes of RAM on the node: a multiple of 4096, at least 1 MiB. */
  readonly memBytes: number;
}

/** The resolved `numa` boot option: nodes in pfn order, the distance table. */
export interface NumaSpec {
  readonly nodes: readonly NumaNodeSpec[];
  /** distance[a][b]; Linux's default (10 local, 20 remote) when absent. */
  readonly distance?: readonly (readonly number[])[];
  /**
   * Memory tiering (memory_tiers.ts): the nodes without CPUs are the slow
   * tier, and reclaim on a node with CPUs demotes to the nearest of them.
   */
  readonly tiering?: boolean;
}

/** The machine's nodes, fixed at boot. */
export class NumaTopology {
  readonly nrNodes: number;
  /** First frame of each node. */
  readonly startPfn: Int32Array;
  /** One past the last frame of each node. */
  readonly endPfn: Int32Array;
  /** The node of each CPU. */
  readonly cpuNode: Uint8Array;
  /** distance[a * nrNodes + b]. */
  readonly distance: Uint8Array;
  /** Each node's fallback order: fallback[nid] lists every node, nid first. */
  readonly fallback: readonly Int32Array[];
  /** Whether memory tiering is on (the `tiering` boot option: Linux's demotion_enabled). */
  readonly tiering: boolean;
  /**
   * Each node's demotion target (node_demotion[]): with tiering on, a node
   * with CPUs demotes to the nearest node without CPUs (ties to the lower
   * id); -1 for a node of the slow tier, with tiering off, or when every
   * node has CPUs.
   */
  readonly demotionTarget: Int8Array;

  constructor(spec: NumaSpec, nrCpus: number) {
    const n = spec.nodes.length;
    this.nrNodes = n;
    this.startPfn = new Int32Array(n);
    this.endPfn = new Int32Array(n);
    this.cpuNode = new Uint8Array(nrCpus);
    this.distance = new Uint8Array(n * n);
    let pfn = 0;
    for (let nid = 0; nid < n; nid++) {
      const node = spec.nodes[nid] as NumaNodeSpec;
      this.startPfn[nid] = pfn;
      pfn += node.memBytes / 4096;
      this.endPfn[nid] = pfn;
      for (const cpu of node.cpus) this.cpuNode[cpu] = nid;
      for (let b = 0; b < n; b++) this.distance[nid * n + b] = spec.distance?.[nid]?.[b] ?? (nid === b ? LOCAL_DISTANCE : REMOTE_DISTANCE);
    }
    const fallback: Int32Array[] = [];
    for (let nid = 0; nid < n; nid++) {
      const order = Array.from({ length: n }, (_, b) => b);
      order.sort((a, b) => this.dist(nid, a) - this.dist(nid, b) || a - b);
      fallback.push(Int32Array.from(order));
    }
    this.fallback = fallback;
    this.tiering = spec.tiering === true;
    this.demotionTarget = new Int8Array(n).fill(-1);
    if (this.tiering) for (let nid = 0; nid < n; nid++) this.demotionTarget[nid] = this.nearestSlow(nid);
  }

  /** Whether node nid has no CPUs (the slow tier when tiering is on). */
  memoryOnly(nid: number): boolean {
    for (let c = 0; c < this.cpuNode.length; c++) if (this.cpuNode[c] === nid) return false;
    return true;
  }

  /** The first node without CPUs in nid's fallback order, or -1 (also for a node without CPUs itself). */
  private nearestSlow(nid: number): number {
    if (this.memoryOnly(nid)) return -1;
    for (const b of this.fallback[nid] as Int32Array) if (this.memoryOnly(b)) return b;
    return -1;
  }

  /** node_distance(a, b). */
  dist(a: number, b: number): number {
    return this.distance[a * this.nrNodes + b] as number;
  }

  /** The node holding frame pfn (pfn_to_nid). */
  nodeOf(pfn: number): number {
    let nid = 0;
    while (nid + 1 < this.nrNodes && pfn >= (this.endPfn[nid] as number)) nid++;
    return nid;
  }

  /** The CPUs of node nid, lowest first (cpumask_of_node). */
  cpusOf(nid: number): number[] {
    const out: number[] = [];
    for (let c = 0; c < this.cpuNode.length; c++) if (this.cpuNode[c] === nid) out.push(c);
    return out;
  }

  /** Pages of node nid. */
  nodePages(nid: number): number {
    return (this.endPfn[nid] as number) - (this.startPfn[nid] as number);
  }
}

/**
 * The `remote` kind of the cost clock (kernel/clock.ts): each TLB fill
 * whose walk ends at a frame of another node than the running CPU's adds
 * distance - 10 units (a local fill adds none). Only machines with more
 * than one node make one.
 */
export class RemoteCost {
  /** Distance units charged so far. */
  units = 0;
  /** Remote fills so far. */
  fills = 0;

  constructor(
    private readonly numa: NumaTopology,
    private readonly cpu: () => number,
  ) {}

  fill(pa: number): void {
    const d = this.numa.dist(this.numa.cpuNode[this.cpu()] as number, this.numa.nodeOf(Math.floor(pa / 4096))) - LOCAL_DISTANCE;
    if (d === 0) return;
    this.units += d;
    this.fills++;
  }
}

/** The one-node topology of a machine booted without the `numa` option. */
export function flatNuma(ramBytes: number, nrCpus: number): NumaSpec {
  return { nodes: [{ cpus: Array.from({ length: nrCpus }, (_, c) => c), memBytes: ramBytes }] };
}

/**
 * `numaNodes: n`: RAM cut into n equal nodes (the last takes what the
 * division leaves, in whole pages) and the CPUs dealt out in blocks, as
 * `numa=fake=N` lays them out: CPU c on node floor(c * n / cpus); with
 * fewer CPUs than nodes the upper nodes have none.
 */
export function evenNuma(ramBytes: number, nrCpus: number, nrNodes: number): NumaSpec {
  const pages = ramBytes / 4096;
  const per = Math.floor(pages / nrNodes);
  const nodes: NumaNodeSpec[] = [];
  for (let nid = 0; nid < nrNodes; nid++) {
    const nodePages = nid === nrNodes - 1 ? pages - per * (nrNodes - 1) : per;
    const cpus: number[] = [];
    for (let c = 0; c < nrCpus; c++) if (Math.floor((c * nrNodes) / nrCpus) === nid) cpus.push(c);
    nodes.push({ cpus, memBytes: nodePages * 4096 });
  }
  return { nodes };
}
