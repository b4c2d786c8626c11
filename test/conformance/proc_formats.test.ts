import { describe, expect, it } from "vitest";
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from "../../sim/index.ts";
import { bootMachine } from "../support/boot.ts";

const PAGE = 4096;

/** A process with a heap, a private mapping, a shared one, and a forked child. */
function scene() {
  const m = bootMachine({ ramBytes: 64 << 20 });
  const p = m.spawn("demo");
  p.sys.brk(0x555555559000 + 0x21000);
  p.mem.fill(0x555555559000, 1, 3 * PAGE);
  const a = p.sys.mmap(0, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  p.mem.fill(a, 2, 4 * PAGE);
  const s = p.sys.mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  p.mem.write8(s, 1);
  const c = p.fork()!;
  return { m, p, c, a, s };
}

describe("/proc formats, byte for byte", () => {
  it("maps: hex ranges, perms, offset, dev, inode, names padded to column 73", () => {
    const { p } = scene();
    expect(p.proc.maps()).toBe(
      [
        "555555559000-55555557a000 rw-p 00000000 00:00 0                          [heap]",
        "7ffff7fed000-7ffff7fef000 rw-s 00000000 00:01 1001                       /dev/zero (deleted)",
        "7ffff7fef000-7ffff7fff000 rw-p 00000000 00:00 0 ",
        "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]",
        "",
      ].join("\n"),
    );
  });

  it("smaps: a COW-shared heap after fork (Pss halves), then private again after the child writes", () => {
    const { p, c } = scene();
    const heap = p.proc.smaps().split(/(?=^[0-9a-f]+-)/m)[0];
    expect(heap).toBe(
      [
        "555555559000-55555557a000 rw-p 00000000 00:00 0                          [heap]",
        "Size:                132 kB",
        "KernelPageSize:        4 kB",
        "MMUPageSize:           4 kB",
        "Rss:                  12 kB",
        "Pss:                   6 kB",
        "Pss_Dirty:             6 kB",
        "Shared_Clean:          0 kB",
        "Shared_Dirty:         12 kB",
        "Private_Clean:         0 kB",
        "Private_Dirty:         0 kB",
        "Referenced:           12 kB",
        "Anonymous:            12 kB",
        "LazyFree:              0 kB",
        "AnonHugePages:         0 kB",
        "ShmemPmdMapped:        0 kB",
        "FilePmdMapped:         0 kB",
        "Shared_Hugetlb:        0 kB",
        "Private_Hugetlb:       0 kB",
        "Swap:                  0 kB",
        "SwapPss:               0 kB",
        "Locked:                0 kB",
        "THPeligible:           0",
        "VmFlags: rd wr mr mw me ac ",
        "",
      ].join("\n"),
    );
    c.mem.fill(0x555555559000, 9, 3 * PAGE);
    const after = p.proc.smaps().split(/(?=^[0-9a-f]+-)/m)[0] as string;
    expect(after).toContain("\nPss:                  12 kB\n");
    expect(after).toContain("\nPrivate_Dirty:        12 kB\n");
  });

  it("stat: 52 fields in proc(5)'s order, memsim's values where it models them and 0 elsewhere", () => {
    const m = bootMachine({ ramBytes: 32 << 20 });
    const p = m.spawn("t");
    const a = p.sys.mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p.mem.write32(a, 1);
    // pid 1, ppid 0, one minor fault (the write), no major; vsize: VmSize 140 kB = 143360 bytes
    // (the 8 KiB mapping and the 132 KiB stack); rss 1 page; rsslim RLIM_INFINITY; startstack
    // 0x7fffffffefe0 = 140737488351200; exit_signal 17 (SIGCHLD); start_brk 0x555555559000 = 93824992251904.
    const want =
      "1 (t) R 0 0 0 0 -1 0 1 0 0 0 0 0 0 0 20 0 1 0 0 143360 1 18446744073709551615 0 0 140737488351200 0 0 " +
      "0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 93824992251904 0 0 0 0 0\n";
    expect(p.proc.stat()).toBe(want);
    expect(want.trim().split(" ")).toHaveLength(52);
  });

  it("status: identity lines and every Vm/Rss line as Linux prints them", () => {
    const { p } = scene();
    expect(p.proc.status()).toBe(
      [
        "Name:\tdemo",
        "Umask:\t0022",
        "State:\tR (running)",
        "Tgid:\t1",
        "Ngid:\t0",
        "Pid:\t1",
        "PPid:\t0",
        "TracerPid:\t0",
        "Uid:\t0\t0\t0\t0",
        "Gid:\t0\t0\t0\t0",
        "VmPeak:\t     336 kB",
        "VmSize:\t     336 kB",
        "VmLck:\t       0 kB",
        "VmPin:\t       0 kB",
        "VmHWM:\t      32 kB",
        "VmRSS:\t      32 kB",
        "RssAnon:\t      28 kB",
        "RssFile:\t       0 kB",
        "RssShmem:\t       4 kB",
        "VmData:\t     196 kB",
        "VmStk:\t     132 kB",
        "VmExe:\t       0 kB",
        "VmLib:\t       0 kB",
        "VmPTE:\t      28 kB",
        "VmSwap:\t       0 kB",
        "Threads:\t1",
        "",
      ].join("\n"),
    );
  });

  it("meminfo: AnonPages counts both processes' private pages, Shmem the shared page, PageTables the tables", () => {
    const { m } = scene();
    const mi = m.proc.meminfo();
    expect(mi).toContain("\nAnonPages:            56 kB\n");
    expect(mi).toContain("\nShmem:                 4 kB\n");
    expect(mi).toMatch(/\nPageTables: +\d+ kB\n/);
    expect(mi).toContain("\nHugepagesize:       2048 kB\n");
    expect(mi).toContain("\nHardwareCorrupted:     0 kB\n");
  });

  it("vmstat: name value lines with the fault counters", () => {
    const { m } = scene();
    const v = m.proc.vmstat();
    expect(v).toMatch(/^nr_free_pages \d+\n/);
    expect(v).toContain("\npgfault 8\n");
    expect(v).toContain("\npgmajfault 0\n");
    expect(v).toContain("\nnr_anon_pages 14\n");
  });
});
