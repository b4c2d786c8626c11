import { describe, expect, it } from "vitest";
import {
  fifoReplacement,
  lruReplacement,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  PROT_READ,
  PROT_WRITE,
  type Process,
  ProcessKilled,
  type ReplacementLayer,
} from "../../../sim/index.ts";
import { bootMachine } from "../../support/boot.ts";

const PAGE = 4096;
const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS;

/** Maps `pages` private pages in `p` and writes i + 1 into page i. Returns the address. */
function touch(p: Process, pages: number): number {
  const a = p.sys.mmap(0, pages * PAGE, RW, PA, -1, 0);
  for (let i = 0; i < pages; i++) p.mem.write32(a + i * PAGE, i + 1);
  return a;
}

function events(m: Machine, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of m.cgroups.read(name, "memory.events").trim().split("\n")) {
    const [k, v] = line.split(" ");
    out[k as string] = Number(v);
  }
  return out;
}

describe("memory cgroups: charging", () => {
  it("memory.current counts exactly the pages a process in the group touched; reads map the zero page and charge nothing", () => {
    const m = bootMachine({ ramBytes: 16 << 20 });
    const g = m.cgroups.create("lab");
    const p = m.spawn("p");
    p.cgroup = g;
    expect(m.cgroups.read(g, "memory.current")).toBe("0\n");
    const a = touch(p, 10);
    expect(m.cgroups.read(g, "memory.current")).toBe(`${10 * PAGE}\n`);
    const b = p.sys.mmap(0, 4 * PAGE, RW, PA, -1, 0);
    for (let i = 0; i < 4; i++) p.mem.read32(b + i * PAGE);
    expect(m.cgroups.read(g, "memory.current")).toBe(`${10 * PAGE}\n`);
    expect(p.sys.munmap(a, 3 * PAGE)).toBe(0);
    expect(m.cgroups.read(g, "memory.current")).toBe(`${7 * PAGE}\n`);
    expect(m.cgroups.read(g, "memory.stat")).toBe(`anon ${7 * PAGE}\nfile 0\nswap 0\npgsteal 0\n`);
    m.check();
    p.exit(0);
    expect(m.cgroups.read(g, "memory.current")).toBe("0\n");
    m.check();
  });

  it("a child inherits its parent's group at fork; shared pages stay charged once, a COW copy is charged to the writer's group", () => {
    const m = bootMachine({ ramBytes: 16 << 20 });
    const g = m.cgroups.create("lab");
    const h = m.cgroups.create("other");
    const p = m.spawn("p");
    p.cgroup = g;
    const a = touch(p, 4);
    const c = p.fork() as Process;
    expect(c.cgroup).toBe(g);
    expect(c.proc.cgroup()).toBe("0::/lab\n");
    expect(m.cgroups.read(g, "memory.current")).toBe(`${4 * PAGE}\n`);
    c.cgroup = h;
    c.mem.write32(a, 99);
    expect(m.cgroups.read(g, "memory.current")).toBe(`${4 * PAGE}\n`);
    expect(m.cgroups.read(h, "memory.current")).toBe(`${1 * PAGE}\n`);
    m.check();
    c.exit(0);
    expect(m.cgroups.read(h, "memory.current")).toBe("0\n");
    p.exit(0);
    expect(m.cgroups.read(g, "memory.current")).toBe("0\n");
    m.check();
  });

  it("the root group charges nothing; a process moved back to it charges its new pages nowhere", () => {
    const m = bootMachine({ ramBytes: 16 << 20 });
    const g = m.cgroups.create("lab");
    const p = m.spawn("p");
    expect(p.cgroup).toBe(m.cgroups.root);
    expect(p.proc.cgroup()).toBe("0::/\n");
    p.cgroup = g;
    touch(p, 2);
    p.cgroup = m.cgroups.root;
    touch(p, 3);
    expect(m.cgroups.read(g, "memory.current")).toBe(`${2 * PAGE}\n`);
    m.check();
  });

  it("files: limits read back as bytes or max; bad names, values and files are RangeErrors", () => {
    const m = bootMachine({ ramBytes: 16 << 20 });
    const g = m.cgroups.create("lab", { max: 10 * PAGE + 100, high: 8 * PAGE });
    expect(m.cgroups.read(g, "memory.max")).toBe(`${10 * PAGE}\n`);
    expect(m.cgroups.read(g, "memory.high")).toBe(`${8 * PAGE}\n`);
    m.cgroups.write("lab", "memory.high", "max");
    expect(m.cgroups.read(g, "memory.high")).toBe("max\n");
    m.cgroups.write(g, "memory.max", 4 * PAGE);
    expect(m.cgroups.read(g, "memory.max")).toBe(`${4 * PAGE}\n`);
    expect(m.cgroups.read(g, "memory.events")).toBe("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
    expect(m.cgroups.read(g, "memory.swap.current")).toBe("0\n");
    expect(() => m.cgroups.create("lab")).toThrow(RangeError);
    expect(() => m.cgroups.create("a/b")).toThrow(RangeError);
    expect(() => m.cgroups.create("x", { max: -1 })).toThrow(RangeError);
    expect(() => m.cgroups.write(g, "memory.max", "lots")).toThrow(RangeError);
    expect(() => m.cgroups.read("nope", "memory.current")).toThrow(RangeError);
    expect(m.cgroups.list().map((x) => x.path)).toEqual(["/lab"]);
    const other = bootMachine({ ramBytes: 16 << 20 }).cgroups.create("lab");
    expect(() => {
      m.spawn("p").cgroup = other;
    }).toThrow(RangeError);
  });
});

/** Runs reference string `refs` (page numbers) in a group of `frames` frames under FIFO. Returns [pgfault, pgmajfault, pswpin, pswpout, pgsteal]. */
function fifoRun(frames: number, refs: readonly number[]): number[] {
  const m = Machine.boot({ ramBytes: 16 << 20, swapBytes: 1 << 20, layers: { replacement: fifoReplacement } });
  const g = m.cgroups.create("lab", { max: frames * PAGE });
  const p = m.spawn("p");
  p.cgroup = g;
  const a = p.sys.mmap(0, 8 * PAGE, RW, PA, -1, 0);
  const stat = (name: string) => Number(m.proc.vmstat().match(new RegExp(`^${name} (\\d+)$`, "m"))?.[1]);
  const before = ["pgfault", "pgmajfault", "pswpin", "pswpout"].map(stat);
  for (const r of refs) p.mem.write32(a + r * PAGE, r);
  for (const r of new Set(refs)) expect(p.mem.read32(a + r * PAGE)).toBe(r);
  m.check();
  const after = ["pgfault", "pgmajfault", "pswpin", "pswpout"].map(stat);
  return [...after.map((v, i) => v - (before[i] as number)), g.pgsteal];
}

describe("memory cgroups: reclaim through the LRU lists and the machine's replacement policy", () => {
  // Belady's string 1 2 3 4 1 2 5 1 2 3 4 5. FIFO with 3 frames: 9 faults (5 first touches, 4 refaults);
  // with 4 frames: 10 (5 first touches, 5 refaults). The reads that check the bytes back add faults of their own;
  // a page they brought back and that is evicted again unwritten is clean in the swap cache: no write (pswpout).
  it("FIFO shows Belady's anomaly inside a group: 3 frames fault 9 times on the string, 4 frames 10 times", () => {
    const refs = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5];
    // 3 frames, oldest first after the string: 5 3 4. Reading back 1 2 3 4 5 faults on each (evicting 5, 3, 4, 1, 2; 1 and 2 clean).
    expect(fifoRun(3, refs)).toEqual([9 + 5, 4 + 5, 4 + 5, 6 + 3, 6 + 5]);
    // 4 frames, oldest first after the string: 2 3 4 5. Reading back 1 2 3 4 5 faults on each (evicting 2, 3, 4, 5, 1; 1 clean).
    expect(fifoRun(4, refs)).toEqual([10 + 5, 5 + 5, 5 + 5, 6 + 4, 6 + 5]);
  });
});

