import { describe, expect, it } from "vitest";
import {
  ENOMEM,
  ENOSPC,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  O_CREAT,
  O_RDONLY,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  SEEK_SET,
} from "../../../sim/index.ts";
import { meminfo } from "../../conformance/helpers.ts";
import { bootMachine } from "../../support/boot.ts";

const PAGE = 4096;

function setup(ramBytes = 16 << 20) {
  const m = bootMachine({ ramBytes, debugVm: 1 });
  const p = m.spawn("t");
  const buf = p.sys.mmap(0, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  p.mem.fill(buf, 0x61, 16 * PAGE);
  return { m, p, buf, vfs: m.kernel.tasks.vfs! };
}

function vmstat(m: ReturnType<typeof setup>["m"], key: string): number {
  const line = m.proc
    .vmstat()
    .split("\n")
    .find((l) => l.startsWith(`${key} `));
  return Number(line?.split(" ")[1]);
}

describe("the page cache: meminfo, vmstat, writeback, drop_caches", () => {
  it("written pages are Cached and Dirty, MemFree falls by as much; fsync cleans them and counts pgpgout", () => {
    const { m, p, buf } = setup();
    const free0 = meminfo(m, "MemFree");
    const fd = p.sys.open("/f", O_CREAT | O_RDWR, 0o644);
    expect(p.sys.write(fd, buf, 4 * PAGE)).toBe(4 * PAGE);
    expect(meminfo(m, "Cached")).toBe(16);
    expect(meminfo(m, "Dirty")).toBe(16);
    expect(meminfo(m, "Inactive(file)")).toBe(16);
    expect(meminfo(m, "Active(file)")).toBe(0);
    expect(meminfo(m, "Buffers")).toBe(0);
    expect(meminfo(m, "Writeback")).toBe(0);
    expect(free0 - meminfo(m, "MemFree")).toBe(16);
    expect(vmstat(m, "nr_dirty")).toBe(4);
    expect(p.sys.fsync(fd)).toBe(0);
    expect(meminfo(m, "Dirty")).toBe(0);
    expect(vmstat(m, "pgpgout")).toBe(16);
    m.check();
  });

  it("a page used a second time moves to Active(file)", () => {
    const { m, p, buf } = setup();
    m.fs.writeFile("/f", new Uint8Array(2 * PAGE));
    m.fs.remount();
    const fd = p.sys.open("/f", O_RDONLY);
    expect(p.sys.read(fd, buf, 2 * PAGE)).toBe(2 * PAGE);
    expect([meminfo(m, "Active(file)"), meminfo(m, "Inactive(file)")]).toEqual([0, 8]);
    expect(p.sys.pread(fd, buf, 10, 0)).toBe(10);
    expect([meminfo(m, "Active(file)"), meminfo(m, "Inactive(file)")]).toEqual([4, 4]);
    expect(vmstat(m, "pgpgin")).toBe(8);
    m.check();
  });

  it("dropCaches frees the clean pages and keeps the dirty ones; a read after it goes to the disk", () => {
    const { m, p, buf } = setup();
    m.fs.writeFile("/clean", new Uint8Array(3 * PAGE).fill(2));
    m.fs.sync();
    const fd = p.sys.open("/dirty", O_CREAT | O_RDWR, 0o644);
    expect(p.sys.write(fd, buf, PAGE)).toBe(PAGE);
    const reads0 = m.kernel.tasks.vfs!.dev.reads;
    expect(m.dropCaches()).toBe(3);
    expect(meminfo(m, "Cached")).toBe(4);
    expect(meminfo(m, "Dirty")).toBe(4);
    expect(m.fs.readFile("/clean")[3 * PAGE - 1]).toBe(2);
    expect(m.kernel.tasks.vfs!.dev.reads - reads0).toBe(3);
    m.check();
  });

  it("past vm.dirty_background_ratio the dirty pages are written back at once", () => {
    const { m, p, buf, vfs } = setup(4 << 20);
    const fd = p.sys.open("/big", O_CREAT | O_RDWR, 0o644);
    vfs.cache.dirtyBackgroundRatio = 1;
    let flushedAt = -1;
    for (let i = 0; i < 64 && flushedAt < 0; i++) {
      expect(p.sys.write(fd, buf, PAGE)).toBe(PAGE);
      if (vfs.cache.stats.backgroundFlushes > 0) flushedAt = i;
    }
    expect(flushedAt).toBeGreaterThan(0);
    expect(vfs.cache.nrDirty).toBe(0);
    expect(vfs.cache.stats.pgpgout).toBe(flushedAt + 1);
    const dirtyable = m.kernel.pages.nrFreePages() + vfs.cache.nrPages;
    expect(flushedAt + 1).toBe(Math.floor(dirtyable / 100) + 1);
    // Under dirty_ratio (20 %) the writer was never throttled.
    expect(vfs.cache.stats.throttled).toBe(0);
    m.check();
  });
});

describe("vm.dirty_ratio", () => {
  it("a write that leaves more than dirty_ratio of the dirtyable pages dirty is counted as throttled, and flushed", () => {
    const { m, p, buf, vfs } = setup(4 << 20);
    const fd = p.sys.open("/big", O_CREAT | O_RDWR, 0o644);
    vfs.cache.dirtyBackgroundRatio = 1;
    vfs.cache.dirtyRatio = 1;
    // 16 pages dirty at once: past 1 % of the dirtyable pages (under 1,024 on a 4 MiB machine).
    const dirtyable = m.kernel.pages.nrFreePages() + vfs.cache.nrPages;
    expect([16 * 100 > dirtyable, 100 <= dirtyable]).toEqual([true, true]);
    expect(p.sys.write(fd, buf, 16 * PAGE)).toBe(16 * PAGE);
    expect([vfs.cache.stats.throttled, vfs.cache.stats.backgroundFlushes, vfs.cache.nrDirty, vfs.cache.stats.pgpgout]).toEqual([
      1, 1, 0, 16,
    ]);
    // One more dirty page is under both thresholds: no flush, no throttle.
    expect(p.sys.write(fd, buf, PAGE)).toBe(PAGE);
    expect([vfs.cache.stats.throttled, vfs.cache.stats.backgroundFlushes, vfs.cache.nrDirty]).toEqual([1, 1, 1]);
    m.check();
  });
});

describe("fault injection along the file paths", () => {
  it("a failed block allocation is ENOSPC and leaves the file and the disk as before", () => {
    const { m, p, buf, vfs } = setup();
    const fd = p.sys.open("/f", O_CREAT | O_RDWR, 0o644);
    expect(p.sys.write(fd, buf, PAGE)).toBe(PAGE);
    const free = vfs.fs.freeBlocks();
    m.faults.failBlockAlloc({ nth: 1 });
    expect(p.sys.write(fd, buf, 2 * PAGE)).toBe(-ENOSPC);
    expect(m.faults.injected.blockAlloc).toBe(1);
    expect(p.sys.lseek(fd, 0, SEEK_SET)).toBe(0);
    expect(m.fs.readFile("/f").length).toBe(PAGE);
    expect(vfs.fs.freeBlocks()).toBe(free);
    m.check();
  });

  it("the second block failing gives a partial count of one page", () => {
    const { m, p, buf } = setup();
    const fd = p.sys.open("/f", O_CREAT | O_RDWR, 0o644);
    m.faults.failBlockAlloc({ nth: 2 });
    expect(p.sys.write(fd, buf, 3 * PAGE)).toBe(PAGE);
    expect(m.fs.readFile("/f").length).toBe(PAGE);
    m.check();
  });

  it("a failed page-cache allocation in a file fault goes the OOM way: the biggest process is killed and the fault retried", () => {
    const { m, p, vfs } = setup();
    m.fs.writeFile("/r", new Uint8Array(PAGE).fill(7));
    m.fs.remount();
    const hog = m.spawn("hog");
    const big = hog.sys.mmap(0, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    hog.mem.fill(big, 1, 64 * PAGE);
    const fd = p.sys.open("/r", O_RDONLY);
    const a = p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    m.faults.failPageAlloc({ nth: 1 });
    expect(p.mem.read8(a)).toBe(7);
    expect([hog.state, p.state, vmstat(m, "oom_kill"), vfs.cache.nrPages]).toEqual(["killed", "running", 1, 1]);
    m.check();
  });

  it("a failed page-cache allocation is ENOMEM for read and write, with nothing left behind", () => {
    const { m, p, buf, vfs } = setup();
    m.fs.writeFile("/r", new Uint8Array(PAGE).fill(1));
    m.fs.remount();
    const fd = p.sys.open("/r", O_RDWR);
    const cached = vfs.cache.nrPages;
    m.faults.failPageAlloc({ nth: 1 });
    expect(p.sys.read(fd, buf, PAGE)).toBe(-ENOMEM);
    expect(vfs.cache.nrPages).toBe(cached);
    m.faults.failPageAlloc({ nth: 1 });
    expect(p.sys.pwrite(fd, buf, PAGE, PAGE)).toBe(-ENOMEM);
    expect(m.fs.readFile("/r").length).toBe(PAGE);
    m.check();
  });

  it("every allocation along a write story failing in turn leaves a consistent machine", () => {
    for (let nth = 1; nth <= 6; nth++) {
      const { m, p, buf } = setup();
      const fd = p.sys.open("/f", O_CREAT | O_RDWR, 0o644);
      m.faults.failPageAlloc({ nth });
      m.faults.failBlockAlloc({ nth });
      const r = p.sys.write(fd, buf, 3 * PAGE);
      expect([ENOMEM, ENOSPC].map((e) => -e).concat([PAGE, 2 * PAGE, 3 * PAGE])).toContain(r);
      expect(m.fs.readFile("/f").length).toBe(Math.max(r, 0));
      m.faults.clear();
      m.fs.remount();
      expect(m.fs.readFile("/f").length).toBe(Math.max(r, 0));
      m.check();
    }
  });
});
