import { describe, expect, it } from "vitest";
import {
  BUS_ADRERR,
  BusError,
  EACCES,
  EBADF,
  EBUSY,
  EINVAL,
  ENODEV,
  ENOMEM,
  EOPNOTSUPP,
  MADV_FREE,
  MADV_REMOVE,
  MAP_FIXED,
  MAP_LOCKED,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  MS_ASYNC,
  MS_INVALIDATE,
  MS_SYNC,
  O_CREAT,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  PROT_READ,
  PROT_WRITE,
} from "../../sim/index.ts";
import { boot, meminfo, PAGE } from "./helpers.ts";

const RW = PROT_READ | PROT_WRITE;

/** A machine with /f holding `size` bytes ('a' + i % 26), and a process. */
function setup(size = 2 * PAGE + 100) {
  const { m, p } = boot();
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = 97 + (i % 26);
  m.fs.writeFile("/f", data);
  m.fs.sync();
  return { m, p, data };
}

function busError(fn: () => unknown): BusError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BusError) return e;
    throw e;
  }
  throw new Error("expected SIGBUS, the access succeeded");
}

describe("mmap of a file: the errors Linux gives", () => {
  it("EBADF for a closed descriptor, EINVAL for an unaligned offset (checked first) or no mapping type", () => {
    const { p } = setup();
    expect(p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, 7, 0)).toBe(-EBADF);
    expect(p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, 7, 100)).toBe(-EINVAL);
    const fd = p.sys.open("/f", O_RDWR);
    expect(p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 100)).toBe(-EINVAL);
    expect(p.sys.mmap(0, PAGE, PROT_READ, 0, fd, 0)).toBe(-EINVAL);
    expect(p.sys.mmap(0, 0, PROT_READ, MAP_SHARED, fd, 0)).toBe(-EINVAL);
  });

  it("EACCES: a shared writable mapping of a read-only file, any mapping of a write-only file", () => {
    const { p } = setup();
    const ro = p.sys.open("/f", O_RDONLY);
    const wo = p.sys.open("/f", O_WRONLY);
    expect(p.sys.mmap(0, PAGE, RW, MAP_SHARED, ro, 0)).toBe(-EACCES);
    expect(p.sys.mmap(0, PAGE, RW, MAP_SHARED_VALIDATE, ro, 0)).toBe(-EACCES);
    expect(p.sys.mmap(0, PAGE, PROT_READ, MAP_PRIVATE, wo, 0)).toBe(-EACCES);
    expect(p.sys.mmap(0, PAGE, RW, MAP_SHARED, wo, 0)).toBe(-EACCES);
    // A private writable mapping of a read-only file is fine: its writes are copies.
    expect(p.sys.mmap(0, PAGE, RW, MAP_PRIVATE, ro, 0)).toBeGreaterThan(0);
  });

  it("ENODEV for a directory", () => {
    const { m, p } = setup();
    m.fs.mkdirs("/d");
    const fd = p.sys.open("/d", O_RDONLY);
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(p.sys.mmap(0, PAGE, PROT_READ, MAP_PRIVATE, fd, 0)).toBe(-ENODEV);
  });

  it("a shared mapping of a read-only file shows r--s and mprotect may not add PROT_WRITE (EACCES)", () => {
    const { p } = setup();
    const fd = p.sys.open("/f", O_RDONLY);
    const a = p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    expect(p.proc.maps()).toContain(`${a.toString(16)}-${(a + PAGE).toString(16)} r--s 00000000 08:01`);
    expect(p.sys.mprotect(a, PAGE, RW)).toBe(-EACCES);
    // A read-write file's shared read-only mapping may become writable.
    const rw = p.sys.open("/f", O_RDWR);
    const b = p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, rw, 0);
    expect(p.sys.mprotect(b, PAGE, RW)).toBe(0);
    p.mem.write8(b, 0x5a);
    expect(p.mem.read8(a)).toBe(0x5a);
  });

  it("madvise on file mappings: MADV_FREE EINVAL, MADV_REMOVE EOPNOTSUPP (shared) or EACCES (private)", () => {
    const { p } = setup();
    const fd = p.sys.open("/f", O_RDWR);
    const s = p.sys.mmap(0, PAGE, RW, MAP_SHARED, fd, 0);
    const v = p.sys.mmap(0, PAGE, RW, MAP_PRIVATE, fd, 0);
    expect(p.sys.madvise(v, PAGE, MADV_FREE)).toBe(-EINVAL);
    expect(p.sys.madvise(s, PAGE, MADV_REMOVE)).toBe(-EOPNOTSUPP);
    expect(p.sys.madvise(v, PAGE, MADV_REMOVE)).toBe(-EACCES);
  });
});