/**
 * In a group of 4 frames: pages 0-3 written, page 4 written (page 0 goes under either policy, and the
 * look at the others clears their accessed bits), page 1 read again, page 5 written. Returns whether a
 * read of page `page` then finds it in swap (one swap-in).
 */
function inSwapAfter(policy: ReplacementLayer, page: number): boolean {
  const m = Machine.boot({ ramBytes: 16 << 20, swapBytes: 1 << 20, layers: { replacement: policy } });
  const g = m.cgroups.create("lab", { max: 4 * PAGE });
  const p = m.spawn("p");
  p.cgroup = g;
  const a = p.sys.mmap(0, 8 * PAGE, RW, PA, -1, 0);
  for (const i of [0, 1, 2, 3, 4]) p.mem.write32(a + i * PAGE, i);
  p.mem.read32(a + PAGE);
  p.mem.write32(a + 5 * PAGE, 5);
  const stats = m.kernel.taskParts.swap?.dev.stats;
  const before = stats?.pswpin ?? -1;
  expect(p.mem.read32(a + page * PAGE)).toBe(page);
  expect(g.current).toBe(4);
  m.check();
  return (stats?.pswpin ?? -1) === before + 1;
}

describe("memory cgroups: the machine's replacement policy picks the group's victims", () => {
  it("FIFO evicts page 1, the oldest, though it was just used; LRU evicts page 2, the least recently used", () => {
    expect([inSwapAfter(fifoReplacement, 1), inSwapAfter(fifoReplacement, 2)]).toEqual([true, false]);
    expect([inSwapAfter(lruReplacement, 1), inSwapAfter(lruReplacement, 2)]).toEqual([false, true]);
  });
});

