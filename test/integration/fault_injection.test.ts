import { describe, expect, it } from "vitest";
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  type Machine,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
  type Process,
  ProcessKilled,
} from "../../sim/index.ts";
import { bootMachine } from "../support/boot.ts";

const PAGE = 4096;
const BASE = 0x100000000;
const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS;

/** A story across fork, COW, mmap, mprotect splits, mremap and faults. Returns what it saw. */
function story(m: Machine): string[] {
  const seen: string[] = [];
  let p: Process;
  try {
    p = m.spawn("story");
  } catch (e) {
    expect((e as Error).message).toMatch(/^spawn.*out of memory/);
    return ["spawn=ENOMEM"];
  }
  const step = (what: string, r: number) => seen.push(`${what}=${r < 0 ? r : "ok"}`);
  const touch = (q: Process, va: number, v: number) => {
    try {
      q.mem.write32(va, v);
      return true;
    } catch (e) {
      if (e instanceof ProcessKilled) {
        seen.push(`killed(${e.signo})`);
        return false;
      }
      throw e;
    }
  };
  step("mmap", p.sys.mmap(BASE, 8 * PAGE, RW, PA | MAP_FIXED, -1, 0));
  step("shared", p.sys.mmap(BASE + 0x100000, 2 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
  for (let i = 0; i < 8; i++) if (!touch(p, BASE + i * PAGE, i)) return seen;
  if (!touch(p, BASE + 0x100000, 7)) return seen;
  step("mprotect", p.sys.mprotect(BASE + 2 * PAGE, PAGE, PROT_READ));
  const c = p.fork();
  seen.push(c === null ? "fork=null" : "fork=ok");
  if (c !== null) {
    if (touch(c, BASE, 99)) touch(c, BASE + 0x100000, 5);
    if (c.state === "running") c.exit(0);
    // The OOM killer chooses by badness: a failed allocation in the child's fault may kill the bigger parent.
    if (p.state !== "running") {
      seen.push("parent=oom-killed");
      return seen;
    }
  }
  step("mremap", p.sys.mremap(BASE, 2 * PAGE, 16 * PAGE, MREMAP_MAYMOVE));
  step("brk", p.sys.brk(0x555555559000 + 3 * PAGE) === 0x555555559000 + 3 * PAGE ? 0 : -12);
  if (touch(p, 0x555555559000 + PAGE, 1)) p.exit(0);
  return seen;
}

describe("fault injection along a story: nothing leaks, the checkers pass", () => {
  it("the story runs clean without injection", () => {
    const m = bootMachine({ ramBytes: 16 << 20, debugVm: 2 });
    expect(story(m)).toEqual(["mmap=ok", "shared=ok", "mprotect=ok", "fork=ok", "mremap=ok", "brk=ok"]);
  });

  for (const point of ["failPageAlloc", "failSlab"] as const) {
    it(`${point}: failing the Nth allocation, for every N along the story`, () => {
      const outcomes = new Set<string>();
      let covered = 0;
      for (let nth = 1; nth <= 400; nth++) {
        covered = nth;
        const m = bootMachine({ ramBytes: 16 << 20, debugVm: 2 });
        m.kernel.dropCaches();
        const free0 = m.proc.meminfo().match(/MemFree:\s+(\d+)/)?.[1];
        m.faults[point]({ nth });
        const seen = story(m);
        const injected = m.faults.injected[point === "failPageAlloc" ? "pageAlloc" : "slab"];
        m.faults.clear();
        for (const q of m.processes()) q.exit(0);
        m.kernel.dropCaches();
        m.check();
        expect(m.proc.meminfo()).toMatch(/\nCommitted_AS: +0 kB\n/);
        expect(m.proc.meminfo().match(/MemFree:\s+(\d+)/)?.[1], `leak with ${point} nth=${nth}: ${seen.join(" ")}`).toBe(free0);
        outcomes.add(seen.join(" "));
        if (injected === 0) break; // the story finished before the Nth allocation: every N is covered
      }
      expect(outcomes.size).toBeGreaterThan(3);
      expect(covered).toBeLessThan(400); // the story ran out of allocations to fail: every N was tried
    });
  }
});
