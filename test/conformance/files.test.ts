import { describe, expect, it } from "vitest";
import {
  EACCES,
  EBADF,
  EEXIST,
  EFAULT,
  EINVAL,
  EISDIR,
  ENOENT,
  ENOSPC,
  ENOTDIR,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  O_APPEND,
  O_CREAT,
  O_EXCL,
  O_RDONLY,
  O_RDWR,
  O_TRUNC,
  O_WRONLY,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  S_IFDIR,
  S_IFREG,
  SEEK_CUR,
  SEEK_END,
  SEEK_SET,
} from "../../sim/index.ts";
import { boot, meminfo, PAGE } from "./helpers.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A machine, a process, and an 8-page read-write buffer in it (not yet faulted in). */
function setup(opts = {}) {
  const { m, p } = boot(opts);
  const buf = p.sys.mmap(0, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  return { m, p, buf };
}

describe("open, read, write, lseek through the page cache", () => {
  it("write then read back through a second descriptor; the position advances", () => {
    const { m, p, buf } = setup();
    const fd = p.sys.open("/hello", O_CREAT | O_WRONLY, 0o644);
    expect(fd).toBe(0);
    p.mem.write(buf, enc("hello, world"));
    expect(p.sys.write(fd, buf, 12)).toBe(12);
    expect(p.sys.lseek(fd, 0, SEEK_CUR)).toBe(12);
    const rd = p.sys.open("/hello", O_RDONLY);
    expect(rd).toBe(1);
    expect(p.sys.read(rd, buf + PAGE, 100)).toBe(12);
    expect(dec(p.mem.read(buf + PAGE, 12))).toBe("hello, world");
    expect(p.sys.read(rd, buf + PAGE, 100)).toBe(0);
    expect(m.fs.readText("/hello")).toBe("hello, world");
    m.check();
  });

  it("read into a buffer never touched faults it in from kernel mode, counted as a minor fault", () => {
    const { m, p, buf } = setup();
    m.fs.writeFile("/data", new Uint8Array(2 * PAGE).fill(0x5a));
    const fd = p.sys.open("/data", O_RDONLY);
    const before = p.minflt;
    expect(p.sys.read(fd, buf, 2 * PAGE)).toBe(2 * PAGE);
    expect(p.minflt - before).toBe(2);
    expect(p.mem.read8(buf + 2 * PAGE - 1)).toBe(0x5a);
  });

  it("a read into a buffer that runs into an unmapped page copies up to it; none at all is EFAULT", () => {
    const { m, p, buf } = setup();
    m.fs.writeFile("/data", new Uint8Array(3 * PAGE).fill(7));
    expect(p.sys.munmap(buf + 2 * PAGE, PAGE)).toBe(0);
    const fd = p.sys.open("/data", O_RDONLY);
    expect(p.sys.read(fd, buf + PAGE, 3 * PAGE)).toBe(PAGE);
    expect(p.sys.read(fd, buf + 2 * PAGE, 100)).toBe(-EFAULT);
    expect(p.state).toBe("running");
  });

  it("write from a PROT_NONE buffer is EFAULT; into a read-only buffer read is EFAULT", () => {
    const { p, buf } = setup();
    const fd = p.sys.open("/f", O_CREAT | O_RDWR, 0o644);
    expect(p.sys.mprotect(buf, PAGE, PROT_NONE)).toBe(0);
    expect(p.sys.write(fd, buf, 10)).toBe(-EFAULT);
    expect(p.sys.lseek(fd, 0, SEEK_END)).toBe(0);
    expect(p.sys.write(fd, buf + PAGE, 10)).toBe(10);
    expect(p.sys.mprotect(buf + PAGE, PAGE, PROT_READ)).toBe(0);
    expect(p.sys.pread(fd, buf + PAGE, 10, 0)).toBe(-EFAULT);
    expect(p.sys.read(fd, 0x1000, 10)).toBe(0);
    expect(p.sys.pread(fd, 2 ** 47 - 4, 10, 0)).toBe(-EFAULT);
  });

  it("O_APPEND writes at the end whatever the position; O_TRUNC empties the file", () => {
    const { m, p, buf } = setup();
    m.fs.writeFile("/log", "abc");
    const fd = p.sys.open("/log", O_WRONLY | O_APPEND);
    p.mem.write(buf, enc("de"));
    expect(p.sys.lseek(fd, 0, SEEK_SET)).toBe(0);
    expect(p.sys.write(fd, buf, 2)).toBe(2);
    expect(p.sys.pwrite(fd, buf, 1, 0)).toBe(1);
    expect(m.fs.readText("/log")).toBe("abcded");
    const t = p.sys.open("/log", O_WRONLY | O_TRUNC);
    expect(t).toBeGreaterThanOrEqual(0);
    expect(m.fs.readText("/log")).toBe("");
  });

  it("lseek past the end then write leaves a hole that reads as zeros", () => {
    const { m, p, buf } = setup();
    const fd = p.sys.open("/sparse", O_CREAT | O_RDWR, 0o600);
    expect(p.sys.lseek(fd, 3 * PAGE + 5, SEEK_SET)).toBe(3 * PAGE + 5);
    p.mem.write(buf, enc("Z"));
    expect(p.sys.write(fd, buf, 1)).toBe(1);
    const got = m.fs.readFile("/sparse");
    expect(got.length).toBe(3 * PAGE + 6);
    expect(got.subarray(0, 3 * PAGE + 5).every((b) => b === 0)).toBe(true);
    expect(got[3 * PAGE + 5]).toBe(0x5a);
    m.check();
  });

  it("ftruncate shrinks and grows; the bytes past the old end read 0", () => {
    const { m, p } = setup();
    m.fs.writeFile("/t", new Uint8Array(PAGE + 100).fill(9));
    const fd = p.sys.open("/t", O_RDWR);
    expect(p.sys.ftruncate(fd, 10)).toBe(0);
    expect(p.sys.ftruncate(fd, 20)).toBe(0);
    expect([...m.fs.readFile("/t")]).toEqual([...new Array(10).fill(9), ...new Array(10).fill(0)]);
    m.fs.remount();
    expect([...m.fs.readFile("/t")]).toEqual([...new Array(10).fill(9), ...new Array(10).fill(0)]);
    m.check();
  });

  it("fstat fills st_mode, st_size, st_nlink, st_ino, st_blksize and st_blocks at their x86-64 offsets", () => {
    const { m, p, buf } = setup();
    m.fs.writeFile("/s", new Uint8Array(5000));
    const fd = p.sys.open("/s", O_RDONLY);
    expect(p.sys.fstat(fd, buf)).toBe(0);
    expect(p.mem.read32(buf + 24)).toBe(S_IFREG | 0o644);
    expect(p.mem.read32(buf + 48)).toBe(5000);
    expect(p.mem.read32(buf + 16)).toBe(1);
    expect(p.mem.read32(buf + 8)).toBe(2);
    expect(p.mem.read32(buf + 56)).toBe(4096);
    expect(p.mem.read32(buf + 64)).toBe(16);
    expect(p.sys.mkdir("/d", 0o777)).toBe(0);
    const dfd = p.sys.open("/d", O_RDONLY);
    expect(p.sys.fstat(dfd, buf)).toBe(0);
    expect(p.mem.read32(buf + 24)).toBe(S_IFDIR | 0o755);
    expect(p.sys.fstat(fd, 0)).toBe(-EFAULT);
    expect(p.sys.fstat(99, buf)).toBe(-EBADF);
  });
});

describe("errno for bad arguments, as Linux gives them", () => {
  it("open: ENOENT, EEXIST, EISDIR, ENOTDIR, EACCES", () => {
    const { m, p } = setup();
    m.fs.writeFile("/file", "x");
    expect(p.sys.open("/missing", O_RDONLY)).toBe(-ENOENT);
    expect(p.sys.open("/no/dir/x", O_CREAT | O_WRONLY, 0o644)).toBe(-ENOENT);
    expect(p.sys.open("/file", O_CREAT | O_EXCL | O_WRONLY, 0o644)).toBe(-EEXIST);
    expect(p.sys.open("/", O_WRONLY)).toBe(-EISDIR);
    expect(p.sys.open("/file/x", O_RDONLY)).toBe(-ENOTDIR);
    expect(p.sys.open("", O_RDONLY)).toBe(-ENOENT);
    const ro = p.sys.open("/ro", O_CREAT | O_EXCL | O_RDWR, 0o444);
    expect(ro).toBeGreaterThanOrEqual(0);
    expect(p.sys.open("/ro", O_WRONLY)).toBe(-EACCES);
    expect(p.sys.open("/ro", O_RDONLY)).toBeGreaterThanOrEqual(0);
  });

  it("read, write, lseek, ftruncate, close: EBADF, EINVAL, EISDIR", () => {
    const { p, buf } = setup();
    const w = p.sys.open("/w", O_CREAT | O_WRONLY, 0o644);
    const r = p.sys.open("/w", O_RDONLY);
    const d = p.sys.open("/", O_RDONLY);
    expect(p.sys.read(w, buf, 1)).toBe(-EBADF);
    expect(p.sys.write(r, buf, 1)).toBe(-EBADF);
    expect(p.sys.read(-1, buf, 1)).toBe(-EBADF);
    expect(p.sys.read(d, buf, 1)).toBe(-EISDIR);
    expect(p.sys.read(r, buf, -1)).toBe(-EINVAL);
    expect(p.sys.pread(r, buf, 1, -1)).toBe(-EINVAL);
    expect(p.sys.lseek(r, -1, SEEK_SET)).toBe(-EINVAL);
    expect(p.sys.lseek(r, 0, 3)).toBe(-EINVAL);
    expect(p.sys.ftruncate(r, 0)).toBe(-EINVAL);
    expect(p.sys.ftruncate(w, -1)).toBe(-EINVAL);
    expect(p.sys.ftruncate(d, 0)).toBe(-EINVAL);
    expect(p.sys.close(w)).toBe(0);
    expect(p.sys.close(w)).toBe(-EBADF);
    expect(p.sys.fsync(w)).toBe(-EBADF);
  });

  it("write from a buffer that runs into an unmapped page writes up to it; pwrite of a PROT_NONE buffer is EFAULT", () => {
    const { m, p, buf } = setup();
    const fd = p.sys.open("/f", O_CREAT | O_RDWR, 0o644);
    p.mem.fill(buf + 7 * PAGE - 100, 0x61, 100);
    expect(p.sys.munmap(buf + 7 * PAGE, PAGE)).toBe(0);
    // The copy stops at the unmapped page: 100 bytes, the position after them.
    expect(p.sys.write(fd, buf + 7 * PAGE - 100, 300)).toBe(100);
    expect(p.sys.lseek(fd, 0, SEEK_CUR)).toBe(100);
    expect(p.sys.write(fd, buf + 7 * PAGE, 10)).toBe(-EFAULT);
    expect(p.sys.mprotect(buf, PAGE, PROT_NONE)).toBe(0);
    expect(p.sys.pwrite(fd, buf, 10, 0)).toBe(-EFAULT);
    expect(m.fs.readFile("/f").length).toBe(100);
    m.check();
  });

  it("fstat, fdatasync, pread, pwrite, dup: EBADF; fstat into a bad buffer EFAULT; pwrite at a negative offset EINVAL", () => {
    const { p, buf } = setup();
    const fd = p.sys.open("/f", O_CREAT | O_RDWR, 0o644);
    expect(p.sys.fstat(9, buf)).toBe(-EBADF);
    expect(p.sys.fdatasync(9)).toBe(-EBADF);
    expect(p.sys.pread(9, buf, 1, 0)).toBe(-EBADF);
    expect(p.sys.pwrite(9, buf, 1, 0)).toBe(-EBADF);
    expect(p.sys.pwrite(fd, buf, 1, -1)).toBe(-EINVAL);
    expect(p.sys.fstat(fd, 0)).toBe(-EFAULT);
    expect(p.sys.fstat(fd, 2 ** 47 - 16)).toBe(-EFAULT);
    expect(p.sys.fdatasync(fd)).toBe(0);
  });

  it("EACCES when the owner bits forbid the access: O_RDWR of a read-only file, O_RDONLY of a write-only one", () => {
    const { m, p } = setup();
    expect(p.sys.open("/ro", O_CREAT | O_EXCL | O_WRONLY, 0o444)).toBeGreaterThanOrEqual(0);
    expect(p.sys.open("/wo", O_CREAT | O_EXCL | O_WRONLY, 0o200)).toBeGreaterThanOrEqual(0);
    expect(p.sys.open("/ro", O_RDWR)).toBe(-EACCES);
    expect(p.sys.open("/ro", O_WRONLY | O_TRUNC)).toBe(-EACCES);
    expect(p.sys.open("/wo", O_RDONLY)).toBe(-EACCES);
    expect(p.sys.open("/wo", O_WRONLY)).toBeGreaterThanOrEqual(0);
    expect(m.fs.list("/")).toEqual(["ro", "wo"]);
  });

  it("unlink and mkdir: ENOENT, EISDIR, EEXIST, ENOTDIR", () => {
    const { m, p } = setup();
    m.fs.writeFile("/f", "x");
    expect(p.sys.unlink("/nope")).toBe(-ENOENT);
    expect(p.sys.mkdir("/dir", 0o755)).toBe(0);
    expect(p.sys.unlink("/dir")).toBe(-EISDIR);
    expect(p.sys.mkdir("/dir", 0o755)).toBe(-EEXIST);
    expect(p.sys.mkdir("/f", 0o755)).toBe(-EEXIST);
    expect(p.sys.mkdir("/f/x", 0o755)).toBe(-ENOTDIR);
    expect(p.sys.mkdir("/a/b", 0o755)).toBe(-ENOENT);
    expect(p.sys.unlink("/f")).toBe(0);
    expect(m.fs.list("/")).toEqual(["dir"]);
  });

  it("a full disk: write returns the bytes that fit, then ENOSPC", () => {
    const { m, p, buf } = setup({ fs: { sizeBytes: 64 << 10 } });
    const fd = p.sys.open("/big", O_CREAT | O_WRONLY, 0o644);
    const free = m.kernel.tasks.vfs!.fs.freeBlocks();
    expect(free).toBe(12);
    for (let i = 0; i < 12; i++) expect(p.sys.write(fd, buf, PAGE)).toBe(PAGE);
    expect(p.sys.write(fd, buf, PAGE)).toBe(-ENOSPC);
    expect(p.sys.lseek(fd, 0, SEEK_CUR)).toBe(12 * PAGE);
    m.check();
  });
});

describe("descriptors across dup, fork and exit", () => {
  it("dup and dup2 share the position; dup2 onto an open descriptor closes it first", () => {
    const { m, p, buf } = setup();
    m.fs.writeFile("/f", "0123456789");
    const a = p.sys.open("/f", O_RDONLY);
    const b = p.sys.dup(a);
    expect(b).toBe(a + 1);
    expect(p.sys.read(a, buf, 4)).toBe(4);
    expect(p.sys.lseek(b, 0, SEEK_CUR)).toBe(4);
    const c = p.sys.open("/f", O_RDONLY);
    expect(p.sys.dup2(a, c)).toBe(c);
    expect(p.sys.lseek(c, 0, SEEK_CUR)).toBe(4);
    expect(p.sys.dup2(a, a)).toBe(a);
    expect(p.sys.dup2(99, 5)).toBe(-EBADF);
    expect(p.sys.dup2(a, -1)).toBe(-EBADF);
    expect(p.sys.dup(77)).toBe(-EBADF);
  });

  it("a forked child inherits the descriptors and shares the position; exit closes them", () => {
    const { m, p, buf } = setup();
    m.fs.writeFile("/f", "abcdef");
    const fd = p.sys.open("/f", O_RDONLY);
    const child = p.fork()!;
    expect(child.sys.read(fd, buf, 2)).toBe(2);
    expect(dec(child.mem.read(buf, 2))).toBe("ab");
    expect(p.sys.lseek(fd, 0, SEEK_CUR)).toBe(2);
    child.exit(0);
    expect(p.sys.read(fd, buf, 2)).toBe(2);
    expect(dec(p.mem.read(buf, 2))).toBe("cd");
    m.check();
  });

  it("an unlinked file stays readable while open; its blocks are freed at the last close", () => {
    const { m, p, buf } = setup();
    const vfs = m.kernel.tasks.vfs!;
    m.fs.writeFile("/tmp", "");
    const free0 = vfs.fs.freeBlocks();
    m.fs.writeFile("/tmp", new Uint8Array(3 * PAGE).fill(1));
    const fd = p.sys.open("/tmp", O_RDONLY);
    expect(p.sys.unlink("/tmp")).toBe(0);
    expect(p.sys.open("/tmp", O_RDONLY)).toBe(-ENOENT);
    expect(p.sys.read(fd, buf, 5)).toBe(5);
    m.check();
    const child = p.fork()!;
    expect(p.sys.close(fd)).toBe(0);
    expect(vfs.fs.freeBlocks()).toBe(free0 - 3);
    child.exit(0);
    expect(vfs.fs.freeBlocks()).toBe(free0);
    expect(meminfo(m, "Cached")).toBe(0);
    m.check();
  });
});

describe("libc file wrappers", () => {
  it("a failing call returns -1 and sets errno; a successful one leaves errno alone", () => {
    const { p, buf } = setup();
    const f = p.libc.files;
    expect(f.open("/missing", O_RDONLY)).toBe(-1);
    expect(p.libc.errno).toBe(ENOENT);
    const fd = f.open("/x", O_CREAT | O_RDWR, 0o600);
    expect(fd).toBe(0);
    expect(p.libc.errno).toBe(ENOENT);
    p.mem.write(buf, enc("abc"));
    expect(f.write(fd, buf, 3)).toBe(3);
    expect(f.lseek(fd, 0, SEEK_SET)).toBe(0);
    expect(f.read(fd, buf + 8, 3)).toBe(3);
    expect(dec(p.mem.read(buf + 8, 3))).toBe("abc");
    expect(f.close(7)).toBe(-1);
    expect(p.libc.errno).toBe(EBADF);
  });
});