describe("memory cgroups: memory.max with swap", () => {
  it("a process in a group of 8 frames touches 32 pages, keeps running, stays at 8 frames and reads every byte back", () => {
    const m = bootMachine({ ramBytes: 16 << 20, swapBytes: 1 << 20 });
    const g = m.cgroups.create("lab", { max: 8 * PAGE });
    const p = m.spawn("p");
    p.cgroup = g;
    const a = touch(p, 32);
    expect(m.cgroups.read(g, "memory.current")).toBe(`${8 * PAGE}\n`);
    expect(m.cgroups.read(g, "memory.swap.current")).toBe(`${24 * PAGE}\n`);
    for (let i = 0; i < 32; i++) expect(p.mem.read32(a + i * PAGE)).toBe(i + 1);
    expect(p.state).toBe("running");
    expect(Number(m.cgroups.read(g, "memory.current"))).toBeLessThanOrEqual(8 * PAGE);
    expect(Number(m.cgroups.read(g, "memory.current")) + Number(m.cgroups.read(g, "memory.swap.current"))).toBe(32 * PAGE);
    expect(events(m, "lab").oom).toBe(0);
    expect(events(m, "lab").max).toBeGreaterThanOrEqual(24);
    m.check();
    p.exit(0);
    expect(m.cgroups.read(g, "memory.current")).toBe("0\n");
    expect(m.cgroups.read(g, "memory.swap.current")).toBe("0\n");
    m.check();
  });

  it("second chance: the page touched between faults stays in RAM while the others go to swap", () => {
    const m = bootMachine({ ramBytes: 16 << 20, swapBytes: 1 << 20 });
    const g = m.cgroups.create("lab", { max: 4 * PAGE });
    const p = m.spawn("p");
    p.cgroup = g;
    const a = p.sys.mmap(0, 16 * PAGE, RW, PA, -1, 0);
    for (let i = 0; i < 16; i++) {
      p.mem.write32(a + i * PAGE, i);
      p.mem.read32(a); // page 0 is used all the time
    }
    expect(p.proc.smaps().includes("Swap:                 48 kB")).toBe(true);
    const before = m.kernel.taskParts.swap?.dev.stats.pswpin ?? -1;
    expect(p.mem.read32(a)).toBe(0);
    expect(m.kernel.taskParts.swap?.dev.stats.pswpin).toBe(before);
    m.check();
  });

  it("memory.high: the group is reclaimed down to it and memory.events counts high", () => {
    const m = bootMachine({ ramBytes: 16 << 20, swapBytes: 1 << 20 });
    const g = m.cgroups.create("lab", { high: 6 * PAGE });
    const p = m.spawn("p");
    p.cgroup = g;
    const a = touch(p, 10);
    expect(m.cgroups.read(g, "memory.current")).toBe(`${6 * PAGE}\n`);
    expect(events(m, "lab")).toEqual({ low: 0, high: 4, max: 0, oom: 0, oom_kill: 0 });
    for (let i = 0; i < 10; i++) expect(p.mem.read32(a + i * PAGE)).toBe(i + 1);
    m.check();
  });

  it("a COW copy at the group's max: reclaim takes another page, never the one being copied", () => {
    const m = bootMachine({ ramBytes: 16 << 20, swapBytes: 1 << 20 });
    const g = m.cgroups.create("lab", { max: 2 * PAGE });
    const p = m.spawn("p");
    p.cgroup = g;
    const a = p.sys.mmap(0, 2 * PAGE, RW, PA, -1, 0);
    p.mem.write32(a, 1);
    expect(p.sys.madvise(a, PAGE, MADV_PAGEOUT)).toBe(0);
    const c = p.fork() as Process; // both name the slot
    expect(p.mem.read32(a)).toBe(1); // read back into the swap cache, shared with the child's swap entry
    p.mem.write32(a + PAGE, 2); // the group is at its max
    expect(m.cgroups.read(g, "memory.current")).toBe(`${2 * PAGE}\n`);
    p.mem.write32(a, 3); // copy-on-write: the second page goes to swap to make room
    expect([p.mem.read32(a), p.mem.read32(a + PAGE), c.mem.read32(a)]).toEqual([3, 2, 1]);
    m.check();
  });
});

