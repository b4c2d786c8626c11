/**
 * Linux conformance, round 2 (kernel/LINUX.md, "Round 2"): cases checked
 * against a Linux 6.x kernel, one test each, exact values.
 */
import { describe, expect, it } from "vitest";
import {
  BUS_ADRERR,
  BusError,
  EINVAL,
  ENOMEM,
  MADV_COLD,
  MADV_DONTNEED,
  MADV_DONTNEED_LOCKED,
  MADV_FREE,
  MADV_KEEPONFORK,
  MADV_PAGEOUT,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_REMOVE,
  MAP_ANONYMOUS,
  MAP_DROPPABLE,
  MAP_FIXED,
  MAP_GROWSDOWN,
  MAP_LOCKED,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MREMAP_MAYMOVE,
  PROT_GROWSDOWN,
  PROT_NONE,
  PROT_READ,
  PROT_SEM,
  PROT_WRITE,
  SI_KERNEL,
  SIGBUS,
  SIGSEGV,
} from "../../sim/index.ts";
import { boot, mapsLines, meminfo, PAGE, STACK_END, segv } from "./helpers.ts";

const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS;
const BASE = 0x100000000;

/** The block of /proc/PID/smaps for the VMA starting at `start`. */
function smapsOf(p: ReturnType<typeof boot>["p"], start: number): string {
  return (
    p.proc
      .smaps()
      .split(/(?=^[0-9a-f]+-)/m)
      .find((b) => b.startsWith(start.toString(16))) ?? ""
  );
}
const kbField = (block: string, key: string) => Number(new RegExp(`\\n${key}: +(\\d+) kB`).exec(block)?.[1]);

describe("COW isolation after mprotect (LINUX.md: Round 2, 1)", () => {
  it("a page read-only at fork, made writable in the parent, is copied on the parent's first write", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write8(BASE, 1);
    expect(p.sys.mprotect(BASE, PAGE, PROT_READ)).toBe(0);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(p.sys.mprotect(BASE, PAGE, RW)).toBe(0);
    p.mem.write8(BASE, 2);
    expect(c.mem.read8(BASE)).toBe(1);
    expect(p.mem.read8(BASE)).toBe(2);
    m.check();
  });
  it("a page PROT_NONE at fork, made writable in the child, is copied on the child's first write", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write8(BASE, 7);
    expect(p.sys.mprotect(BASE, PAGE, PROT_NONE)).toBe(0);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(c.sys.mprotect(BASE, PAGE, RW)).toBe(0);
    c.mem.write8(BASE, 8);
    expect(p.sys.mprotect(BASE, PAGE, PROT_READ)).toBe(0);
    expect(p.mem.read8(BASE)).toBe(7);
    expect(c.mem.read8(BASE)).toBe(8);
    m.check();
  });
});

const statusKb = (p: ReturnType<typeof boot>["p"], key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(p.proc.status())?.[1]);

describe("fork and shared anonymous memory (LINUX.md: Round 2, 2)", () => {
  it("fork copies no entries of a shared anonymous mapping: the child's Rss for it and RssShmem are 0 until it touches it", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, 4 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    p.mem.fill(BASE, 3, 4 * PAGE);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(kbField(smapsOf(c, BASE), "Rss")).toBe(0);
    expect(statusKb(c, "RssShmem")).toBe(0);
    expect(c.mem.read8(BASE + PAGE)).toBe(3);
    expect(kbField(smapsOf(c, BASE), "Rss")).toBe(4);
    expect(statusKb(c, "RssShmem")).toBe(4);
    m.check();
  });
});

describe("clean shared pages (LINUX.md: Round 2, 3)", () => {
  it("a shared anonymous page only read is clean: Private_Clean, Pss_Dirty 0; written, it is Private_Dirty", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 2 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    p.mem.read8(BASE);
    let b = smapsOf(p, BASE);
    expect([kbField(b, "Rss"), kbField(b, "Private_Clean"), kbField(b, "Private_Dirty"), kbField(b, "Pss_Dirty")]).toEqual([4, 4, 0, 0]);
    p.mem.write8(BASE + PAGE, 1);
    b = smapsOf(p, BASE);
    expect([kbField(b, "Rss"), kbField(b, "Private_Clean"), kbField(b, "Private_Dirty"), kbField(b, "Pss_Dirty")]).toEqual([8, 4, 4, 4]);
  });
});

