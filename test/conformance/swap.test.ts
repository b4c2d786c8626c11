import { describe, expect, it } from "vitest";
import {
  BusError,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  O_RDONLY,
  PROT_READ,
  PROT_WRITE,
} from "../../sim/index.ts";
import { boot, meminfo, PAGE } from "./helpers.ts";

const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS;
const BASE = 0x100000000;
const SWAP = 1 << 20; // 256 slots

type Booted = ReturnType<typeof boot>;

function vmstat(m: Booted["m"], key: string): number {
  const line = m.proc
    .vmstat()
    .split("\n")
    .find((l) => l.startsWith(`${key} `));
  return Number(line?.split(" ")[1]);
}

function status(p: Booted["p"], key: string): number {
  return Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(p.proc.status())?.[1]);
}

/** The first smaps block's value of `key` in kB. */
function smaps(p: Booted["p"], key: string): number {
  return Number(new RegExp(`\\n${key}:\\s+(\\d+) kB`).exec(p.proc.smaps())?.[1]);
}

/** A process with `pages` private pages at BASE, page i holding 1000 + i in its first word. */
function written(pages: number, opts = {}) {
  const b = boot({ swapBytes: SWAP, ...opts });
  b.p.sys.mmap(BASE, pages * PAGE, RW, PA | MAP_FIXED, -1, 0);
  for (let i = 0; i < pages; i++) b.p.mem.write32(BASE + i * PAGE, 1000 + i);
  return b;
}