describe("memory cgroups: memory.max without swap", () => {
  it("the group's OOM kills inside the group only: the biggest member dies, the process outside keeps its memory", () => {
    const m = bootMachine({ ramBytes: 16 << 20 });
    const g = m.cgroups.create("lab", { max: 8 * PAGE });
    const outside = m.spawn("outside");
    const o = touch(outside, 16);
    const small = m.spawn("small");
    small.cgroup = g;
    touch(small, 2);
    const hog = m.spawn("hog");
    hog.cgroup = g;
    let killed: ProcessKilled | null = null;
    try {
      touch(hog, 32);
    } catch (e) {
      if (!(e instanceof ProcessKilled)) throw e;
      killed = e;
    }
    expect(killed?.signo).toBe(9);
    expect([outside.state, small.state, hog.state]).toEqual(["running", "running", "killed"]);
    expect(events(m, "lab")).toEqual({ low: 0, high: 0, max: 1, oom: 1, oom_kill: 1 });
    expect(m.cgroups.read(g, "memory.current")).toBe(`${2 * PAGE}\n`);
    for (let i = 0; i < 16; i++) expect(outside.mem.read32(o + i * PAGE)).toBe(i + 1);
    const lines = m.kernel.reports.filter((r) => r.kind === "oom" || r.kind === "oom_kill").map((r) => r.text);
    expect(lines).toEqual([
      "hog invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0",
      "memory: usage 32kB, limit 32kB, failcnt 1",
      "swap: usage 0kB, limit 9007199254740988kB, failcnt 0",
      "Tasks state (memory values in pages):",
      "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name",
      "[      2]     0     2       35        2    16384        0             0 small",
      "[      3]     0     3       65        6    16384        0             0 hog",
      "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/lab,task_memcg=/lab,task=hog,pid=3,uid=0",
      "Memory cgroup out of memory: Killed process 3 (hog) total-vm:260kB, anon-rss:24kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:16kB oom_score_adj:0",
    ]);
    m.check();
  });

  it("another member with a higher badness dies instead of the faulting one, which goes on", () => {
    const m = bootMachine({ ramBytes: 16 << 20 });
    const g = m.cgroups.create("lab", { max: 8 * PAGE });
    const big = m.spawn("big");
    big.cgroup = g;
    touch(big, 7);
    const p = m.spawn("p");
    p.cgroup = g;
    const a = touch(p, 3);
    expect([big.state, p.state]).toEqual(["killed", "running"]);
    for (let i = 0; i < 3; i++) expect(p.mem.read32(a + i * PAGE)).toBe(i + 1);
    expect(m.cgroups.read(g, "memory.current")).toBe(`${3 * PAGE}\n`);
    expect(m.proc.vmstat()).toMatch(/\noom_kill 1\n/);
    m.check();
  });
});