describe("COW pages in smaps after fork (LINUX.md: Round 2, 4)", () => {
  it("a page shared by fork is counted shared in both; MADV_FREE marks it LazyFree where this mapping is clean", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, 2 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.fill(BASE, 9, 2 * PAGE);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    for (const q of [p, c]) {
      const b = smapsOf(q, BASE);
      expect([kbField(b, "Rss"), kbField(b, "Pss"), kbField(b, "Shared_Dirty"), kbField(b, "Private_Dirty")]).toEqual([8, 4, 8, 0]);
    }
    expect(c.sys.madvise(BASE, 2 * PAGE, MADV_FREE)).toBe(0);
    let b = smapsOf(c, BASE);
    expect([kbField(b, "Shared_Clean"), kbField(b, "Shared_Dirty"), kbField(b, "LazyFree")]).toEqual([8, 0, 8]);
    expect(kbField(smapsOf(p, BASE), "LazyFree")).toBe(0);
    // The parent's entries are dirty: reclaim keeps the pages for both.
    expect(m.kernel.reclaimLazyFree()).toBe(0);
    expect(c.mem.read8(BASE)).toBe(9);
    p.exit(0);
    // Alone and clean, the child's pages can be marked again and dropped.
    expect(c.sys.madvise(BASE, 2 * PAGE, MADV_FREE)).toBe(0);
    b = smapsOf(c, BASE);
    expect([kbField(b, "Private_Clean"), kbField(b, "LazyFree")]).toEqual([8, 8]);
    expect(m.kernel.reclaimLazyFree()).toBe(2);
    expect(c.mem.read8(BASE)).toBe(0);
    m.check();
  });
  it("a COW page clean in every mapping after MADV_FREE in both is dropped from both on reclaim", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write8(BASE, 5);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(p.sys.madvise(BASE, PAGE, MADV_FREE)).toBe(0);
    expect(c.sys.madvise(BASE, PAGE, MADV_FREE)).toBe(0);
    expect(kbField(smapsOf(p, BASE), "Shared_Clean")).toBe(4);
    expect(m.kernel.reclaimLazyFree()).toBe(1);
    expect(p.mem.read8(BASE)).toBe(0);
    expect(c.mem.read8(BASE)).toBe(0);
    m.check();
  });
});

describe("accessed bits after fork (LINUX.md: Round 2, 5)", () => {
  it("a forked child's entries start old: Referenced 0 until it touches them", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 3 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.fill(BASE, 1, 3 * PAGE);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(kbField(smapsOf(p, BASE), "Referenced")).toBe(12);
    expect(kbField(smapsOf(c, BASE), "Referenced")).toBe(0);
    c.mem.read8(BASE);
    expect(kbField(smapsOf(c, BASE), "Referenced")).toBe(4);
  });
});

describe("VMA merging (LINUX.md: Round 2, 6)", () => {
  it("a VMA a forked child maps next to one it inherited stays separate", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 2 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write8(BASE, 1);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(c.sys.mmap(BASE + 2 * PAGE, PAGE, RW, PA | MAP_FIXED, -1, 0)).toBe(BASE + 2 * PAGE);
    expect(mapsLines(c.proc.maps()).slice(0, 2)).toEqual([
      "100000000-100002000 rw-p 00000000 00:00 0",
      "100002000-100003000 rw-p 00000000 00:00 0",
    ]);
    expect(p.sys.mmap(BASE + 2 * PAGE, PAGE, RW, PA | MAP_FIXED, -1, 0)).toBe(BASE + 2 * PAGE);
    expect(mapsLines(p.proc.maps())[0]).toBe("100000000-100003000 rw-p 00000000 00:00 0");
  });
  it("two inherited pieces with their own anon groups do not merge back in the child", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 2 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.fill(BASE, 1, 2 * PAGE);
    expect(p.sys.mprotect(BASE, PAGE, PROT_READ)).toBe(0);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(c.sys.mprotect(BASE, PAGE, RW)).toBe(0);
    expect(mapsLines(c.proc.maps()).slice(0, 2)).toEqual([
      "100000000-100001000 rw-p 00000000 00:00 0",
      "100001000-100002000 rw-p 00000000 00:00 0",
    ]);
    expect(p.sys.mprotect(BASE, PAGE, RW)).toBe(0);
    expect(mapsLines(p.proc.maps())[0]).toBe("100000000-100002000 rw-p 00000000 00:00 0");
  });
  it("a mapping that fills the hole between two compatible VMAs extends the lower one, with no new VMA object", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.sys.mmap(BASE + 2 * PAGE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    m.faults.failSlab({ nth: 1 });
    expect(p.sys.mmap(BASE + PAGE, PAGE, RW, PA | MAP_FIXED, -1, 0)).toBe(BASE + PAGE);
    // The injected failure is still pending: a mapping that needs a new VMA meets it.
    expect(p.sys.mmap(BASE + 8 * PAGE, PAGE, RW, PA | MAP_FIXED, -1, 0)).toBe(-ENOMEM);
    m.faults.failSlab({ probability: 0 });
    expect(mapsLines(p.proc.maps())[0]).toBe("100000000-100003000 rw-p 00000000 00:00 0");
    m.check();
  });
});

