import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PG_file } from "../../../kernel/mm/memmap.ts";
import { ConfigError, FsError, Machine } from "../../../sim/index.ts";

describe("the disk and sfs from the host side (m.fs)", () => {
  it("a file written from the host reads back byte for byte, and is listed in its directory", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    m.fs.mkdirs("/etc");
    m.fs.writeFile("/etc/motd", "hello, disk\n");
    expect(m.fs.readText("/etc/motd")).toBe("hello, disk\n");
    expect(m.fs.list("/")).toEqual(["etc"]);
    expect(m.fs.list("/etc")).toEqual(["motd"]);
    m.check();
  });

  it("a 3-page file spans the page cache and survives a remount from the disk alone", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    const big = new Uint8Array(3 * 4096 + 17).map((_, i) => (i * 7) & 0xff);
    m.fs.writeFile("/big", big);
    m.fs.remount();
    expect(m.kernel.tasks.vfs?.cache.nrPages).toBe(0);
    expect(m.fs.readFile("/big")).toEqual(big);
    m.check();
  });

  it("a file past the direct blocks uses the indirect block; truncating it back frees every block", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    const vfs = m.kernel.tasks.vfs!;
    m.fs.writeFile("/f", "");
    const free0 = vfs.fs.freeBlocks();
    m.fs.writeFile("/f", new Uint8Array(20 * 4096).fill(3));
    expect(free0 - vfs.fs.freeBlocks()).toBe(21);
    m.fs.writeFile("/f", new Uint8Array(0));
    expect(vfs.fs.freeBlocks()).toBe(free0);
    m.check();
  });

  it("missing paths and wrong kinds are refused with ENOENT and ENOTDIR", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    m.fs.writeFile("/a", "x");
    expect(() => m.fs.readFile("/nope")).toThrow(new FsError("/nope", 2));
    expect(() => m.fs.writeFile("/no/such", "x")).toThrow("m.fs: /no/such: ENOENT");
    expect(() => m.fs.list("/a")).toThrow("m.fs: /a: ENOTDIR");
  });

  it("a full disk refuses a write with ENOSPC and keeps no block of it", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, fs: { sizeBytes: 64 << 10 } });
    const vfs = m.kernel.tasks.vfs!;
    m.fs.writeFile("/huge", "");
    // 64 KiB: superblock, bitmap, inode table, the root's entries, then 12 data blocks, all direct.
    expect(vfs.fs.freeBlocks()).toBe(12);
    expect(() => m.fs.writeFile("/huge", new Uint8Array(13 * 4096))).toThrow("ENOSPC");
    expect(m.fs.readFile("/huge").length).toBe(12 * 4096);
    m.check();
  });

  it("boots with the files of a host folder", () => {
    const dir = mkdtempSync(join(tmpdir(), "memsim-fs-"));
    mkdirSync(join(dir, "lab"));
    writeFileSync(join(dir, "lab", "input.txt"), "42\n");
    writeFileSync(join(dir, "README"), "read me");
    const m = Machine.boot({ fs: { from: dir } });
    expect(m.fs.list("/")).toEqual(["README", "lab"]);
    expect(m.fs.readText("/lab/input.txt")).toBe("42\n");
    m.check();
  });

  it("bad fs options are rejected naming the option", () => {
    expect(() => Machine.boot({ fs: { sizeBytes: 5000 } })).toThrow(ConfigError);
    expect(() => Machine.boot({ fs: { sizeBytes: 5000 } })).toThrow("fs.sizeBytes must be an integer from 65536 to 1073741824, got 5000");
    expect(() => Machine.boot({ fs: { sizeBytes: 70000 } })).toThrow("fs.sizeBytes must be a multiple of 4096, got 70000");
    expect(() => Machine.boot({ fs: { size: 1 } as never })).toThrow("unknown fs option 'size'");
    expect(() => Machine.boot({ fs: { from: "/nonexistent/memsim" } })).toThrow("fs.from: cannot read '/nonexistent/memsim'");
  });

  it("block reads and writes are counted on the cost clock at 100 us each", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    const before = m.clock.breakdown().filter((r) => r.kind === "diskRead" || r.kind === "diskWrite");
    m.fs.writeFile("/a", new Uint8Array(8192).fill(1));
    m.fs.sync();
    m.fs.remount();
    m.fs.readFile("/a");
    const after = m.clock.breakdown().filter((r) => r.kind === "diskRead" || r.kind === "diskWrite");
    expect(after.map((r) => r.count - (before.find((b) => b.kind === r.kind)?.count ?? 0))).toEqual([2, 2]);
    expect(after.map((r) => r.costNs)).toEqual([100_000, 100_000]);
  });
});

describe("the fs and pagecache checkers", () => {
  it("a bitmap bit set with no inode holding the block is FS-2; a held block marked free is FS-1", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    m.fs.writeFile("/a", "x");
    const d = m.kernel.tasks.vfs!.fs.d;
    const held = d.direct(m.kernel.tasks.vfs!.fs.lookup(1, "a"), 0);
    d.setBit(d.g.nrBlocks - 1, 1);
    expect(() => m.check("fs")).toThrow(/FS-2: block \d+ in use but held by no inode/);
    d.setBit(d.g.nrBlocks - 1, 0);
    d.setBit(held, 0);
    expect(() => m.check("fs")).toThrow(`FS-1: inode 2 holds block ${held}, free in the bitmap`);
  });

  it("a frame marked PG_file outside the page cache is PAGECACHE-1", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    const pfn = m.kernel.allocPages(0)!;
    m.kernel.memmap.setFlag(pfn, PG_file);
    expect(() => m.check("pagecache")).toThrow("PAGECACHE-1: 1 frames carry PG_file, 0 are cached");
  });
});
