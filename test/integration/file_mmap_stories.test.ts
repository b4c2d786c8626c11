/**
 * The xv6 mmap lab's mmaptest and Pintos's mmap-* tests, told as memsim
 * stories with Linux's answers where the teaching kernels differ (their
 * expectations are noted beside each story).
 */
import { describe, expect, it } from "vitest";
import {
  BusError,
  EBADF,
  EEXIST,
  EINVAL,
  EPERM,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_PRIVATE,
  MAP_SHARED,
  O_CREAT,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  PROT_READ,
  PROT_WRITE,
  SegmentationFault,
} from "../../sim/index.ts";
import { boot, PAGE } from "../conformance/helpers.ts";

const RW = PROT_READ | PROT_WRITE;
type P = ReturnType<typeof boot>["p"];

/** Writes `bytes` through a scratch buffer of `p` to descriptor fd. */
function put(p: P, fd: number, bytes: Uint8Array): void {
  const buf = p.sys.mmap(0, Math.max(PAGE, bytes.length), RW, MAP_PRIVATE | MAP_ANONYMOUS);
  p.mem.write(buf, bytes);
  expect(p.sys.write(fd, buf, bytes.length)).toBe(bytes.length);
  expect(p.sys.munmap(buf, Math.max(PAGE, bytes.length))).toBe(0);
}

/** xv6's makefile(): 1.5 pages of 'A'. */
function makefile(p: P, path: string): void {
  p.sys.unlink(path);
  const fd = p.sys.open(path, O_WRONLY | O_CREAT, 0o644);
  put(p, fd, new Uint8Array(PAGE + PAGE / 2).fill(65));
  expect(p.sys.close(fd)).toBe(0);
}

/** xv6's _v1(): 1.5 pages of 'A' then zeros to the end of the second page. */
function v1(p: P, at: number): void {
  const b = p.mem.read(at, 2 * PAGE);
  const want = new Uint8Array(2 * PAGE);
  want.fill(65, 0, PAGE + PAGE / 2);
  expect(b).toEqual(want);
}

/** `len` bytes at `at` of `p` as text. */
function str(p: P, at: number, len: number): string {
  return new TextDecoder().decode(p.mem.read(at, len));
}

function killed(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    if (e instanceof SegmentationFault || e instanceof BusError) return e;
    throw e;
  }
  throw new Error("expected the access to kill the process");
}