describe("mmap flags (LINUX.md: Round 2, 7)", () => {
  it("MAP_SHARED_VALIDATE with MAP_ANONYMOUS is EINVAL", () => {
    const { p } = boot();
    expect(p.sys.mmap(0, PAGE, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0)).toBe(-EINVAL);
  });
  it("a length that PAGE_ALIGN rounds past 2^64 is ENOMEM", () => {
    const { p } = boot();
    expect(p.sys.mmap(0, 2 ** 64 - 4096, RW, PA, -1, 0)).toBe(-ENOMEM);
    expect(p.sys.mmap(0, 2 ** 64 - 1, RW, PA, -1, 0)).toBe(-ENOMEM);
  });
  it("MAP_LOCKED populates at once; smaps shows Locked and VmFlags lo; VmLck counts it; a child does not inherit it", () => {
    const { p } = boot();
    const a = p.sys.mmap(0, 3 * PAGE, RW, PA | MAP_LOCKED, -1, 0);
    const b = smapsOf(p, a);
    expect([kbField(b, "Rss"), kbField(b, "Locked")]).toEqual([12, 12]);
    expect(b).toContain("VmFlags: rd wr mr mw me lo ac \n");
    expect(p.proc.status()).toContain("VmLck:\t      12 kB\n");
    expect(p.sys.madvise(a, PAGE, MADV_DONTNEED)).toBe(-EINVAL);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(smapsOf(c, a)).toContain("VmFlags: rd wr mr mw me ac \n");
  });
  it("MAP_DROPPABLE: private anonymous memory, not charged, wiped on fork, dropped under pressure even when written", () => {
    const { m, p } = boot();
    const c0 = meminfo(m, "Committed_AS");
    const a = p.sys.mmap(0, 2 * PAGE, RW, MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0);
    expect(a).toBeGreaterThan(0);
    expect(meminfo(m, "Committed_AS")).toBe(c0);
    expect(p.sys.mmap(0, PAGE, RW, MAP_DROPPABLE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0)).toBe(-EINVAL);
    expect(p.sys.mmap(0, PAGE, RW, MAP_DROPPABLE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0)).toBe(-EINVAL);
    p.mem.fill(a, 0x44, 2 * PAGE);
    expect(smapsOf(p, a)).toContain("VmFlags: rd wr mr mw me nr wf dd \n");
    expect(kbField(smapsOf(p, a), "LazyFree")).toBe(0);
    expect(m.kernel.reclaimLazyFree()).toBe(2);
    expect(kbField(smapsOf(p, a), "Rss")).toBe(0);
    expect(p.mem.read8(a)).toBe(0);
    m.check();
  });
});

