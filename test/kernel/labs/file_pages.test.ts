/**
 * The kernel API's file-page calls (kernel/LAYERS.md, the mmap lab):
 * k.filePage hands out the page-cache frame with a reference, k.mapFilePage
 * maps it keeping that reference, k.putFilePage drops it.
 */
import { describe, expect, it } from "vitest";
import { KernelPanic, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, Machine, O_RDWR, PROT_READ, PROT_WRITE } from "../../../sim/index.ts";

const PAGE = 4096;
const RW = PROT_READ | PROT_WRITE;

/** A machine with /f (1.5 pages of 'A'), a process, and /f mapped shared over two pages at file offset `offset`. */
function setup(offset = 0) {
  const m = Machine.boot({ ramBytes: 8 << 20, debugVm: 3 });
  m.fs.writeFile("/f", new Uint8Array(PAGE + PAGE / 2).fill(0x41));
  const p = m.spawn("t");
  const fd = p.sys.open("/f", O_RDWR);
  const a = p.sys.mmap(0, 2 * PAGE, RW, MAP_SHARED, fd, offset);
  const k = m.kernel.taskParts.k;
  return { m, p, k, a, vma: k.findVma(p.mm, a) };
}

describe("k's file-page calls", () => {
  it("vmaIsFile tells a file mapping from an anonymous one; filePageIndex adds the mapping's offset", () => {
    const { p, k, a, vma } = setup(PAGE);
    const anon = p.sys.mmap(0, PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS);
    expect([k.vmaIsFile(vma), k.vmaIsFile(k.findVma(p.mm, anon))]).toEqual([1, 0]);
    expect([k.filePageIndex(vma, a), k.filePageIndex(vma, a + PAGE + 5)]).toEqual([1, 2]);
  });

  it("filePage gives the cache frame with one reference more, putFilePage takes it back; past the file is FILE_PAGE_SIGBUS", () => {
    const { m, k, vma } = setup();
    const pfn = k.filePage(vma, 1);
    expect([k.pageRef(pfn), k.pageMapcount(pfn)]).toEqual([2, 0]);
    expect(k.filePage(vma, 1)).toBe(pfn);
    k.putFilePage(pfn);
    k.putFilePage(pfn);
    expect(k.pageRef(pfn)).toBe(1);
    expect(k.filePage(vma, 2)).toBe(k.FILE_PAGE_SIGBUS);
    expect(() => m.check()).not.toThrow();
  });

  it("mapFilePage maps the cache page with the caller's reference: a store reaches the file, munmap leaves the cache's reference", () => {
    const { m, p, k, a, vma } = setup();
    const pfn = k.filePage(vma, 0);
    const ptep = k.walk(p.mm, a, "alloc");
    expect(k.mapFilePage(p.mm, vma, a, ptep, pfn, "write")).toBe(k.FAULT_OK);
    expect([k.pageRef(pfn), k.pageMapcount(pfn), p.mm.rssFile, k.ptePfn(p.mm, ptep)]).toEqual([2, 1, 1, pfn]);
    p.mem.write8(a + 3, 0x5a);
    expect(() => m.check()).not.toThrow();
    expect(p.sys.munmap(a, 2 * PAGE)).toBe(0);
    expect([k.pageRef(pfn), k.pageMapcount(pfn), p.mm.rssFile]).toEqual([1, 0, 0]);
    m.fs.sync();
    m.fs.remount();
    expect(m.fs.readFile("/f")[3]).toBe(0x5a);
    expect(() => m.check()).not.toThrow();
  });

  it("filePage and mapFilePage refuse a VMA that maps no file with a RangeError", () => {
    const { p, k } = setup();
    const anon = p.sys.mmap(0, PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS);
    const vma = k.findVma(p.mm, anon);
    expect(() => k.filePage(vma, 0)).toThrow(/k.filePage: VMA \d+ does not map a file/);
    expect(() => k.mapFilePage(p.mm, vma, anon, k.walk(p.mm, anon, "alloc"), 1, "read")).toThrow(RangeError);
  });

  it("mapFilePage through an entry that is not empty is a kernel panic", () => {
    const { p, k, a, vma } = setup();
    expect(p.mem.read8(a)).toBe(0x41);
    const pfn = k.filePage(vma, 0);
    expect(() => k.mapFilePage(p.mm, vma, a, k.walk(p.mm, a, "lookup"), pfn, "read")).toThrow(KernelPanic);
  });
});
