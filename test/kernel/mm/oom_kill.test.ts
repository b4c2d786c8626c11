import { describe, expect, it } from "vitest";
import {
  EINVAL,
  MAP_ANONYMOUS,
  MAP_NORESERVE,
  MAP_PRIVATE,
  type Machine,
  PROT_READ,
  PROT_WRITE,
  type Process,
  ProcessKilled,
} from "../../../sim/index.ts";
import { bootMachine } from "../../support/boot.ts";

const PAGE = 4096;
const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;

/** Writes `pages` pages of a fresh mapping of `p`; returns how many it wrote before it was killed (or all). */
function touch(p: Process, pages: number): number {
  const a = p.sys.mmap(0, pages * PAGE, RW, PA, -1, 0);
  for (let i = 0; i < pages; i++) {
    try {
      p.mem.write32(a + i * PAGE, i + 1);
    } catch (e) {
      if (e instanceof ProcessKilled) return i;
      throw e;
    }
  }
  return pages;
}

const killLines = (m: Machine) => m.kernel.reports.filter((r) => r.kind === "oom_kill").map((r) => r.text);

describe("/proc/PID/oom_score and oom_score_adj", () => {
  it("oom_score is (1000 + badness * 1000 / totalpages) * 2 / 3 with badness rss + swap + page tables + adj * (totalpages / 1000)", () => {
    // 16 MiB without swap: totalpages 4015. 100 pages touched + 4 page-table pages: badness 104.
    const m = bootMachine({ ramBytes: 16 << 20 });
    const p = m.spawn("p");
    touch(p, 100);
    expect(p.proc.oomScoreAdj()).toBe("0\n");
    expect(p.proc.oomScore()).toBe("683\n"); // (1000 + 104000 / 4015) * 2 / 3 = (1000 + 25) * 2 / 3
    expect(p.setOomScoreAdj(500)).toBe(0);
    expect(p.proc.oomScore()).toBe("1016\n"); // badness 104 + 500 * 4 = 2104: (1000 + 524) * 2 / 3
    expect(p.setOomScoreAdj(-500)).toBe(0);
    expect(p.proc.oomScore()).toBe("352\n"); // badness -1896: (1000 - 472) * 2 / 3
    expect(p.setOomScoreAdj(-1000)).toBe(0);
    expect(p.proc.oomScore()).toBe("0\n");
    expect(p.proc.oomScoreAdj()).toBe("-1000\n");
  });

  it("oom_score_adj outside -1000..1000 (or not an integer) is EINVAL and changes nothing; a child inherits it", () => {
    const m = bootMachine({ ramBytes: 16 << 20 });
    const p = m.spawn("p");
    expect(p.setOomScoreAdj(1001)).toBe(-EINVAL);
    expect(p.setOomScoreAdj(-1001)).toBe(-EINVAL);
    expect(p.setOomScoreAdj(1.5)).toBe(-EINVAL);
    expect(p.oomScoreAdj).toBe(0);
    expect(p.setOomScoreAdj(1000)).toBe(0);
    const seen: number[] = [];
    m.events.on("task_newtask", (e) => seen.push(e.oom_score_adj));
    expect((p.fork() as Process).oomScoreAdj).toBe(1000);
    expect(seen).toEqual([1000]);
  });
});