describe("mprotect arguments (LINUX.md: Round 2, 8)", () => {
  it("PROT_SEM is accepted and ignored", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, PROT_READ, PA | MAP_FIXED, -1, 0);
    expect(p.sys.mprotect(BASE, PAGE, RW | PROT_SEM)).toBe(0);
    expect(mapsLines(p.proc.maps())[0]).toBe("100000000-100001000 rw-p 00000000 00:00 0");
  });
  it("both PROT_GROWSDOWN and PROT_GROWSUP is EINVAL, even with len 0", () => {
    const { p } = boot();
    expect(p.sys.mprotect(BASE, 0, PROT_READ | PROT_GROWSDOWN | 0x02000000)).toBe(-EINVAL);
  });
  it("PROT_GROWSDOWN on a VMA that is not grows-down is EINVAL", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 2 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    expect(p.sys.mprotect(BASE + PAGE, PAGE, PROT_READ | PROT_GROWSDOWN)).toBe(-EINVAL);
  });
  it("PROT_GROWSDOWN on a grows-down VMA extends the change down to its start", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 4 * PAGE, RW, PA | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
    expect(p.sys.mprotect(BASE + 2 * PAGE, PAGE, PROT_READ | PROT_GROWSDOWN)).toBe(0);
    expect(mapsLines(p.proc.maps()).slice(0, 2)).toEqual([
      "100000000-100003000 r--p 00000000 00:00 0",
      "100003000-100004000 rw-p 00000000 00:00 0",
    ]);
  });
  it("a range that ends past TASK_SIZE is ENOMEM and changes nothing", () => {
    const { p } = boot();
    const maps = p.proc.maps();
    expect(p.sys.mprotect(STACK_END - 4 * PAGE, 5 * PAGE, PROT_READ)).toBe(-ENOMEM);
    expect(p.proc.maps()).toBe(maps);
  });
});

describe("madvise advice (LINUX.md: Round 2, 9)", () => {
  it("MADV_KEEPONFORK on a shared mapping succeeds", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    expect(p.sys.madvise(BASE, PAGE, MADV_KEEPONFORK)).toBe(0);
  });
  it("MADV_REMOVE on shared anonymous memory frees the pages in every process; later reads see zeros", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, 2 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    p.mem.fill(BASE, 0x66, 2 * PAGE);
    const c = p.fork();
    if (!c) throw new Error("fork failed");
    expect(c.mem.read8(BASE)).toBe(0x66);
    const shmem0 = meminfo(m, "Shmem");
    expect(p.sys.madvise(BASE, PAGE, MADV_REMOVE)).toBe(0);
    expect(meminfo(m, "Shmem")).toBe(shmem0 - 4);
    expect(c.mem.read8(BASE)).toBe(0);
    expect(p.mem.read8(BASE)).toBe(0);
    expect(p.mem.read8(BASE + PAGE)).toBe(0x66);
    p.sys.mmap(BASE + 4 * PAGE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    expect(p.sys.madvise(BASE + 4 * PAGE, PAGE, MADV_REMOVE)).toBe(-EINVAL);
    m.check();
  });
  it("MADV_POPULATE_READ maps the range, MADV_POPULATE_WRITE faults it in writable; a forbidden access is EINVAL", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 4 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    expect(p.sys.madvise(BASE, 2 * PAGE, MADV_POPULATE_WRITE)).toBe(0);
    expect(kbField(smapsOf(p, BASE), "Rss")).toBe(8);
    expect(p.sys.madvise(BASE, 4 * PAGE, MADV_POPULATE_READ)).toBe(0);
    expect(kbField(smapsOf(p, BASE), "Rss")).toBe(8);
    p.sys.mmap(BASE + 8 * PAGE, PAGE, PROT_READ, PA | MAP_FIXED, -1, 0);
    expect(p.sys.madvise(BASE + 8 * PAGE, PAGE, MADV_POPULATE_WRITE)).toBe(-EINVAL);
    expect(p.sys.madvise(BASE + 8 * PAGE, PAGE, MADV_POPULATE_READ)).toBe(0);
    expect(p.sys.madvise(BASE + 6 * PAGE, PAGE, MADV_POPULATE_READ)).toBe(-ENOMEM);
  });
  it("MADV_DONTNEED_LOCKED zaps like MADV_DONTNEED, also on a locked VMA", () => {
    const { p } = boot();
    const a = p.sys.mmap(0, 2 * PAGE, RW, PA | MAP_LOCKED, -1, 0);
    p.mem.fill(a, 3, 2 * PAGE);
    expect(p.sys.madvise(a, 2 * PAGE, MADV_DONTNEED_LOCKED)).toBe(0);
    expect(kbField(smapsOf(p, a), "Rss")).toBe(0);
    expect(p.mem.read8(a)).toBe(0);
  });
  it("MADV_COLD and MADV_PAGEOUT are valid: pages stay, their accessed bits clear; on a locked VMA EINVAL", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 2 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.fill(BASE, 3, 2 * PAGE);
    expect(p.sys.madvise(BASE, PAGE, MADV_COLD)).toBe(0);
    expect(p.sys.madvise(BASE + PAGE, PAGE, MADV_PAGEOUT)).toBe(0);
    const b = smapsOf(p, BASE);
    expect([kbField(b, "Rss"), kbField(b, "Referenced")]).toEqual([8, 0]);
    expect(p.mem.read8(BASE + PAGE)).toBe(3);
    const l = p.sys.mmap(0, PAGE, RW, PA | MAP_LOCKED, -1, 0);
    expect(p.sys.madvise(l, PAGE, MADV_COLD)).toBe(-EINVAL);
  });
});

