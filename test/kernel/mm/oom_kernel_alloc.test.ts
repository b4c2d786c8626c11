/**
 * A kernel allocation of a system call under memory pressure (the page
 * cache's page for read and write) goes the page allocator's slow path as
 * in Linux: direct reclaim, then (GFP_KERNEL, order 0 may) the OOM killer,
 * then one more try (kernel/mm/frame_pages_slowpath.ts allocRetry, Tasks.oomFromAlloc).
 */
import { describe, expect, it } from "vitest";
import {
  ENOMEM,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_NORESERVE,
  MAP_PRIVATE,
  type Machine,
  O_CREAT,
  O_RDONLY,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
} from "../../../sim/index.ts";
import { bootMachine } from "../../support/boot.ts";

const PAGE = 4096;
const RW = PROT_READ | PROT_WRITE;
const HOG = 0x40000000;

function vmstat(m: Machine, key: string): number {
  return Number(
    m.proc
      .vmstat()
      .split("\n")
      .find((l) => l.startsWith(`${key} `))
      ?.split(" ")[1],
  );
}

/**
 * A 4 MiB machine (watermarks min 62, low 77, high 92 pages) with /f (4 pages, on disk, not cached),
 * a small process w with a one-page buffer, and a hog that writes its 1024-page mapping until free
 * pages are down to the min watermark, where a GFP_KERNEL allocation finds nothing.
 */
function pressure(swapBytes: number) {
  const m = bootMachine({ ramBytes: 4 << 20, swapBytes, fs: { sizeBytes: 16 << 20 } });
  m.fs.writeFile("/f", new Uint8Array(4 * PAGE).fill(9));
  m.fs.sync();
  m.dropCaches();
  const w = m.spawn("w");
  const buf = w.sys.mmap(0, PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  w.mem.write32(buf, 0x11223344);
  const hog = m.spawn("hog");
  expect(hog.sys.mmap(HOG, 1024 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0)).toBe(HOG);
  const reclaim = m.kernel.taskParts.reclaim;
  expect(reclaim.watermarks()).toEqual({ min: 62, low: 77, high: 92 });
  // Both page tables first, so no data page's fault needs a second frame.
  hog.mem.write32(HOG, 1);
  hog.mem.write32(HOG + 512 * PAGE, 1);
  for (let i = 1; i < 1024 && reclaim.nrFree() > 62; i++) hog.mem.write32(HOG + i * PAGE, i);
  return { m, w, buf, hog, reclaim };
}

describe("a system call's kernel allocation under pressure: reclaim, then the OOM killer", () => {
  it("write(2)'s page-cache pages past the min watermark come from direct reclaim (anonymous pages swapped out)", () => {
    const { m, w, buf, hog, reclaim } = pressure(8 << 20);
    // With swap, kswapd after each of hog's faults keeps free pages between low and high.
    expect(reclaim.nrFree()).toBe(84);
    const fd = w.sys.open("/out", O_CREAT | O_RDWR, 0o644);
    const direct = vmstat(m, "pgsteal_direct");
    // No fault between the writes, so no kswapd: from 84 free pages, the 23rd write's page would
    // go below min; each later allocation that finds nothing reclaims SWAP_CLUSTER_MAX (32) pages.
    // 60 cache pages need 60 - (84 - 62) = 38 more: two direct reclaims, 64 pages.
    for (let k = 0; k < 60; k++) expect(w.sys.write(fd, buf, PAGE)).toBe(PAGE);
    expect(vmstat(m, "pgsteal_direct") - direct).toBe(64);
    expect(m.kernel.reports.filter((r) => r.kind === "page_alloc_failure" || r.kind === "oom_kill")).toEqual([]);
    expect(hog.state).toBe("running");
    m.check();
  });

  it("read(2) of an uncached page with nothing to reclaim (no swap, no cache) runs the OOM killer: the hog dies, the read succeeds", () => {
    const { m, w, buf, hog } = pressure(0);
    const fd = w.sys.open("/f", O_RDONLY);
    expect(w.sys.read(fd, buf, PAGE)).toBe(PAGE);
    expect(w.mem.read8(buf)).toBe(9);
    expect(hog.state).toBe("killed");
    expect(w.state).toBe("running");
    const oom = m.kernel.reports.filter((r) => r.kind === "oom" || r.kind === "oom_kill").map((r) => r.text);
    // The request printed is the page cache's: GFP_HIGHUSER_MOVABLE (0x100cca, the mapping default), order 0. hog: 918 pages written
    // (3672 kB), 1057 pages of VM (4 MiB + its 33-page stack = 4228 kB), 5 page-table pages (20 kB).
    expect(oom[0]).toBe("w invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0");
    expect(oom.at(-1)).toBe(
      "Out of memory: Killed process 2 (hog) total-vm:4228kB, anon-rss:3672kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:20kB oom_score_adj:0",
    );
    expect(vmstat(m, "oom_kill")).toBe(1);
    m.check();
  });

  it("when the OOM killer chooses the caller itself, its call fails with ENOMEM and it dies as the call returns", () => {
    const { m, w, buf, hog } = pressure(0);
    expect(hog.setOomScoreAdj(-1000)).toBe(0);
    expect(w.setOomScoreAdj(1000)).toBe(0);
    const fd = w.sys.open("/f", O_RDONLY);
    expect(w.sys.read(fd, buf, PAGE)).toBe(-ENOMEM);
    expect([w.state, w.exitSignal, hog.state]).toEqual(["killed", 9, "running"]);
    const kills = m.kernel.reports.filter((r) => r.kind === "oom_kill").map((r) => r.text.slice(0, 39));
    expect(kills).toEqual(["Out of memory: Killed process 1 (w) tot"]);
    m.check();
  });
});