describe("the global OOM killer", () => {
  it("chooses the biggest process, not the faulting one: the faulter's access is retried and it goes on", () => {
    const m = bootMachine({ ramBytes: 8 << 20, overcommit: { mode: 1, ratio: 50 } });
    const big = m.spawn("big");
    expect(touch(big, 1200)).toBe(1200);
    const small = m.spawn("small");
    expect(touch(small, 900)).toBe(900);
    expect([big.state, small.state]).toEqual(["killed", "running"]);
    expect(big.exitSignal).toBe(9);
    expect(killLines(m)).toEqual([
      "Out of memory: Killed process 1 (big) total-vm:4932kB, anon-rss:4800kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:24kB oom_score_adj:0",
    ]);
    const oom = m.kernel.reports.filter((r) => r.kind === "oom").map((r) => r.text);
    expect(oom[0]).toBe("small invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0");
    expect(oom.slice(1, 3)).toEqual([
      "Tasks state (memory values in pages):",
      "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name",
    ]);
    expect(oom[3]).toBe("[      1]     0     1     1233     1200    24576        0             0 big");
    expect(oom[4]).toBe("[      2]     0     2      933      698    20480        0             0 small");
    expect(oom[5]).toBe(
      "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,task=big,pid=1,uid=0",
    );
    expect(m.proc.vmstat()).toMatch(/\noom_kill 1\n/);
    m.check();
  });

  it("oom_score_adj -1000 is never chosen: the faulting process dies instead of the bigger one", () => {
    const m = bootMachine({ ramBytes: 8 << 20, overcommit: { mode: 1, ratio: 50 } });
    const big = m.spawn("big");
    big.setOomScoreAdj(-1000);
    touch(big, 1200);
    const small = m.spawn("small");
    expect(touch(small, 900)).toBeLessThan(900);
    expect([big.state, small.state]).toEqual(["running", "killed"]);
    expect(killLines(m)).toHaveLength(1);
    expect(killLines(m)[0]).toMatch(/^Out of memory: Killed process 2 \(small\) .* oom_score_adj:0$/);
    m.check();
  });

  it("oom_score_adj 1000 is chosen first; when that does not free enough, the next by badness follows", () => {
    // 16 MiB: totalpages 4015, so adj 1000 adds 4000 points, more than any process's pages.
    const m = bootMachine({ ramBytes: 16 << 20, overcommit: { mode: 1, ratio: 50 } });
    const tiny = m.spawn("tiny");
    tiny.setOomScoreAdj(1000);
    touch(tiny, 2);
    const big = m.spawn("big");
    touch(big, 2500);
    const small = m.spawn("small");
    expect(touch(small, 1800)).toBe(1800);
    expect([tiny.state, big.state, small.state]).toEqual(["killed", "killed", "running"]);
    expect(killLines(m).map((l) => /Killed process (\d+ \(\w+\))/.exec(l)?.[1])).toEqual(["1 (tiny)", "2 (big)"]);
    expect(killLines(m)[0]).toMatch(/oom_score_adj:1000$/);
    m.check();
  });

  it("on a small machine adj 1000 adds only 1000 points (totalpages / 1000 is rounded down): a bigger process still goes first", () => {
    // 8 MiB: totalpages 1999, adj 1000 adds 1 * 1000; tiny scores 2 + 4 + 1000, big 1200 + 6.
    const m = bootMachine({ ramBytes: 8 << 20, overcommit: { mode: 1, ratio: 50 } });
    const tiny = m.spawn("tiny");
    tiny.setOomScoreAdj(1000);
    touch(tiny, 2);
    const big = m.spawn("big");
    touch(big, 1200);
    const small = m.spawn("small");
    expect(touch(small, 900)).toBe(900);
    expect([tiny.state, big.state, small.state]).toEqual(["running", "killed", "running"]);
    m.check();
  });

  it("with every other process unkillable the faulting one is killed, after 'Out of memory and no killable processes...'", () => {
    const m = bootMachine({ ramBytes: 8 << 20, overcommit: { mode: 1, ratio: 50 } });
    const big = m.spawn("big");
    big.setOomScoreAdj(-1000);
    touch(big, 1200);
    const small = m.spawn("small");
    small.setOomScoreAdj(-1000);
    expect(touch(small, 900)).toBeLessThan(900);
    expect([big.state, small.state]).toEqual(["running", "killed"]);
    expect(m.kernel.reports.map((r) => r.text)).toContain("Out of memory and no killable processes...");
    expect(killLines(m)).toEqual([]);
    m.check();
  });
});
