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
  MPOL_F_MEMS_ALLOWED,
  MPOL_F_NODE,
  MPOL_F_STATIC_NODES,
  MPOL_INTERLEAVE,
  MPOL_LOCAL,
  MPOL_MF_MOVE,
  MPOL_MF_MOVE_ALL,
  MPOL_MF_STRICT,
  MPOL_PREFERRED,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "../../../sim/index.ts";

const MiB = 1 << 20;
const PAGE = 4096;
/** The data mapping: pgoff = BASE / 4096 = 0x10000, even, so interleave puts page i on node i % 2. */
const BASE = 0x10000000;
/** A page of scratch words for node masks and results, away from the data. */
const SCRATCH = 0x20000000;

function setup(pages: number): { m: Machine; p: Process } {
  // 64 MiB in two nodes: node 0 frames [0, 8192), node 1 [8192, 16384); CPU 0 on node 0, CPU 1 on node 1.
  const m = Machine.boot({ ramBytes: 64 * MiB, numaNodes: 2, cpus: 2 });
  const p = m.spawn("t");
  const rw = PROT_READ | PROT_WRITE;
  expect(p.sys.mmap(BASE, pages * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
  expect(p.sys.mmap(SCRATCH, PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(SCRATCH);
  return { m, p };
}

/** Writes node mask `mask` at SCRATCH and returns its address. */
function mask(p: Process, bits: number): number {
  p.mem.write32(SCRATCH, bits);
  p.mem.write32(SCRATCH + 4, 0);
  return SCRATCH;
}

/** The node of the frame behind user page va (through get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR)). */
function nodeAt(p: Process, va: number): number {
  expect(p.sys.getMempolicy?.(SCRATCH + 64, 0, 0, va, MPOL_F_NODE | MPOL_F_ADDR)).toBe(0);
  return p.mem.read32(SCRATCH + 64);
}

function touch(p: Process, pages: number): void {
  for (let i = 0; i < pages; i++) p.mem.write32(BASE + i * PAGE, i + 1);
}

describe("memory policies place demand-faulted pages", () => {
  it("interleave 0-1 by mbind: page i of the VMA on node (pgoff + i) % 2, and numa_maps says so", () => {
    const { m, p } = setup(4);
    expect(p.sys.mbind?.(BASE, 4 * PAGE, MPOL_INTERLEAVE, mask(p, 0b11), 8, 0)).toBe(0);
    touch(p, 4);
    expect([0, 1, 2, 3].map((i) => nodeAt(p, BASE + i * PAGE))).toEqual([0, 1, 0, 1]);
    // Four written anonymous pages, two per node, none on an active list yet (new anon pages start inactive).
    expect(p.proc.numaMaps().split("\n")[0]).toBe("10000000 interleave:0-1 anon=4 dirty=4 active=0 N0=2 N1=2 kernelpagesize_kB=4");
    // Node 1's two pages: interleave chose node 1 (interleave_hit), asked from CPU 0 (other_node), preferred node 1 (hit).
    expect(m.proc.numastat(1)).toBe("numa_hit 2\nnuma_miss 0\nnuma_foreign 0\ninterleave_hit 2\nlocal_node 0\nother_node 2\n");
    for (let i = 0; i < 4; i++) expect(p.mem.read32(BASE + i * PAGE)).toBe(i + 1);
    m.check();
  });

  it("preferred 1 and bind 1 from CPU 0 both take node 1; default stays on node 0", () => {
    const { m, p } = setup(3);
    expect(p.sys.mbind?.(BASE, PAGE, MPOL_PREFERRED, mask(p, 0b10), 8, 0)).toBe(0);
    expect(p.sys.mbind?.(BASE + PAGE, PAGE, MPOL_BIND, mask(p, 0b10), 8, 0)).toBe(0);
    touch(p, 3);
    expect([0, 1, 2].map((i) => nodeAt(p, BASE + i * PAGE))).toEqual([1, 1, 0]);
    // Three VMAs now, each with its policy; the scratch VMA and stack keep the task's (default).
    expect(p.proc.numaMaps().split("\n").slice(0, 3)).toEqual([
      "10000000 prefer:1 anon=1 dirty=1 active=0 N1=1 kernelpagesize_kB=4",
      "10001000 bind:1 anon=1 dirty=1 active=0 N1=1 kernelpagesize_kB=4",
      "10002000 default anon=1 dirty=1 active=0 N0=1 kernelpagesize_kB=4",
    ]);
    // bind's page wanted the local node 0 and got node 1 (a miss there, foreign on node 0, as Linux counts);
    // preferred's wanted node 1 and got it (a hit). Both asked from CPU 0: other_node 2.
    expect(m.proc.numastat(1)).toBe("numa_hit 1\nnuma_miss 1\nnuma_foreign 0\ninterleave_hit 0\nlocal_node 0\nother_node 2\n");
    m.check();
  });

  it("set_mempolicy(bind 1) is the task's: every new VMA's pages on node 1, fork keeps it, get_mempolicy reads it back", () => {
    const { m, p } = setup(2);
    expect(p.sys.setMempolicy?.(MPOL_BIND, mask(p, 0b10), 8)).toBe(0);
    touch(p, 2);
    expect([nodeAt(p, BASE), nodeAt(p, BASE + PAGE)]).toEqual([1, 1]);
    expect(p.sys.getMempolicy?.(SCRATCH + 16, SCRATCH + 24, 64, 0, 0)).toBe(0);
    expect([p.mem.read32(SCRATCH + 16), p.mem.read32(SCRATCH + 24), p.mem.read32(SCRATCH + 28)]).toEqual([MPOL_BIND, 0b10, 0]);
    expect(p.proc.numaMaps().split("\n")[0]).toBe("10000000 bind:1 anon=2 dirty=2 active=0 N1=2 kernelpagesize_kB=4");
    const c = p.fork() as Process;
    c.mem.write32(BASE, 9);
    // The child's copy-on-write copy follows the inherited task policy.
    expect(nodeAt(c, BASE)).toBe(1);
    m.check();
  });

  it("mbind on the middle page splits the VMA in three; MPOL_DEFAULT there merges it back", () => {
    const { m, p } = setup(3);
    touch(p, 3);
    expect(p.sys.mbind?.(BASE + PAGE, PAGE, MPOL_INTERLEAVE, mask(p, 0b11), 8, 0)).toBe(0);
    expect(
      p.proc
        .maps()
        .split("\n")
        .slice(0, 3)
        .map((l) => l.slice(0, 17)),
    ).toEqual(["10000000-10001000", "10001000-10002000", "10002000-10003000"]);
    expect(p.sys.getMempolicy?.(SCRATCH + 16, 0, 0, BASE + PAGE, MPOL_F_ADDR)).toBe(0);
    expect(p.mem.read32(SCRATCH + 16)).toBe(MPOL_INTERLEAVE);
    expect(p.sys.mbind?.(BASE + PAGE, PAGE, MPOL_DEFAULT, 0, 0, 0)).toBe(0);
    expect(p.proc.maps().split("\n")[0]?.slice(0, 17)).toBe("10000000-10003000");
    m.check();
  });

  it("MPOL_MF_STRICT: pages already on node 0 refuse bind 1 with EIO (the policy is set all the same)", () => {
    const { m, p } = setup(1);
    touch(p, 1);
    expect(p.sys.mbind?.(BASE, PAGE, MPOL_BIND, mask(p, 0b10), 8, MPOL_MF_STRICT)).toBe(-EIO);
    expect(p.sys.mbind?.(BASE, PAGE, MPOL_BIND, mask(p, 0b01), 8, MPOL_MF_STRICT)).toBe(0);
    m.check();
  });

  it("MPOL_MF_MOVE moves pages this process alone maps to the new policy's node; a page fork shares stays (EIO with STRICT)", () => {
    const { m, p } = setup(2);
    touch(p, 2);
    expect([nodeAt(p, BASE), nodeAt(p, BASE + PAGE)]).toEqual([0, 0]);
    expect(p.sys.mbind?.(BASE, PAGE, MPOL_BIND, mask(p, 0b10), 8, MPOL_MF_MOVE)).toBe(0);
    // Page 0 moved to node 1 with its value; page 1 (outside the range) stayed.
    expect([nodeAt(p, BASE), nodeAt(p, BASE + PAGE)]).toEqual([1, 0]);
    expect([p.mem.read32(BASE), p.mem.read32(BASE + PAGE)]).toEqual([1, 2]);
    expect(m.proc.vmstat()).toContain("pgmigrate_success 1\n");
    // After fork page 1 is mapped twice: MOVE leaves it, STRICT turns that into EIO.
    p.fork();
    expect(p.sys.mbind?.(BASE + PAGE, PAGE, MPOL_BIND, mask(p, 0b10), 8, MPOL_MF_MOVE | MPOL_MF_STRICT)).toBe(-EIO);
    expect(nodeAt(p, BASE + PAGE)).toBe(0);
    m.check();
  });

  it("preferred with an empty mask is local: get_mempolicy gives MPOL_LOCAL and numa_maps 'local'", () => {
    const { p } = setup(1);
    expect(p.sys.setMempolicy?.(MPOL_PREFERRED, 0, 0)).toBe(0);
    expect(p.sys.getMempolicy?.(SCRATCH + 16, 0, 0, 0, 0)).toBe(0);
    expect(p.mem.read32(SCRATCH + 16)).toBe(MPOL_LOCAL);
    expect(p.proc.numaMaps().split("\n")[0]).toBe("10000000 local");
  });

  it("MPOL_F_MEMS_ALLOWED gives every node; MPOL_F_NODE alone gives the task interleave's next node", () => {
    const { p } = setup(1);
    expect(p.sys.getMempolicy?.(SCRATCH + 16, SCRATCH + 24, 8, 0, MPOL_F_MEMS_ALLOWED)).toBe(0);
    expect([p.mem.read32(SCRATCH + 16), p.mem.read32(SCRATCH + 24)]).toEqual([MPOL_DEFAULT, 0b11]);
    expect(p.sys.setMempolicy?.(MPOL_INTERLEAVE, mask(p, 0b10), 8)).toBe(0);
    expect(p.sys.getMempolicy?.(SCRATCH + 16, 0, 0, 0, MPOL_F_NODE)).toBe(0);
    expect(p.mem.read32(SCRATCH + 16)).toBe(1);
  });
});

describe("the remote kind of the cost clock", () => {
  const remote = (m: Machine) => m.clock.breakdown().find((r) => r.kind === "remote")?.count ?? -1;

  it("a first write to a page placed on node 1 from CPU 0 costs one remote fill: 20 - 10 = 10 units; the TLB hit after it none", () => {
    const { m, p } = setup(2);
    expect(p.sys.mbind?.(BASE, PAGE, MPOL_PREFERRED, mask(p, 0b10), 8, 0)).toBe(0);
    const before = remote(m);
    // The write misses the TLB, the walk finds no entry, the fault maps a node-1 frame, the retried walk ends there.
    p.mem.write32(BASE, 7);
    expect(remote(m) - before).toBe(10);
    p.mem.write32(BASE + 4, 8);
    expect(remote(m) - before).toBe(10);
    // The local page (default policy, node 0) adds nothing.
    p.mem.write32(BASE + PAGE, 9);
    expect(remote(m) - before).toBe(10);
    expect(m.clock.breakdown().find((r) => r.kind === "remote")?.costNs).toBe(10);
  });

  it("one node lists no remote kind", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    expect(m.clock.breakdown().map((r) => r.kind)).not.toContain("remote");
  });
});

describe("memory policy errnos", () => {
  it("set_mempolicy", () => {
    const { p } = setup(1);
    const m1 = mask(p, 0b01);
    expect(p.sys.setMempolicy?.(7, 0, 0)).toBe(-EINVAL); // no such mode
    expect(p.sys.setMempolicy?.(MPOL_BIND | MPOL_F_STATIC_NODES, m1, 8)).toBe(-EINVAL); // mode flags: refused by memsim
    expect(p.sys.setMempolicy?.(MPOL_BIND, 0, 0)).toBe(-EINVAL); // bind with no nodes
    expect(p.sys.setMempolicy?.(MPOL_DEFAULT, m1, 8)).toBe(-EINVAL); // default names no nodes
    expect(p.sys.setMempolicy?.(MPOL_BIND, 0x5000, 8)).toBe(-EFAULT); // mask unmapped
    expect(p.sys.setMempolicy?.(MPOL_BIND, m1, 4096 * 8 + 1)).toBe(-EINVAL); // maxnode past a page of bits
    expect(p.sys.setMempolicy?.(MPOL_BIND, mask(p, 1 << 9), 16)).toBe(-EINVAL); // node 9 > MAX_NUMNODES
    expect(p.sys.setMempolicy?.(MPOL_BIND, mask(p, 0b100), 8)).toBe(-EINVAL); // node 2 has no memory: empty
    // maxnode 2 reads bits 0..1 only: node 2 in the word is ignored.
    expect(p.sys.setMempolicy?.(MPOL_BIND, mask(p, 0b101), 2)).toBe(0);
  });

  it("mbind", () => {
    const { p } = setup(2);
    const m1 = mask(p, 0b01);
    expect(p.sys.mbind?.(BASE + 1, PAGE, MPOL_BIND, m1, 8, 0)).toBe(-EINVAL); // start not aligned
    expect(p.sys.mbind?.(BASE, PAGE, MPOL_BIND, m1, 8, 8)).toBe(-EINVAL); // unknown flag
    expect(p.sys.mbind?.(BASE, PAGE, MPOL_BIND, m1, 8, MPOL_MF_MOVE_ALL)).toBe(-EPERM); // no CAP_SYS_NICE
    expect(p.sys.mbind?.(BASE, 3 * PAGE, MPOL_BIND, m1, 8, 0)).toBe(-EFAULT); // third page is a hole
    expect(p.sys.mbind?.(0x5000, PAGE, MPOL_BIND, m1, 8, 0)).toBe(-EFAULT); // unmapped
    expect(p.sys.mbind?.(BASE, 0, MPOL_BIND, m1, 8, 0)).toBe(0); // empty range
    expect(p.sys.mbind?.(BASE, PAGE, MPOL_INTERLEAVE, 0, 0, 0)).toBe(-EINVAL); // interleave with no nodes
    // The refused calls changed nothing: still one VMA.
    expect(p.proc.maps().split("\n")[0]?.slice(0, 17)).toBe("10000000-10002000");
  });

  it("get_mempolicy", () => {
    const { p } = setup(1);
    const out = SCRATCH + 16;
    expect(p.sys.getMempolicy?.(out, 0, 0, 0, 8)).toBe(-EINVAL); // unknown flag
    expect(p.sys.getMempolicy?.(out, 0, 0, BASE, MPOL_F_MEMS_ALLOWED | MPOL_F_ADDR)).toBe(-EINVAL);
    expect(p.sys.getMempolicy?.(out, 0, 0, BASE, 0)).toBe(-EINVAL); // addr without MPOL_F_ADDR
    expect(p.sys.getMempolicy?.(out, 0, 0, 0x5000, MPOL_F_ADDR)).toBe(-EFAULT); // addr in no VMA
    expect(p.sys.getMempolicy?.(out, 0, 0, 0, MPOL_F_NODE)).toBe(-EINVAL); // the task policy is not interleave
    expect(p.sys.getMempolicy?.(out, SCRATCH + 24, 1, 0, 0)).toBe(-EINVAL); // maxnode 1 < 2 nodes
    expect(p.sys.getMempolicy?.(0x5000, 0, 0, 0, 0)).toBe(-EFAULT); // mode pointer unmapped
  });

  it("the libc wrappers give -1 and errno", () => {
    const { p } = setup(1);
    expect(p.libc.mbind(BASE + 1, PAGE, MPOL_BIND, 0, 0, 0)).toBe(-1);
    expect(p.libc.errno).toBe(EINVAL);
    expect(p.libc.setMempolicy(MPOL_PREFERRED, mask(p, 0b10), 8)).toBe(0);
  });
});