describe("msync: errors", () => {
  it("EINVAL for unknown flags, an unaligned start, or MS_SYNC with MS_ASYNC; 0 for an empty range", () => {
    const { p } = setup();
    const fd = p.sys.open("/f", O_RDWR);
    const a = p.sys.mmap(0, PAGE, RW, MAP_SHARED, fd, 0);
    expect(p.sys.msync(a, PAGE, 8)).toBe(-EINVAL);
    expect(p.sys.msync(a + 1, PAGE, MS_SYNC)).toBe(-EINVAL);
    expect(p.sys.msync(a, PAGE, MS_SYNC | MS_ASYNC)).toBe(-EINVAL);
    expect(p.sys.msync(a, 0, MS_SYNC)).toBe(0);
    expect(p.sys.msync(a, PAGE, 0)).toBe(0);
    expect(p.sys.msync(a, PAGE, MS_ASYNC | MS_INVALIDATE)).toBe(0);
  });

  it("ENOMEM for an unmapped range; MS_SYNC stops at a hole, MS_ASYNC syncs past it and still says ENOMEM", () => {
    const { m, p } = setup();
    const fd = p.sys.open("/f", O_RDWR);
    const a = p.sys.mmap(0, 3 * PAGE, RW, MAP_SHARED, fd, 0);
    expect(p.sys.munmap(a, PAGE)).toBe(0);
    expect(p.sys.msync(a, PAGE, MS_SYNC)).toBe(-ENOMEM);
    p.mem.write8(a + PAGE, 1);
    expect(p.sys.msync(a, 2 * PAGE, MS_SYNC)).toBe(-ENOMEM);
    expect(meminfo(m, "Dirty")).toBe(4);
    expect(p.sys.msync(a, 2 * PAGE, MS_ASYNC)).toBe(-ENOMEM);
    expect(p.sys.msync(a + PAGE, PAGE, MS_SYNC)).toBe(0);
    expect(meminfo(m, "Dirty")).toBe(0);
  });

  it("EBUSY for MS_INVALIDATE on a locked mapping", () => {
    const { p } = setup();
    const fd = p.sys.open("/f", O_RDWR);
    const a = p.sys.mmap(0, PAGE, RW, MAP_SHARED | MAP_LOCKED, fd, 0);
    expect(p.sys.msync(a, PAGE, MS_INVALIDATE)).toBe(-EBUSY);
    expect(p.sys.msync(a, PAGE, MS_SYNC)).toBe(0);
  });

  it("the libc wrapper returns -1 with errno", () => {
    const { p } = setup();
    expect(p.libc.files.msync(4096, PAGE, MS_SYNC | MS_ASYNC)).toBe(-1);
    expect(p.libc.errno).toBe(EINVAL);
  });
});

