/**
 * Memory policies against a model: random mbind, set_mempolicy,
 * get_mempolicy, writes, munmap and mmap on a three-node machine (CPU 0 on
 * node 0, CPU 1 on node 1, node 2 memory only). The model keeps each page's
 * VMA policy, the task policy, and the node and value of each written page;
 * every syscall's result (errno included) is the model's, every first write
 * lands on the node the effective policy names, and after every step every
 * written page reads back its value on its node and the checkers pass (the
 * buddy allocator's per-node recount, BUDDY-10, and the mm's policy
 * recount, MM-9).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  EFAULT,
  EINVAL,
  EIO,
  EPERM,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  Machine,
  MPOL_BIND,
  MPOL_DEFAULT,
  MPOL_F_ADDR,
  MPOL_F_NODE,
  MPOL_INTERLEAVE,
  MPOL_LOCAL,
  MPOL_MF_MOVE_ALL,
  MPOL_MF_STRICT,
  MPOL_PREFERRED,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "../../sim/index.ts";

const PAGE = 4096;
const BASE = 0x100000000;
const PAGES = 8;
const SCRATCH = 0x200000000;
const MiB = 1 << 20;

type Cmd =
  | { kind: "mbind"; page: number; n: number; mode: number; mask: number; flags: number }
  | { kind: "set"; mode: number; mask: number }
  | { kind: "get"; page: number }
  | { kind: "write"; page: number; value: number }
  | { kind: "munmap"; page: number }
  | { kind: "mmap"; page: number };

/** Modes 0..6 (5 and 6 refused), weighted towards the three that place pages. */
const mode = fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom(MPOL_PREFERRED, MPOL_BIND, MPOL_INTERLEAVE));
/** Bits 0..3: node 3 does not exist (masked off, as a node without memory). */
const maskArb = fc.oneof(fc.nat(15), fc.constantFrom(0b011, 0b110, 0b111));
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({
    kind: fc.constant("mbind" as const),
    page: fc.nat(PAGES - 1),
    n: fc.nat(4),
    mode,
    mask: maskArb,
    flags: fc.constantFrom(0, 0, MPOL_MF_STRICT, MPOL_MF_MOVE_ALL, 8),
  }),
  fc.record({
    kind: fc.constant("mbind" as const),
    page: fc.constant(0),
    n: fc.constant(PAGES),
    mode,
    mask: maskArb,
    flags: fc.constant(0),
  }),
  fc.record({ kind: fc.constant("set" as const), mode, mask: maskArb }),
  fc.record({ kind: fc.constant("get" as const), page: fc.nat(PAGES - 1) }),
  fc.record({ kind: fc.constant("write" as const), page: fc.nat(PAGES - 1), value: fc.integer({ min: 1, max: 0x7fffffff }) }),
  fc.record({ kind: fc.constant("write" as const), page: fc.nat(PAGES - 1), value: fc.integer({ min: 1, max: 0x7fffffff }) }),
  fc.record({ kind: fc.constant("munmap" as const), page: fc.nat(PAGES - 1) }),
  fc.record({ kind: fc.constant("mmap" as const), page: fc.nat(PAGES - 1) }),
);

/** The model of one process: per page its VMA policy [mode, mask] (null: none), mapped, node (-1: not present), value. */
interface Model {
  task: [number, number] | null;
  pol: Array<[number, number] | null>;
  mapped: boolean[];
  node: number[];
  value: number[];
}

const lowest = (mask: number) => 31 - Math.clz32(mask & -mask);

/** mpol_new in the model: the policy for (mode, user mask), null for default, or -errno. */
function policyOf(mode: number, userMask: number): [number, number] | null | number {
  if (mode > MPOL_LOCAL) return -EINVAL;
  const mask = userMask & 0b111;
  if (mode === MPOL_DEFAULT) return userMask !== 0 ? -EINVAL : null;
  if (mode === MPOL_LOCAL) return userMask !== 0 ? -EINVAL : [MPOL_LOCAL, 0];
  if (mode === MPOL_PREFERRED) {
    if (userMask === 0) return [MPOL_LOCAL, 0];
    return mask === 0 ? -EINVAL : [MPOL_PREFERRED, 1 << lowest(mask)];
  }
  return mask === 0 ? -EINVAL : [mode, mask];
}

/** The node the effective policy gives page i written from CPU 0 (node 0); distances are all 20, ties to the lower node. */
function placeOf(pol: [number, number] | null, i: number): number {
  if (pol === null) return 0;
  const [m, mask] = pol;
  if (m === MPOL_PREFERRED) return lowest(mask);
  if (m === MPOL_BIND) return mask & 1 ? 0 : lowest(mask);
  if (m === MPOL_INTERLEAVE) {
    const nodes = [0, 1, 2].filter((n) => (mask >> n) & 1);
    // ilx = vm_pgoff + index = BASE / 4096 + i (VMAs cut from the first mapping keep their pgoff).
    return nodes[(BASE / PAGE + i) % nodes.length] as number;
  }
  return 0;
}

function expectMbind(s: Model, c: Extract<Cmd, { kind: "mbind" }>): number {
  const pol = policyOf(c.mode, c.mask);
  if (c.mode > MPOL_LOCAL) return -EINVAL;
  if (c.flags === 8) return -EINVAL;
  if (c.flags === MPOL_MF_MOVE_ALL) return -EPERM;
  if (c.n === 0) return 0;
  if (typeof pol === "number") return pol;
  const end = Math.min(PAGES, c.page + c.n);
  for (let i = c.page; i < c.page + c.n; i++) if (i >= PAGES || !s.mapped[i]) return -EFAULT;
  for (let i = c.page; i < end; i++) s.pol[i] = pol;
  if (c.flags === MPOL_MF_STRICT && pol !== null && pol[0] !== MPOL_LOCAL)
    for (let i = c.page; i < end; i++) if ((s.node[i] as number) >= 0 && ((pol[1] >> (s.node[i] as number)) & 1) === 0) return -EIO;
  return 0;
}