describe("xv6 mmaptest", () => {
  it("mmap_test: read-only private, private writable of a read-only fd, shared of read-only refused, dirty write-back, two files", () => {
    const { m, p } = boot();
    makefile(p, "/mmap.dur");
    let fd = p.sys.open("/mmap.dur", O_RDONLY);
    let a = p.sys.mmap(0, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    v1(p, a);
    expect(p.sys.munmap(a, 2 * PAGE)).toBe(0);
    a = p.sys.mmap(0, 2 * PAGE, RW, MAP_PRIVATE, fd, 0);
    expect(p.sys.close(fd)).toBe(0);
    v1(p, a);
    p.mem.fill(a, 90, 2 * PAGE);
    expect(p.sys.munmap(a, 2 * PAGE)).toBe(0);
    expect(m.fs.readText("/mmap.dur")).toBe("A".repeat(PAGE + PAGE / 2));
    fd = p.sys.open("/mmap.dur", O_RDONLY);
    expect(p.libc.mmap(0, 3 * PAGE, RW, MAP_SHARED, fd, 0)).toBe(-1);
    expect(p.sys.close(fd)).toBe(0);
    fd = p.sys.open("/mmap.dur", O_RDWR);
    a = p.sys.mmap(0, 3 * PAGE, RW, MAP_SHARED, fd, 0);
    expect(p.sys.close(fd)).toBe(0);
    v1(p, a);
    // Bytes past EOF in the last page are stored but never reach the file.
    p.mem.fill(a, 90, 2 * PAGE);
    expect(p.sys.munmap(a, 2 * PAGE)).toBe(0);
    expect(m.fs.readText("/mmap.dur")).toBe("Z".repeat(PAGE + PAGE / 2));
    // The third page lies past the last page of the file: unmapping it is fine, touching it would be SIGBUS.
    expect(p.sys.munmap(a + 2 * PAGE, PAGE)).toBe(0);
    const fd1 = p.sys.open("/mmap1", O_RDWR | O_CREAT, 0o644);
    put(p, fd1, new TextEncoder().encode("12345"));
    const p1 = p.sys.mmap(0, PAGE, PROT_READ, MAP_PRIVATE, fd1, 0);
    p.sys.close(fd1);
    p.sys.unlink("/mmap1");
    const fd2 = p.sys.open("/mmap2", O_RDWR | O_CREAT, 0o644);
    put(p, fd2, new TextEncoder().encode("67890"));
    const p2 = p.sys.mmap(0, PAGE, PROT_READ, MAP_PRIVATE, fd2, 0);
    p.sys.close(fd2);
    p.sys.unlink("/mmap2");
    expect(str(p, p1, 5)).toBe("12345");
    expect(str(p, p2, 5)).toBe("67890");
    expect(p.sys.munmap(p1, PAGE)).toBe(0);
    expect(str(p, p2, 5)).toBe("67890");
    expect(p.sys.munmap(p2, PAGE)).toBe(0);
    m.check();
  });

  it("fork_test: a child sees the parent's shared mappings of an unlinked file and unmaps its own copy only", () => {
    const { m, p } = boot();
    makefile(p, "/mmap.dur");
    const fd = p.sys.open("/mmap.dur", O_RDONLY);
    p.sys.unlink("/mmap.dur");
    const p1 = p.sys.mmap(0, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    const p2 = p.sys.mmap(0, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    expect(p.mem.read8(p1 + PAGE)).toBe(65);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    v1(c, p1);
    expect(c.sys.munmap(p1, PAGE)).toBe(0);
    c.exit(0);
    v1(p, p1);
    v1(p, p2);
    m.check();
  });
});

describe("Pintos mmap-*", () => {
  const sample = "=== ALL USERS PLEASE NOTE ========================\n\nCAR and CDR now return extra values.\n";

  function withSample() {
    const { m, p } = boot();
    m.fs.writeFile("/sample.txt", sample);
    return { m, p };
  }

  it("mmap-read: the mapping reads as the file", () => {
    const { p } = withSample();
    const fd = p.sys.open("/sample.txt", O_RDONLY);
    const a = p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    expect(str(p, a, sample.length)).toBe(sample);
    expect(p.sys.munmap(a, PAGE)).toBe(0);
  });

  it("mmap-write: bytes written to a mapping are in the file after munmap", () => {
    const { m, p } = boot();
    const fd = p.sys.open("/sample.txt", O_RDWR | O_CREAT, 0o644);
    expect(p.sys.ftruncate(fd, sample.length)).toBe(0);
    const a = p.sys.mmap(0, PAGE, RW, MAP_SHARED, fd, 0);
    p.mem.write(a, new TextEncoder().encode(sample));
    expect(p.sys.munmap(a, PAGE)).toBe(0);
    m.fs.sync();
    m.fs.remount();
    expect(m.fs.readText("/sample.txt")).toBe(sample);
  });

  it("mmap-shuffle: shuffling a mapped file in place keeps its bytes' sum", () => {
    const { m, p } = boot();
    const size = 4 * PAGE;
    const fd = p.sys.open("/buffer", O_RDWR | O_CREAT, 0o644);
    expect(p.sys.ftruncate(fd, size)).toBe(0);
    const a = p.sys.mmap(0, size, RW, MAP_SHARED, fd, 0);
    for (let i = 0; i < size; i++) p.mem.write8(a + i, i & 0xff);
    let x = 12345;
    for (let i = size - 1; i > 0; i--) {
      x = (x * 1103515245 + 12345) >>> 0;
      const j = x % (i + 1);
      const t = p.mem.read8(a + i);
      p.mem.write8(a + i, p.mem.read8(a + j));
      p.mem.write8(a + j, t);
    }
    expect(p.sys.munmap(a, size)).toBe(0);
    const bytes = m.fs.readFile("/buffer");
    expect(bytes.reduce((s, b) => s + b, 0)).toBe((64 * 255 * 256) / 2);
  });

  it("mmap-twice: one file opened twice and mapped twice reads the same through both", () => {
    const { p } = withSample();
    const a = p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, p.sys.open("/sample.txt", O_RDONLY), 0);
    const b = p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, p.sys.open("/sample.txt", O_RDONLY), 0);
    expect(a).not.toBe(b);
    expect(str(p, a, sample.length)).toBe(sample);
    expect(str(p, b, sample.length)).toBe(sample);
  });

  it("mmap-unmap: touching an unmapped mapping is SIGSEGV", () => {
    const { p } = withSample();
    const a = p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, p.sys.open("/sample.txt", O_RDONLY), 0);
    expect(p.sys.munmap(a, PAGE)).toBe(0);
    expect(killed(() => p.mem.read8(a))).toBeInstanceOf(SegmentationFault);
  });

  it("mmap-exit: a child's stores reach the file when it exits", () => {
    const { m, p } = boot();
    const fd = p.sys.open("/sample.txt", O_RDWR | O_CREAT, 0o644);
    expect(p.sys.ftruncate(fd, sample.length)).toBe(0);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    const a = c.sys.mmap(0, PAGE, RW, MAP_SHARED, fd, 0);
    c.mem.write(a, new TextEncoder().encode(sample));
    c.exit(0);
    expect(m.fs.readText("/sample.txt")).toBe(sample);
    m.check();
  });

  it("mmap-clean: a mapping never written puts nothing back over a later write()", () => {
    const { m, p } = withSample();
    const fd = p.sys.open("/sample.txt", O_RDWR);
    const a = p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    expect(str(p, a, 3)).toBe("===");
    const writes = (m.stats().fs as Record<string, number>).blockWrites as number;
    put(p, fd, new TextEncoder().encode("CHANGED"));
    expect(p.sys.munmap(a, PAGE)).toBe(0);
    expect(p.sys.fsync(fd)).toBe(0);
    expect(m.fs.readText("/sample.txt").slice(0, 13)).toBe("CHANGED USERS");
    expect(((m.stats().fs as Record<string, number>).blockWrites as number) - writes).toBe(1);
  });

  it("mmap-close: the mapping outlives close(fd)", () => {
    const { p } = withSample();
    const fd = p.sys.open("/sample.txt", O_RDONLY);
    const a = p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    expect(p.sys.close(fd)).toBe(0);
    expect(str(p, a, sample.length)).toBe(sample);
  });

  it("mmap-remove: the mapping outlives unlink; a new file of that name is another file", () => {
    const { m, p } = withSample();
    const fd = p.sys.open("/sample.txt", O_RDWR);
    const a = p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    expect(p.sys.close(fd)).toBe(0);
    expect(p.sys.unlink("/sample.txt")).toBe(0);
    const nfd = p.sys.open("/sample.txt", O_RDWR | O_CREAT, 0o644);
    put(p, nfd, new TextEncoder().encode("new"));
    expect(str(p, a, sample.length)).toBe(sample);
    expect(m.fs.readText("/sample.txt")).toBe("new");
  });

  it("mmap-overlap: a hint over an existing mapping gets another place; MAP_FIXED_NOREPLACE is EEXIST (Pintos: fails)", () => {
    const { p } = withSample();
    const fd = p.sys.open("/sample.txt", O_RDONLY);
    const a = p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    const b = p.sys.mmap(a, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    expect(b).not.toBe(a);
    expect(p.sys.mmap(a, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0)).toBe(-EEXIST);
  });

  it("mmap-over-code / -data / -stk: MAP_FIXED_NOREPLACE over a program's mappings is EEXIST", () => {
    const { m, p } = withSample();
    m.fs.mkdirs("/bin");
    m.fs.writeExecutable("/bin/prog", { text: new Uint8Array(100).fill(0x90), data: new Uint8Array(10).fill(1), bssBytes: 8, entry: 0 });
    const q = m.spawn("prog", { exec: "/bin/prog" });
    const fd = q.sys.open("/sample.txt", O_RDONLY);
    for (const line of q.proc.maps().trim().split("\n")) {
      const start = Number.parseInt(line.split("-")[0] as string, 16);
      expect(q.sys.mmap(start, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0)).toBe(-EEXIST);
    }
    expect(p.pid).not.toBe(q.pid);
  });

  it("mmap-bad-fd: EBADF", () => {
    const { p } = withSample();
    expect(p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, 0x5555, 0)).toBe(-EBADF);
  });

  it("mmap-zero: an empty file maps (Pintos refuses) but every page is SIGBUS; a zero length is EINVAL", () => {
    const { p } = boot();
    const fd = p.sys.open("/empty", O_RDWR | O_CREAT, 0o644);
    expect(p.sys.mmap(0, 0, PROT_READ, MAP_SHARED, fd, 0)).toBe(-EINVAL);
    const a = p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    expect(a).toBeGreaterThan(0);
    expect(killed(() => p.mem.read8(a))).toBeInstanceOf(BusError);
  });

  it("mmap-misalign: an unaligned hint is rounded; an unaligned MAP_FIXED is EINVAL", () => {
    const { p } = withSample();
    const fd = p.sys.open("/sample.txt", O_RDONLY);
    const a = p.sys.mmap(0x10001234, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    expect(a).toBe(0x10001000);
    expect(p.sys.mmap(0x20001234, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(-EINVAL);
  });

  it("mmap-null: MAP_FIXED at address 0 is EPERM (below mmap_min_addr)", () => {
    const { p } = withSample();
    const fd = p.sys.open("/sample.txt", O_RDONLY);
    expect(p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0)).toBe(-EPERM);
  });

  it("mmap-inherit: a new program does not inherit the mapping (SIGSEGV there); a forked child does", () => {
    const { m, p } = withSample();
    const fd = p.sys.open("/sample.txt", O_RDONLY);
    const a = p.sys.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    expect(str(c, a, 3)).toBe("===");
    const q = m.spawn("child-simple");
    expect(killed(() => q.mem.read8(a))).toBeInstanceOf(SegmentationFault);
  });
});