describe("MAP_SHARED: stores reach the file", () => {
  it("a store is a dirty PTE until msync harvests it into the page cache and writes it back", () => {
    const { m, p } = setup();
    const fd = p.sys.open("/f", O_RDWR);
    const a = p.sys.mmap(0, 3 * PAGE, RW, MAP_SHARED, fd, 0);
    expect(p.mem.read8(a)).toBe(97);
    expect(meminfo(m, "Dirty")).toBe(0);
    p.mem.write8(a + 1, 0x41);
    // The read mapped the page writable and clean; the store set the PTE's D bit only.
    expect(meminfo(m, "Dirty")).toBe(0);
    const writes = fsStat(m, "blockWrites");
    expect(p.sys.msync(a, 3 * PAGE, MS_SYNC)).toBe(0);
    expect(fsStat(m, "blockWrites") - writes).toBe(1);
    expect(meminfo(m, "Dirty")).toBe(0);
    m.fs.remount();
    expect(m.fs.readText("/f").slice(0, 3)).toBe("aAc");
  });

  it("msync MS_SYNC on a range writes only the file pages that range maps; MS_ASYNC writes nothing", () => {
    const { m, p } = setup(8 * PAGE);
    const fd = p.sys.open("/f", O_RDWR);
    // File pages 2..7 at a; each read first, so it is mapped writable and clean.
    const a = p.sys.mmap(0, 6 * PAGE, RW, MAP_SHARED, fd, 2 * PAGE);
    for (let i = 0; i < 6; i++) expect(p.mem.read8(a + i * PAGE)).toBe(97 + ((i * PAGE + 2 * PAGE) % 26));
    // Dirty PTEs on file pages 2, 3, 4 and 5; file page 0 dirty in the cache by pwrite.
    for (let i = 0; i < 4; i++) p.mem.write8(a + i * PAGE, 0x41 + i);
    const buf = p.sys.mmap(0, PAGE, RW, MAP_PRIVATE | 0x20, -1, 0);
    p.mem.write8(buf, 0x5a);
    expect(p.sys.pwrite(fd, buf, 1, 0)).toBe(1);
    expect(meminfo(m, "Dirty")).toBe(4);
    const writes = fsStat(m, "blockWrites");
    const out = vmstatOf(m, "pgpgout");
    expect(p.sys.msync(a + PAGE, 2 * PAGE, MS_ASYNC)).toBe(0);
    expect([fsStat(m, "blockWrites") - writes, meminfo(m, "Dirty")]).toEqual([0, 4]);
    // [a + PAGE, a + 3 * PAGE) maps file pages 3 and 4: two blocks, 8 KiB of pgpgout; page 0's
    // cache dirt and the dirty PTEs of pages 2 and 5 stay where they were.
    expect(p.sys.msync(a + PAGE, 2 * PAGE, MS_SYNC)).toBe(0);
    expect([fsStat(m, "blockWrites") - writes, vmstatOf(m, "pgpgout") - out, meminfo(m, "Dirty")]).toEqual([2, 8, 4]);
    // fsync takes the rest: page 0, then pages 2 and 5 once their PTEs are harvested.
    expect(p.sys.fsync(fd)).toBe(0);
    expect([fsStat(m, "blockWrites") - writes, vmstatOf(m, "pgpgout") - out, meminfo(m, "Dirty")]).toEqual([5, 20, 0]);
    m.fs.remount();
    const f = m.fs.readFile("/f");
    expect([f[0], f[2 * PAGE], f[3 * PAGE], f[4 * PAGE], f[5 * PAGE], f[6 * PAGE]]).toEqual([
      0x5a,
      0x41,
      0x42,
      0x43,
      0x44,
      97 + ((6 * PAGE) % 26),
    ]);
  });

  it("munmap makes the written page dirty in the cache; fsync writes it", () => {
    const { m, p } = setup();
    const fd = p.sys.open("/f", O_RDWR);
    const a = p.sys.mmap(0, PAGE, RW, MAP_SHARED, fd, 0);
    p.mem.write8(a, 0x5a);
    expect(p.sys.munmap(a, PAGE)).toBe(0);
    expect(meminfo(m, "Dirty")).toBe(4);
    expect(p.sys.fsync(fd)).toBe(0);
    expect(meminfo(m, "Dirty")).toBe(0);
    m.fs.remount();
    expect(m.fs.readFile("/f")[0]).toBe(0x5a);
  });

  it("fsync alone harvests dirty PTEs of a live mapping; close(fd) leaves the mapping working", () => {
    const { m, p } = setup();
    const fd = p.sys.open("/f", O_RDWR);
    const a = p.sys.mmap(0, PAGE, RW, MAP_SHARED, fd, 0);
    const fd2 = p.sys.dup(fd);
    expect(p.sys.close(fd)).toBe(0);
    p.mem.write8(a + 2, 0x42);
    expect(p.sys.fsync(fd2)).toBe(0);
    expect(p.sys.close(fd2)).toBe(0);
    p.mem.write8(a + 3, 0x43);
    expect(p.sys.munmap(a, PAGE)).toBe(0);
    m.fs.remount();
    expect(m.fs.readText("/f").slice(0, 5)).toBe("abBCe");
  });

  it("read() and write() see mapped stores at once (one page cache)", () => {
    const { p } = setup();
    const fd = p.sys.open("/f", O_RDWR);
    const a = p.sys.mmap(0, PAGE, RW, MAP_SHARED, fd, 0);
    const buf = p.sys.mmap(0, PAGE, RW, MAP_PRIVATE | 0x20, -1, 0);
    p.mem.write8(a, 0x30);
    expect(p.sys.pread(fd, buf, 2, 0)).toBe(2);
    expect(p.mem.read8(buf)).toBe(0x30);
    p.mem.write8(buf, 0x31);
    expect(p.sys.pwrite(fd, buf, 1, 1)).toBe(1);
    expect(p.mem.read8(a + 1)).toBe(0x31);
  });

  it("read(fd, buf) into a buffer that maps the same file moves bytes within the file", () => {
    const { m, p } = setup();
    const fd = p.sys.open("/f", O_RDWR);
    const a = p.sys.mmap(0, 2 * PAGE, RW, MAP_SHARED, fd, 0);
    // Copy file bytes 0..9 onto file bytes 4096..4105, through the mapping of page 1.
    expect(p.sys.read(fd, a + PAGE, 10)).toBe(10);
    expect(p.sys.msync(a, 2 * PAGE, MS_SYNC)).toBe(0);
    m.fs.remount();
    expect(m.fs.readText("/f").slice(PAGE, PAGE + 12)).toBe("abcdefghijyz");
  });

  it("write(fd, buf) from a buffer that maps the same file copies within the file, faulting the mapping in", () => {
    const { m, p } = setup();
    const fd = p.sys.open("/f", O_RDWR);
    const a = p.sys.mmap(0, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    const minor = p.mm.pt.explain(a).includes("not mapped");
    expect(minor).toBe(true);
    // File bytes 0..9 written at file offset 4096 (page 1), read from the mapping of page 0.
    expect(p.sys.pwrite(fd, a, 10, PAGE)).toBe(10);
    expect(p.mm.pt.explain(a)).not.toContain("not mapped");
    // The mapping of page 1 sees the write at once: one page cache.
    expect(new TextDecoder().decode(p.mem.read(a + PAGE, 12))).toBe("abcdefghijyz");
    expect(p.sys.fsync(fd)).toBe(0);
    m.fs.remount();
    expect(m.fs.readText("/f").slice(PAGE, PAGE + 12)).toBe("abcdefghijyz");
  });

  it("a store over a hole gives the page its block at the first write (page_mkwrite)", () => {
    const { m, p } = boot();
    const fd = p.sys.open("/h", O_CREAT | O_RDWR, 0o644);
    expect(p.sys.ftruncate(fd, 2 * PAGE)).toBe(0);
    const free = fsStat(m, "freeBlocks");
    const a = p.sys.mmap(0, 2 * PAGE, RW, MAP_SHARED, fd, 0);
    expect(p.mem.read8(a + PAGE)).toBe(0);
    expect(fsStat(m, "freeBlocks")).toBe(free);
    p.mem.write8(a + PAGE, 7);
    expect(fsStat(m, "freeBlocks")).toBe(free - 1);
    expect(p.sys.munmap(a, 2 * PAGE)).toBe(0);
    m.fs.remount();
    expect(m.fs.readFile("/h")[PAGE]).toBe(7);
    m.check();
  });

  it("a store over a hole when the block allocation fails is SIGBUS (BUS_ADRERR); another process's store gets the block", () => {
    const { m, p } = boot();
    const fd = p.sys.open("/h", O_CREAT | O_RDWR, 0o644);
    expect(p.sys.ftruncate(fd, PAGE)).toBe(0);
    const free = fsStat(m, "freeBlocks");
    const a = p.sys.mmap(0, PAGE, RW, MAP_SHARED, fd, 0);
    m.faults.failBlockAlloc({ nth: 1 });
    const e = busError(() => p.mem.write8(a + 5, 9));
    // The default action of SIGBUS kills the process; no block was taken.
    expect([e.code, e.addr, p.state, fsStat(m, "freeBlocks")]).toEqual([BUS_ADRERR, a + 5, "killed", free]);
    const q = m.spawn("q");
    const qfd = q.sys.open("/h", O_RDWR);
    const b = q.sys.mmap(0, PAGE, RW, MAP_SHARED, qfd, 0);
    q.mem.write8(b + 5, 9);
    expect(fsStat(m, "freeBlocks")).toBe(free - 1);
    expect(q.sys.fsync(qfd)).toBe(0);
    m.fs.remount();
    expect(m.fs.readFile("/h")[5]).toBe(9);
    m.check();
  });
});

describe("MAP_PRIVATE: copies, never written back", () => {
  it("a write copies the page: the file, read() and a shared mapping keep the old bytes", () => {
    const { m, p } = setup();
    const fd = p.sys.open("/f", O_RDWR);
    const v = p.sys.mmap(0, PAGE, RW, MAP_PRIVATE, fd, 0);
    const s = p.sys.mmap(0, PAGE, RW, MAP_SHARED, fd, 0);
    expect(p.mem.read8(v)).toBe(97);
    p.mem.write8(v, 0x21);
    expect(p.mem.read8(v)).toBe(0x21);
    expect(p.mem.read8(s)).toBe(97);
    expect(p.sys.msync(v, PAGE, MS_SYNC)).toBe(0);
    expect(p.sys.munmap(v, PAGE)).toBe(0);
    m.fs.remount();
    expect(m.fs.readFile("/f")[0]).toBe(97);
  });

  it("a store through a shared mapping shows in a private page not yet copied, not in a copied one", () => {
    const { p } = setup();
    const fd = p.sys.open("/f", O_RDWR);
    const v = p.sys.mmap(0, 2 * PAGE, RW, MAP_PRIVATE, fd, 0);
    const s = p.sys.mmap(0, 2 * PAGE, RW, MAP_SHARED, fd, 0);
    expect(p.mem.read8(v)).toBe(97);
    p.mem.write8(v + PAGE, 1);
    p.mem.write8(s, 0x7a);
    p.mem.write8(s + PAGE, 0x7b);
    expect(p.mem.read8(v)).toBe(0x7a);
    expect(p.mem.read8(v + PAGE)).toBe(1);
  });
});

describe("the end of the file", () => {
  it("the last page reads zeros past EOF; a page past it is SIGBUS (BUS_ADRERR) at the exact address", () => {
    const { p } = setup(2 * PAGE + 100);
    const fd = p.sys.open("/f", O_RDWR);
    const a = p.sys.mmap(0, 4 * PAGE, RW, MAP_SHARED, fd, 0);
    expect(p.mem.read8(a + 2 * PAGE + 99)).toBe(97 + ((2 * PAGE + 99) % 26));
    expect(p.mem.read8(a + 2 * PAGE + 100)).toBe(0);
    expect(p.mem.read8(a + 3 * PAGE - 1)).toBe(0);
    const e = busError(() => p.mem.read8(a + 3 * PAGE + 5));
    expect(e.code).toBe(BUS_ADRERR);
    expect(e.addr).toBe(a + 3 * PAGE + 5);
  });

  it("bytes stored past EOF in the last page never reach the file", () => {
    const { m, p } = setup(100);
    const fd = p.sys.open("/f", O_RDWR);
    const a = p.sys.mmap(0, PAGE, RW, MAP_SHARED, fd, 0);
    p.mem.write8(a + 200, 9);
    expect(p.sys.munmap(a, PAGE)).toBe(0);
    expect(p.sys.fsync(fd)).toBe(0);
    expect(m.fs.readFile("/f").length).toBe(100);
  });

  it("ftruncate shrinking a mapped file: the cut pages are SIGBUS in every mapping, private copies included", () => {
    const { m, p } = setup(3 * PAGE);
    const q = m.spawn("q");
    const fd = p.sys.open("/f", O_RDWR);
    const s = p.sys.mmap(0, 3 * PAGE, RW, MAP_SHARED, fd, 0);
    const qfd = q.sys.open("/f", O_RDONLY);
    const v = q.sys.mmap(0, 3 * PAGE, RW, MAP_PRIVATE, qfd, 0);
    p.mem.write8(s + 2 * PAGE, 1);
    q.mem.write8(v + 2 * PAGE, 2);
    expect(p.sys.ftruncate(fd, PAGE + 10)).toBe(0);
    expect(p.mem.read8(s + PAGE + 9)).toBe(97 + ((PAGE + 9) % 26));
    expect(p.mem.read8(s + PAGE + 10)).toBe(0);
    expect(q.mem.read8(v + PAGE + 10)).toBe(0);
    m.check();
    expect(busError(() => p.mem.read8(s + 2 * PAGE)).addr).toBe(s + 2 * PAGE);
    expect(busError(() => q.mem.read8(v + 2 * PAGE)).addr).toBe(v + 2 * PAGE);
    m.check();
  });
});

describe("fork, /proc and meminfo", () => {
  it("after fork a shared mapping stays shared and a private one copy-on-write", () => {
    const { m, p } = setup();
    const fd = p.sys.open("/f", O_RDWR);
    const s = p.sys.mmap(0, PAGE, RW, MAP_SHARED, fd, 0);
    const v = p.sys.mmap(0, PAGE, RW, MAP_PRIVATE, fd, 0);
    p.mem.write8(v, 1);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    c.mem.write8(s, 0x55);
    expect(p.mem.read8(s)).toBe(0x55);
    c.mem.write8(v, 2);
    expect(p.mem.read8(v)).toBe(1);
    expect(c.mem.read8(v + 1)).toBe(98);
    m.check();
    c.exit(0);
    m.check();
  });

  it("maps shows offset, device, inode and path; '(deleted)' once unlinked", () => {
    const { p } = setup();
    const fd = p.sys.open("/f", O_RDWR);
    const ino = statIno(p, fd);
    const a = p.sys.mmap(0, PAGE, PROT_READ, MAP_PRIVATE, fd, PAGE);
    const head = `${a.toString(16)}-${(a + PAGE).toString(16)} r--p 00001000 08:01 ${ino}`;
    expect(p.proc.maps()).toContain(`${head.padEnd(72)} /f\n`);
    expect(p.sys.unlink("/f")).toBe(0);
    expect(p.proc.maps()).toContain(`${head.padEnd(72)} /f (deleted)\n`);
    expect(p.mem.read8(a)).toBe(97 + (PAGE % 26));
  });

  it("smaps counts file pages as Linux does: mapped once is private, twice shared; Anonymous only for copies", () => {
    const { p } = setup(4 * PAGE);
    const fd = p.sys.open("/f", O_RDWR);
    const s = p.sys.mmap(0, 4 * PAGE, RW, MAP_SHARED, fd, 0);
    const v = p.sys.mmap(0, 4 * PAGE, RW, MAP_PRIVATE, fd, 0);
    p.mem.read8(s); // page 0: mapped by s and v
    p.mem.read8(v);
    p.mem.write8(s + PAGE, 1); // page 1: s only, dirty
    p.mem.read8(s + 2 * PAGE); // page 2: s only, clean
    p.mem.write8(v + 3 * PAGE, 1); // page 3: v's private copy
    const block = (addr: number) => {
      const text = p.proc.smaps();
      const at = text.indexOf(`${addr.toString(16)}-`);
      return text.slice(at, text.indexOf("VmFlags", at));
    };
    const field = (b: string, k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(b)?.[1]);
    const sb = block(s);
    expect([field(sb, "Rss"), field(sb, "Shared_Clean"), field(sb, "Private_Clean"), field(sb, "Private_Dirty")]).toEqual([12, 4, 4, 4]);
    expect([field(sb, "Pss"), field(sb, "Anonymous")]).toEqual([10, 0]);
    const vb = block(v);
    expect([field(vb, "Rss"), field(vb, "Shared_Clean"), field(vb, "Private_Dirty"), field(vb, "Anonymous")]).toEqual([8, 4, 4, 4]);
    expect(p.proc.status()).toMatch(/RssFile:\s+16 kB/);
  });

  it("smaps Shared_Dirty: a dirty page two processes map; fsync makes it Shared_Clean", () => {
    const { p } = setup(2 * PAGE);
    const fd = p.sys.open("/f", O_RDWR);
    const s = p.sys.mmap(0, 2 * PAGE, RW, MAP_SHARED, fd, 0);
    p.mem.write8(s, 1); // page 0 dirty
    p.mem.read8(s + PAGE); // page 1 clean
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    c.mem.read8(s);
    c.mem.read8(s + PAGE);
    const fields = () => {
      const text = p.proc.smaps();
      const at = text.indexOf(`${s.toString(16)}-`);
      const b = text.slice(at, text.indexOf("VmFlags", at));
      const k = ["Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty"];
      return k.map((name) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(b)?.[1]));
    };
    // Both pages mapped twice: shared, Pss half of each.
    expect(fields()).toEqual([8, 4, 4, 4, 0, 0]);
    expect(p.sys.fsync(fd)).toBe(0);
    expect(fields()).toEqual([8, 4, 8, 0, 0, 0]);
    c.exit(0);
    expect(fields()).toEqual([8, 8, 0, 0, 8, 0]);
  });

  it("meminfo Mapped counts cached pages some process maps; drop_caches leaves them", () => {
    const { m, p } = setup(4 * PAGE);
    const fd = p.sys.open("/f", O_RDONLY);
    const a = p.sys.mmap(0, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    m.fs.remount();
    p.mem.read8(a);
    p.mem.read8(a + PAGE);
    expect(meminfo(m, "Mapped")).toBe(8);
    expect(p.sys.pread(fd, a, 0, 0)).toBe(0);
    m.dropCaches();
    expect(meminfo(m, "Cached")).toBe(8);
    expect(p.sys.munmap(a, 4 * PAGE)).toBe(0);
    expect(meminfo(m, "Mapped")).toBe(0);
    m.dropCaches();
    expect(meminfo(m, "Cached")).toBe(0);
  });

  it("MAP_FIXED over a file mapping drops its reference; the file closes with the last one", () => {
    const { m, p } = setup();
    const fd = p.sys.open("/f", O_RDWR);
    const a = p.sys.mmap(0, 2 * PAGE, RW, MAP_SHARED, fd, 0);
    expect(p.sys.close(fd)).toBe(0);
    expect(p.sys.unlink("/f")).toBe(0);
    const free = fsStat(m, "freeBlocks");
    expect(p.sys.mmap(a, PAGE, RW, MAP_PRIVATE | MAP_FIXED | 0x20, -1, 0)).toBe(a);
    expect(fsStat(m, "freeBlocks")).toBe(free);
    expect(p.sys.munmap(a + PAGE, PAGE)).toBe(0);
    expect(fsStat(m, "freeBlocks")).toBe(free + 3);
    m.check();
  });
});

describe("the i_mmap list of a file", () => {
  it("holds one VMA per mapping through mmap, a split, fork, a merge, mremap, munmap and exit", () => {
    const { m, p } = setup(4 * PAGE);
    const fd = p.sys.open("/f", O_RDWR);
    const a = p.sys.mmap(0, 4 * PAGE, RW, MAP_SHARED, fd, 0);
    expect(m.fs.mappings("/f")).toBe(1);
    // mprotect of the middle two pages: three VMAs; back to RW merges them into one.
    expect(p.sys.mprotect(a + PAGE, 2 * PAGE, PROT_READ)).toBe(0);
    expect(m.fs.mappings("/f")).toBe(3);
    m.check();
    const child = p.fork();
    if (child === null) throw new Error("fork failed");
    expect(m.fs.mappings("/f")).toBe(6);
    expect(p.sys.mprotect(a + PAGE, 2 * PAGE, RW)).toBe(0);
    expect(m.fs.mappings("/f")).toBe(4);
    // mremap moves the parent's VMA: one leaves the list, one joins it.
    const b = p.sys.mremap(a, 4 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, a + 64 * PAGE);
    expect(b).toBe(a + 64 * PAGE);
    expect(m.fs.mappings("/f")).toBe(4);
    // munmap of the first page of the moved VMA leaves the rest; the child's three go at exit.
    expect(p.sys.munmap(b, PAGE)).toBe(0);
    expect(m.fs.mappings("/f")).toBe(4);
    child.exit(0);
    expect(m.fs.mappings("/f")).toBe(1);
    m.check();
    expect(p.sys.munmap(b + PAGE, 3 * PAGE)).toBe(0);
    expect(m.fs.mappings("/f")).toBe(0);
  });
});

describe("MAP_POPULATE, mprotect and mremap on file mappings", () => {
  it("a hole page read through a read-only shared mapping gets its block when mprotect makes it writable and it is stored to", () => {
    const { m, p } = boot();
    const fd = p.sys.open("/h", O_CREAT | O_RDWR, 0o644);
    expect(p.sys.ftruncate(fd, PAGE)).toBe(0);
    const a = p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    expect(p.mem.read8(a)).toBe(0);
    expect(p.sys.mprotect(a, PAGE, RW)).toBe(0);
    const free = fsStat(m, "freeBlocks");
    p.mem.write8(a, 5);
    expect(fsStat(m, "freeBlocks")).toBe(free - 1);
    expect(meminfo(m, "Dirty")).toBe(4);
    expect(p.sys.msync(a, PAGE, MS_SYNC)).toBe(0);
    m.fs.remount();
    expect(m.fs.readFile("/h")[0]).toBe(5);
    m.check();
  });

  it("MAP_POPULATE reads a shared file mapping in clean; a private writable one gets its copies", () => {
    const { m, p } = setup(2 * PAGE + 100);
    const fd = p.sys.open("/f", O_RDWR);
    const s = p.sys.mmap(0, 4 * PAGE, RW, MAP_SHARED | MAP_POPULATE, fd, 0);
    expect(meminfo(m, "Dirty")).toBe(0);
    expect(p.proc.status()).toMatch(/RssFile:\s+12 kB/);
    const v = p.sys.mmap(0, 2 * PAGE, RW, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    expect(p.proc.status()).toMatch(/RssAnon:\s+8 kB/);
    expect(p.mem.read8(v + 1)).toBe(98);
    expect(p.mem.read8(s + 1)).toBe(98);
    m.check();
  });

  it("mremap moves and grows a file mapping: the new range maps the file from the same offset", () => {
    const { m, p } = setup(3 * PAGE);
    const fd = p.sys.open("/f", O_RDWR);
    const a = p.sys.mmap(0, PAGE, RW, MAP_SHARED, fd, PAGE);
    p.mem.write8(a, 0x41);
    const b = p.sys.mremap(a, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
    expect(b).toBeGreaterThan(0);
    expect(p.mem.read8(b)).toBe(0x41);
    expect(p.mem.read8(b + PAGE)).toBe(97 + ((2 * PAGE) % 26));
    expect(p.proc.maps()).toContain(`${b.toString(16)}-${(b + 2 * PAGE).toString(16)} rw-s 00001000 08:01`);
    expect(p.sys.munmap(b, 2 * PAGE)).toBe(0);
    m.fs.remount();
    expect(m.fs.readFile("/f")[PAGE]).toBe(0x41);
    m.check();
  });
});

/** A counter of the file layer's stats (blockWrites, freeBlocks ...). */
function vmstatOf(m: ReturnType<typeof boot>["m"], key: string): number {
  const line = m.proc
    .vmstat()
    .split("\n")
    .find((l) => l.startsWith(`${key} `));
  return Number(line?.split(" ")[1]);
}

function fsStat(m: ReturnType<typeof boot>["m"], key: string): number {
  return (m.stats().fs as Record<string, number>)[key] as number;
}

/** st_ino of `fd` (struct stat offset 8). */
function statIno(p: ReturnType<typeof boot>["p"], fd: number): number {
  const buf = p.sys.mmap(0, PAGE, RW, MAP_PRIVATE | 0x20, -1, 0);
  expect(p.sys.fstat(fd, buf)).toBe(0);
  return p.mem.read32(buf + 8);
}