function step(m: Machine, p: Process, s: Model, c: Cmd): void {
  const sys = p.sys;
  const va = BASE + ("page" in c ? c.page : 0) * PAGE;
  switch (c.kind) {
    case "mbind": {
      p.mem.write32(SCRATCH, c.mask);
      const want = expectMbind(s, c);
      expect(sys.mbind?.(va, c.n * PAGE, c.mode, SCRATCH, 8, c.flags)).toBe(want);
      break;
    }
    case "set": {
      p.mem.write32(SCRATCH, c.mask);
      const pol = policyOf(c.mode, c.mask);
      expect(sys.setMempolicy?.(c.mode, SCRATCH, 8)).toBe(typeof pol === "number" ? pol : 0);
      if (typeof pol !== "number") s.task = pol;
      break;
    }
    case "get": {
      const r = sys.getMempolicy?.(SCRATCH + 8, SCRATCH + 16, 64, va, MPOL_F_ADDR);
      if (!s.mapped[c.page]) {
        expect(r).toBe(-EFAULT);
        break;
      }
      const eff = s.pol[c.page] ?? s.task;
      expect(r).toBe(0);
      expect([p.mem.read32(SCRATCH + 8), p.mem.read32(SCRATCH + 16)]).toEqual(eff ?? [0, 0]);
      break;
    }
    case "write":
      if (!s.mapped[c.page]) break;
      p.mem.write32(va, c.value);
      if (s.node[c.page] === -1) {
        const pol = s.pol[c.page] ?? s.task;
        s.node[c.page] = placeOf(pol, c.page);
        if (pol !== null && pol[0] !== MPOL_LOCAL) placed[pol[0]] = (placed[pol[0]] as number) + 1;
        if (pol !== null && pol[0] === MPOL_INTERLEAVE && (pol[1] & 7) === 7) interleave3++;
      }
      s.value[c.page] = c.value;
      break;
    case "munmap":
      expect(sys.munmap(va, PAGE)).toBe(0);
      s.mapped[c.page] = false;
      s.pol[c.page] = null;
      s.node[c.page] = -1;
      break;
    case "mmap":
      if (s.mapped[c.page]) break;
      expect(sys.mmap(va, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(va);
      s.mapped[c.page] = true;
      s.value[c.page] = 0;
      break;
  }
  for (let i = 0; i < PAGES; i++) {
    if (s.node[i] === -1) continue;
    expect(p.sys.getMempolicy?.(SCRATCH + 24, 0, 0, BASE + i * PAGE, MPOL_F_NODE | MPOL_F_ADDR)).toBe(0);
    expect([i, p.mem.read32(SCRATCH + 24), p.mem.read32(BASE + i * PAGE)]).toEqual([i, s.node[i], s.value[i]]);
  }
  m.check();
}

function run(cmds: Cmd[]): void {
  const nodes = [
    { cpus: [0], memBytes: 8 * MiB },
    { cpus: [1], memBytes: 8 * MiB },
    { cpus: [], memBytes: 8 * MiB },
  ];
  const m = Machine.boot({ numa: { nodes }, seed: 3 });
  const p = m.spawn("p");
  const rw = PROT_READ | PROT_WRITE;
  expect(p.sys.mmap(BASE, PAGES * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
  expect(p.sys.mmap(SCRATCH, PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(SCRATCH);
  const s: Model = {
    task: null,
    pol: new Array(PAGES).fill(null),
    mapped: new Array(PAGES).fill(true),
    node: new Array(PAGES).fill(-1),
    value: new Array(PAGES).fill(0),
  };
  for (const c of cmds) step(m, p, s, c);
}

/** Every story starts here: three pages interleaved over all three nodes (where ilx's pgoff part decides the node), one preferred, one bound. */
const START: Cmd[] = [
  { kind: "mbind", page: 0, n: 3, mode: MPOL_INTERLEAVE, mask: 0b111, flags: 0 },
  { kind: "write", page: 0, value: 1 },
  { kind: "write", page: 1, value: 2 },
  { kind: "write", page: 2, value: 3 },
  { kind: "mbind", page: 3, n: 1, mode: MPOL_PREFERRED, mask: 0b100, flags: 0 },
  { kind: "mbind", page: 4, n: 1, mode: MPOL_BIND, mask: 0b110, flags: 0 },
  { kind: "write", page: 3, value: 4 },
  { kind: "write", page: 4, value: 5 },
];

/** First writes placed under each mode over all runs (preferred, bind, interleave): the property must have placed pages by every policy. */
const placed = [0, 0, 0, 0];
/** First writes placed by an interleave over all three nodes: the only ones where ilx's pgoff part changes the node. */
let interleave3 = 0;

describe("memory policies against a model", () => {
  it("every syscall result, every page's node and value, and the checkers after every step", () => {
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 25 }), (cmds) => run([...START, ...cmds])),
      { numRuns: 20 },
    );
    expect({ placed, interleave3: interleave3 > 0 }).toEqual({
      placed: placed.map((n, i) => (i === 0 || n > 0 ? n : -1)),
      interleave3: true,
    });
  });
});