describe("mremap (LINUX.md: Round 2, 10)", () => {
  it("old_len 0 on a private mapping is EINVAL; on a shared one it duplicates the mapping", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    expect(p.sys.mremap(BASE, 0, PAGE, MREMAP_MAYMOVE)).toBe(-EINVAL);
    p.sys.mmap(BASE + 4 * PAGE, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    p.mem.write8(BASE + 4 * PAGE, 0x21);
    const dup = p.sys.mremap(BASE + 4 * PAGE, 0, PAGE, MREMAP_MAYMOVE);
    expect(dup).toBeGreaterThan(0);
    expect(p.mem.read8(dup)).toBe(0x21);
    p.mem.write8(dup, 0x22);
    expect(p.mem.read8(BASE + 4 * PAGE)).toBe(0x22);
  });
  it("growing in place reaches the start of a grows-down VMA above: its guard gap is not mremap's", () => {
    const { p } = boot();
    p.sys.mmap(BASE + 8 * PAGE, 2 * PAGE, RW, PA | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    expect(p.sys.mremap(BASE, PAGE, 8 * PAGE, 0)).toBe(BASE);
    expect(p.sys.mremap(BASE, 8 * PAGE, 9 * PAGE, 0)).toBe(-ENOMEM);
  });
});

describe("stack guard gap (LINUX.md: Round 2, 11)", () => {
  it("the stack grows up to a PROT_NONE mapping below it", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, PROT_NONE, PA | MAP_FIXED, -1, 0);
    p.sys.mmap(BASE + 2 * PAGE, PAGE, RW, PA | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
    p.mem.write8(BASE + PAGE, 1);
    expect(mapsLines(p.proc.maps()).slice(0, 2)).toEqual([
      "100000000-100001000 ---p 00000000 00:00 0",
      "100001000-100003000 rw-p 00000000 00:00 0",
    ]);
  });
  it("the stack grows up to another grows-down VMA below it; an accessible one keeps the gap", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
    p.sys.mmap(BASE + 2 * PAGE, PAGE, RW, PA | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
    p.mem.write8(BASE + PAGE, 1);
    expect(mapsLines(p.proc.maps())[1]).toBe("100001000-100003000 rw-p 00000000 00:00 0");
    const q = boot().p;
    q.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    q.sys.mmap(BASE + 2 * PAGE, PAGE, RW, PA | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
    expect(segv(() => q.mem.write8(BASE + PAGE, 1)).signo).toBe(SIGSEGV);
  });
});

describe("SIGBUS past the object (LINUX.md: Round 2, 12)", () => {
  it("a shared mapping grown by mremap past its object gets SIGBUS with BUS_ADRERR and the address", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    expect(p.sys.mremap(BASE, PAGE, 2 * PAGE, 0)).toBe(BASE);
    let err: unknown = null;
    try {
      p.mem.read8(BASE + PAGE + 5);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BusError);
    const b = err as BusError;
    expect([b.signo, b.code, b.addr]).toEqual([SIGBUS, BUS_ADRERR, BASE + PAGE + 5]);
    expect(p.exitSignal).toBe(SIGBUS);
  });
});

describe("non-canonical addresses (LINUX.md: Round 2, 13)", () => {
  it("an access outside the 48-bit space is SIGSEGV with SI_KERNEL and si_addr 0", () => {
    const { p } = boot();
    const e = segv(() => p.mem.read8(2 ** 48 + 0x1000));
    expect([e.signo, e.code, e.addr]).toEqual([SIGSEGV, SI_KERNEL, 0]);
  });
});