describe("swap (LINUX.md: swap)", () => {
  it("/proc/swaps: the header alone without swap; with swap one partition line, Size and Used in kB, priority -2", () => {
    expect(boot().m.proc.swaps()).toBe("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
    const { m, p } = written(3);
    expect(p.sys.madvise(BASE, 3 * PAGE, MADV_PAGEOUT)).toBe(0);
    expect(m.proc.swaps()).toBe(`Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/vdb${" ".repeat(32)}partition\t1024\t\t12\t\t-2\n`);
  });

  it("MADV_PAGEOUT writes each private page out: pswpout, SwapFree, RssAnon down, VmSwap up, smaps Swap", () => {
    const { m, p } = written(4);
    expect([meminfo(m, "SwapTotal"), meminfo(m, "SwapFree"), meminfo(m, "SwapCached")]).toEqual([1024, 1024, 0]);
    const anon0 = status(p, "RssAnon");
    expect(p.sys.madvise(BASE, 4 * PAGE, MADV_PAGEOUT)).toBe(0);
    expect(vmstat(m, "pswpout")).toBe(4);
    expect([meminfo(m, "SwapFree"), meminfo(m, "SwapCached")]).toEqual([1008, 0]);
    expect(status(p, "RssAnon")).toBe(anon0 - 16);
    expect(status(p, "VmSwap")).toBe(16);
    expect([smaps(p, "Rss"), smaps(p, "Swap"), smaps(p, "SwapPss")]).toEqual([0, 16, 16]);
  });

  it("touching a swapped page is a major fault that reads the slot back: pgmajfault, pswpin, the data", () => {
    const { m, p } = written(2);
    p.sys.madvise(BASE, 2 * PAGE, MADV_PAGEOUT);
    const maj = vmstat(m, "pgmajfault");
    expect(p.mem.read32(BASE + PAGE)).toBe(1001);
    expect(vmstat(m, "pgmajfault")).toBe(maj + 1);
    expect(vmstat(m, "pswpin")).toBe(1);
    expect(status(p, "VmSwap")).toBe(4);
    // A read keeps the page in the swap cache (the slot stays in use).
    expect([meminfo(m, "SwapCached"), meminfo(m, "SwapFree")]).toEqual([4, 1016]);
  });

  it("a clean page paged out again writes nothing; a written one is written again", () => {
    const { m, p } = written(1);
    p.sys.madvise(BASE, PAGE, MADV_PAGEOUT);
    expect(p.mem.read32(BASE)).toBe(1000);
    expect(p.sys.madvise(BASE, PAGE, MADV_PAGEOUT)).toBe(0);
    expect(vmstat(m, "pswpout")).toBe(1);
    expect(status(p, "VmSwap")).toBe(4);
    expect(meminfo(m, "SwapCached")).toBe(0);
    expect(p.mem.read32(BASE)).toBe(1000);
    p.mem.write32(BASE + 8, 5);
    p.sys.madvise(BASE, PAGE, MADV_PAGEOUT);
    expect(vmstat(m, "pswpout")).toBe(2);
    expect([p.mem.read32(BASE), p.mem.read32(BASE + 8)]).toEqual([1000, 5]);
  });

  it("a write fault on a swapped page of one user takes it out of the swap cache and frees the slot", () => {
    const { m, p } = written(1);
    p.sys.madvise(BASE, PAGE, MADV_PAGEOUT);
    p.mem.write32(BASE + 4, 9);
    expect([meminfo(m, "SwapCached"), meminfo(m, "SwapFree")]).toEqual([0, 1024]);
    expect([p.mem.read32(BASE), p.mem.read32(BASE + 4)]).toEqual([1000, 9]);
  });

  it("fork shares swap entries: the slot has two users (SwapPss halves); the second swap-in is a minor fault from the swap cache", () => {
    const { m, p } = written(2);
    p.sys.madvise(BASE, 2 * PAGE, MADV_PAGEOUT);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    expect(meminfo(m, "SwapFree")).toBe(1016);
    expect([status(c, "VmSwap"), smaps(c, "Swap"), smaps(c, "SwapPss")]).toEqual([8, 8, 4]);
    const outcomes: string[] = [];
    m.events.on("page_fault_user", (e) => outcomes.push(e.outcome));
    expect(c.mem.read32(BASE)).toBe(1000);
    const maj = vmstat(m, "pgmajfault");
    expect(p.mem.read32(BASE)).toBe(1000);
    expect(vmstat(m, "pgmajfault")).toBe(maj);
    expect(vmstat(m, "pswpin")).toBe(1);
    expect(outcomes).toEqual(["swap_in", "swap_cache"]);
    // Shared after swap-in: a write copies, the other process keeps the old bytes.
    p.mem.write32(BASE, 7);
    expect([p.mem.read32(BASE), c.mem.read32(BASE)]).toEqual([7, 1000]);
    expect(c.mem.read32(BASE + PAGE)).toBe(1001);
    expect(p.mem.read32(BASE + PAGE)).toBe(1001);
  });

  it("exit and munmap free slots: SwapFree returns to SwapTotal once the last user goes", () => {
    const { m, p } = written(3);
    p.sys.madvise(BASE, 3 * PAGE, MADV_PAGEOUT);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    c.exit(0);
    expect(meminfo(m, "SwapFree")).toBe(1012);
    expect(p.sys.munmap(BASE, PAGE)).toBe(0);
    expect(meminfo(m, "SwapFree")).toBe(1016);
    expect(p.mem.read32(BASE + PAGE)).toBe(1001);
    p.exit(0);
    expect([meminfo(m, "SwapFree"), meminfo(m, "SwapCached")]).toEqual([1024, 0]);
    m.check();
  });

  it("MADV_DONTNEED and MADV_FREE drop swap entries: the pages read zero, the slots are free", () => {
    const { m, p } = written(2);
    p.sys.madvise(BASE, 2 * PAGE, MADV_PAGEOUT);
    expect(p.sys.madvise(BASE, PAGE, MADV_DONTNEED)).toBe(0);
    expect(p.sys.madvise(BASE + PAGE, PAGE, MADV_FREE)).toBe(0);
    expect([status(p, "VmSwap"), meminfo(m, "SwapFree")]).toEqual([0, 1024]);
    expect([p.mem.read32(BASE), p.mem.read32(BASE + PAGE)]).toEqual([0, 0]);
  });

  it("mremap moves swap entries with the range; mprotect keeps them", () => {
    const { m, p } = written(2);
    p.sys.madvise(BASE, 2 * PAGE, MADV_PAGEOUT);
    expect(p.sys.mprotect(BASE, 2 * PAGE, PROT_READ)).toBe(0);
    expect(status(p, "VmSwap")).toBe(8);
    const to = BASE + 64 * PAGE;
    expect(p.sys.mremap(BASE, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, to)).toBe(to);
    expect(status(p, "VmSwap")).toBe(8);
    expect([p.mem.read32(to), p.mem.read32(to + PAGE)]).toEqual([1000, 1001]);
    expect(meminfo(m, "SwapFree")).toBe(1016);
  });

  it("shared anonymous memory and a machine without swap are not paged out (pages stay resident)", () => {
    const { m, p } = boot({ swapBytes: SWAP });
    p.sys.mmap(BASE, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    p.mem.write32(BASE, 3);
    expect(p.sys.madvise(BASE, PAGE, MADV_PAGEOUT)).toBe(0);
    expect([vmstat(m, "pswpout"), p.mem.read32(BASE)]).toEqual([0, 3]);
    const n = written(1, { swapBytes: 0 });
    expect(n.p.sys.madvise(BASE, PAGE, MADV_PAGEOUT)).toBe(0);
    expect([vmstat(n.m, "pswpout"), status(n.p, "VmSwap"), n.p.mem.read32(BASE)]).toEqual([0, 0, 1000]);
  });

  it("a full swap area, or an injected slot failure, leaves pages in RAM", () => {
    const { m, p } = written(3, { swapBytes: 2 * PAGE });
    expect(p.sys.madvise(BASE, 3 * PAGE, MADV_PAGEOUT)).toBe(0);
    expect([status(p, "VmSwap"), meminfo(m, "SwapFree")]).toEqual([8, 0]);
    expect(p.mem.read32(BASE + 2 * PAGE)).toBe(1002);
    const b = written(2);
    b.m.faults.failSwapAlloc({ nth: 1 });
    b.p.sys.madvise(BASE, 2 * PAGE, MADV_PAGEOUT);
    expect([status(b.p, "VmSwap"), b.m.faults.injected.swapAlloc]).toEqual([4, 1]);
  });

  it("an injected write error keeps the page in RAM and frees its slot; a read error is SIGBUS (BUS_ADRERR) and keeps the entry", () => {
    const { m, p } = written(1);
    m.faults.failSwapIo({ nth: 1 });
    p.sys.madvise(BASE, PAGE, MADV_PAGEOUT);
    expect([status(p, "VmSwap"), meminfo(m, "SwapFree"), vmstat(m, "pswpout")]).toEqual([0, 1024, 0]);
    p.sys.madvise(BASE, PAGE, MADV_PAGEOUT);
    m.faults.failSwapIo({ nth: 1 });
    let err: unknown = null;
    try {
      p.mem.read32(BASE);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BusError);
    expect([(err as BusError).code, (err as BusError).addr]).toEqual([2, BASE]);
    // The process died with SIGBUS: its exit freed the slot.
    expect(meminfo(m, "SwapFree")).toBe(1024);
    m.check();
  });

  it("swap counts in CommitLimit as before: RAM * ratio + SwapTotal", () => {
    const { m } = boot({ swapBytes: SWAP, overcommit: { mode: 2, ratio: 50 } });
    expect(meminfo(m, "CommitLimit")).toBe(Math.floor(meminfo(m, "MemTotal") / 4 / 2) * 4 + 1024);
  });
});

/** Fields 10 (minflt) and 12 (majflt) of /proc/PID/stat, counted from 1 as proc(5) does. */
function faultFields(p: Booted["p"]): [number, number] {
  const line = p.proc.stat();
  // The fields after "(comm)" start at field 3.
  const rest = line
    .slice(line.lastIndexOf(")") + 2)
    .trim()
    .split(" ");
  return [Number(rest[10 - 3]), Number(rest[12 - 3])];
}

describe("per-process fault counts: minflt and majflt (LINUX.md: swap)", () => {
  it("a swap-in read from the slot is the process's major fault; one served by the swap cache, or a demand-zero page, a minor one", () => {
    const { m, p } = boot({ swapBytes: SWAP });
    expect(p.sys.mmap(BASE, 2 * PAGE, RW, PA | MAP_FIXED, -1, 0)).toBe(BASE);
    p.mem.write32(BASE, 1);
    p.mem.write32(BASE + PAGE, 2);
    // Two demand-zero write faults: minor.
    expect([p.minflt, p.majflt]).toEqual([2, 0]);
    expect(p.sys.madvise(BASE, 2 * PAGE, MADV_PAGEOUT)).toBe(0);
    expect(p.mem.read32(BASE)).toBe(1);
    // The read of page 0 read its slot: major.
    expect([p.minflt, p.majflt]).toEqual([2, 1]);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    // A child starts with no faults of its own; page 1 is still only in its slot: the child's major fault.
    expect([c.minflt, c.majflt]).toEqual([0, 0]);
    expect(c.mem.read32(BASE + PAGE)).toBe(2);
    expect([c.minflt, c.majflt]).toEqual([0, 1]);
    // The parent finds page 1 in the swap cache the child's fault filled: minor.
    expect(p.mem.read32(BASE + PAGE)).toBe(2);
    expect([p.minflt, p.majflt]).toEqual([3, 1]);
    expect(faultFields(p)).toEqual([3, 1]);
    expect(faultFields(c)).toEqual([0, 1]);
    // The machine's pgmajfault is the sum of the two majors.
    expect(vmstat(m, "pgmajfault")).toBe(2);
    m.check();
  });

  it("a file page read from the disk is a major fault; the same page found in the page cache by another process, a minor one", () => {
    const { m, p } = boot();
    m.fs.writeFile("/f", new Uint8Array(2 * PAGE).fill(7));
    m.fs.sync();
    m.dropCaches();
    const q = m.spawn("q");
    const fd = p.sys.open("/f", O_RDONLY);
    const qfd = q.sys.open("/f", O_RDONLY);
    const a = p.sys.mmap(0, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    const b = q.sys.mmap(0, 2 * PAGE, PROT_READ, MAP_SHARED, qfd, 0);
    // p's two pages are read from the disk (2 majors); q maps the same two cached pages (2 minors).
    expect([p.mem.read8(a), p.mem.read8(a + PAGE)]).toEqual([7, 7]);
    expect([q.mem.read8(b), q.mem.read8(b + PAGE)]).toEqual([7, 7]);
    expect([faultFields(p), faultFields(q)]).toEqual([
      [0, 2],
      [2, 0],
    ]);
    m.check();
  });
});
