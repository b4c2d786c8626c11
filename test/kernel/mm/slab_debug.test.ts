import { describe, expect, it } from "vitest";
import {
  GFP_KERNEL,
  type KLogger,
  Machine,
  PAGE_OFFSET,
  POISON_END,
  POISON_FREE,
  POISON_INUSE,
  SLAB_CONSISTENCY_CHECKS,
  SLAB_RED_ZONE,
  SLUB_RED_ACTIVE,
  SLUB_RED_INACTIVE,
} from "../../../sim/index.ts";

const MiB = 1 << 20;
const FRAME = "=".repeat(77);
const RULE = "-".repeat(77);

const va = (kva: number) => `ffff${kva.toString(16)}`;
const ptr = (kva: number) => `0x${va(kva)}`;

/** One print_hex_dump row: prefix, address, 16 bytes in hex, ASCII from column 49. */
function dumpRows(prefix: string, kva: number, bytes: number[]): string[] {
  const rows: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const chunk = bytes.slice(i, i + 16);
    const hex = chunk.map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = chunk.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    rows.push(`${prefix}${va(kva + i)}: ${hex.padEnd(49)}${ascii}`);
  }
  return rows;
}

const fill = (n: number, b: number) => new Array<number>(n).fill(b);

function debugMachine(slubDebug = "FZPU") {
  return Machine.boot({ ramBytes: 16 * MiB, slubDebug });
}

function slabLine(m: Machine, objKva: number, used: number, fpKva: number, objects = 16): string {
  const pfn = Math.floor((objKva - PAGE_OFFSET) / 4096);
  const page = PAGE_OFFSET + m.kernel.layout.memmapStart * 4096 + pfn * 64; // STRUCT_PAGE_SIZE
  return `INFO: Slab ${ptr(page)} objects=${objects} used=${used} fp=${ptr(fpKva)} flags=0x${m.kernel.memmap.word0(pfn).toString(16)}(alloc|slab)`;
}

function bytesAt(m: Machine, kva: number, len: number): number[] {
  return Array.from(m.kernel.mem.read(kva, len));
}

describe("slab_debug layout (FZPU)", () => {
  it("kmalloc-64 grows to a 256-byte stride: left red zone 64, object, red zone, free pointer, two tracks, orig size", () => {
    const m = debugMachine();
    const c = m.kernel.slab.findCache("kmalloc-64")!;
    expect([c.size, c.inuse, c.offset, c.redLeftPad, c.objects]).toEqual([256, 72, 72, 64, 16]);
    expect(m.proc.slabinfo()).toContain(
      "\nkmalloc-64             0      0    256   16    1 : tunables    0    0    0 : slabdata      0      0      0\n",
    );
  });

  it("an allocated kmalloc(50) is poisoned up to 50 bytes and red-zoned after it; a freed one is all poison in inactive red zones", () => {
    const m = debugMachine();
    const p = m.kernel.kmalloc(50);
    expect(bytesAt(m, p - 64, 64)).toEqual(fill(64, SLUB_RED_ACTIVE));
    expect(bytesAt(m, p, 72)).toEqual([...fill(49, POISON_FREE), POISON_END, ...fill(22, SLUB_RED_ACTIVE)]);
    m.kernel.kfree(p);
    expect(bytesAt(m, p - 64, 64)).toEqual(fill(64, SLUB_RED_INACTIVE));
    expect(bytesAt(m, p, 72)).toEqual([...fill(63, POISON_FREE), POISON_END, ...fill(8, SLUB_RED_INACTIVE)]);
    // The padding after the metadata keeps POISON_INUSE from the new slab.
    expect(bytesAt(m, p + 148, 44)).toEqual(fill(44, POISON_INUSE));
    expect(m.kernel.reports).toEqual([]);
    m.check();
  });

  it("kzalloc zeroes only the requested bytes of a red-zoned kmalloc object", () => {
    const m = debugMachine();
    const p = m.kernel.kzalloc(50);
    expect(bytesAt(m, p, 64)).toEqual([...fill(50, 0), ...fill(14, SLUB_RED_ACTIVE)]);
  });
});

describe("slab_debug reports", () => {
  it("a write past the object is 'Right Redzone overwritten' at kfree, in Linux's framed format, and the object is leaked", () => {
    const logged: string[] = [];
    const log: KLogger = {
      level: "warn",
      child: () => log,
      warn: (_o, msg) => logged.push(msg ?? ""),
      info() {},
      debug() {},
      error() {},
    };
    const m = Machine.boot({ ramBytes: 16 * MiB, slubDebug: "FZPU", log });
    const p = m.kernel.kmalloc(64, GFP_KERNEL, "test_alloc");
    const off = (p - PAGE_OFFSET) % 4096;
    m.kernel.mem.write8(p + 64, 0x41);
    m.kernel.kfree(p, "test_free");
    const expected = [
      FRAME,
      "BUG kmalloc-64 (Not tainted): Right Redzone overwritten",
      RULE,
      "",
      `INFO: ${ptr(p + 64)}-${ptr(p + 64)} @offset=${off + 64}. First byte 0x41 instead of 0xcc`,
      "INFO: Allocated in test_alloc age=1 cpu=0 pid=0",
      slabLine(m, p, 1, p + 256),
      `INFO: Object ${ptr(p)} @offset=${off} fp=${ptr(p)}`,
      "",
      ...dumpRows("Redzone  ", p - 64, fill(64, 0xcc)),
      ...dumpRows("Object   ", p, [...fill(63, 0x6b), 0xa5]),
      ...dumpRows("Redzone  ", p + 64, [0x41, ...fill(7, 0xcc)]),
      ...dumpRows("Padding  ", p + 148, fill(44, 0x5a)),
      `FIX kmalloc-64: Restoring Right Redzone ${ptr(p + 64)}-${ptr(p + 64)}=0xcc`,
      `FIX kmalloc-64: Object at ${ptr(p)} not freed`,
    ].join("\n");
    expect(m.kernel.reports).toEqual([{ kind: "slab_redzone", text: expected }]);
    expect(logged).toEqual([expected]);
    expect(bytesAt(m, p + 64, 1)).toEqual([0xcc]);
    expect(m.kernel.slab.findCache("kmalloc-64")!.nrSlabs).toBe(1);
    m.check();
    // The machine keeps running; later reports say the kernel is tainted.
    const q = m.kernel.kmalloc(64);
    m.kernel.mem.write8(q - 1, 0);
    m.kernel.kfree(q);
    expect(m.kernel.reports[1]!.text.split("\n").slice(1, 2)).toEqual([
      "BUG kmalloc-64 (Tainted: G    B            ): Left Redzone overwritten",
    ]);
    m.check();
  });

  it("a write into kmalloc's slack beyond the requested size is 'kmalloc Redzone overwritten'", () => {
    const m = debugMachine();
    const p = m.kernel.kmalloc(50);
    m.kernel.mem.write8(p + 55, 0x41);
    m.kernel.kfree(p);
    const lines = m.kernel.reports[0]!.text.split("\n");
    expect(lines[1]).toBe("BUG kmalloc-64 (Not tainted): kmalloc Redzone overwritten");
    expect(lines[4]).toBe(
      `INFO: ${ptr(p + 55)}-${ptr(p + 55)} @offset=${((p - PAGE_OFFSET) % 4096) + 55}. First byte 0x41 instead of 0xcc`,
    );
    expect(lines.at(-2)).toBe(`FIX kmalloc-64: Restoring kmalloc Redzone ${ptr(p + 55)}-${ptr(p + 55)}=0xcc`);
    expect(lines.at(-1)).toBe(`FIX kmalloc-64: Object at ${ptr(p)} not freed`);
    m.check();
  });

  it("a write after free is 'Poison overwritten' when the object is handed out again; the slab is marked all used", () => {
    const m = debugMachine();
    const p = m.kernel.kmalloc(64, GFP_KERNEL, "first_user");
    m.kernel.kfree(p, "first_free");
    m.kernel.mem.write32(p + 8, 0xdeadbeef);
    const q = m.kernel.kmalloc(64);
    expect(q).not.toBe(0);
    expect(q).not.toBe(p);
    expect(m.kernel.reports.map((r) => r.kind)).toEqual(["slab_poison"]);
    const lines = m.kernel.reports[0]!.text.split("\n");
    expect(lines[1]).toBe("BUG kmalloc-64 (Not tainted): Poison overwritten");
    expect(lines.slice(4, 8)).toEqual([
      `INFO: ${ptr(p + 8)}-${ptr(p + 11)} @offset=${((p - PAGE_OFFSET) % 4096) + 8}. First byte 0xef instead of 0x6b`,
      "INFO: Allocated in first_user age=2 cpu=0 pid=0",
      "INFO: Freed in first_free age=1 cpu=0 pid=0",
      slabLine(m, p, 1, p + 256),
    ]);
    expect(lines.at(-2)).toBe(`FIX kmalloc-64: Restoring Poison ${ptr(p + 8)}-${ptr(p + 11)}=0x6b`);
    expect(lines.at(-1)).toBe("FIX kmalloc-64: Marking all objects used");
    const st = m.stats() as { slab: { caches: Array<{ name: string; disabledSlabs: number; slabs: number }> } };
    expect(st.slab.caches.find((c) => c.name === "kmalloc-64")).toMatchObject({ disabledSlabs: 1, slabs: 2 });
    m.check();
  });

  it("validateSlabs finds a write after free too, restores the poison, and a second run is clean", () => {
    const m = debugMachine();
    const p = m.kernel.kmalloc(64);
    m.kernel.kmalloc(64);
    m.kernel.kfree(p);
    m.kernel.mem.write8(p + 63, 0);
    expect(m.kernel.validateSlabs()).toBe(1);
    expect(m.kernel.reports[0]!.text.split("\n")[1]).toBe("BUG kmalloc-64 (Not tainted): End Poison overwritten");
    expect(bytesAt(m, p + 63, 1)).toEqual([POISON_END]);
    expect(m.kernel.validateSlabs()).toBe(0);
    m.check();
  });

  it("a corrupted free pointer is 'Freepointer corrupt' when its object is handed out", () => {
    const m = debugMachine();
    const c = m.kernel.slab.findCache("kmalloc-64")!;
    const p = m.kernel.kmalloc(64);
    m.kernel.kfree(p);
    m.kernel.mem.write32(p + c.offset, 0x12345678);
    const q = m.kernel.kmalloc(64);
    expect(q).not.toBe(0);
    expect(m.kernel.reports.map((r) => r.kind)).toEqual(["slab_freepointer"]);
    const lines = m.kernel.reports[0]!.text.split("\n");
    expect(lines[1]).toBe("BUG kmalloc-64 (Not tainted): Freepointer corrupt");
    expect(lines.at(-1)).toBe("FIX kmalloc-64: Marking all objects used");
    m.check();
  });

  it("validateSlabs cuts a freelist that leaves its slab and leaks what followed", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const c = m.kernel.slab.findCache("kmalloc-64")!;
    const objs = [m.kernel.kmalloc(64), m.kernel.kmalloc(64), m.kernel.kmalloc(64)];
    m.kernel.kfree(objs[0]!);
    m.kernel.kfree(objs[1]!);
    m.kernel.mem.write32(objs[1]! + c.offset, 0x12345678);
    expect(m.kernel.validateSlabs()).toBe(2);
    expect(m.kernel.reports.map((r) => r.text.split("\n")[1])).toEqual([
      "BUG kmalloc-64 (Not tainted): Freechain corrupt",
      "BUG kmalloc-64 (Tainted: G    B            ): Wrong object count. Counter is 1 but counted were 63",
    ]);
    expect(m.kernel.reports[0]!.text.split("\n").at(-1)).toBe("FIX kmalloc-64: Isolate corrupted freechain");
    expect(m.kernel.reports[1]!.text.split("\n").at(-1)).toBe("FIX kmalloc-64: Object count adjusted");
    m.check();
    expect(m.kernel.kmalloc(64)).toBe(objs[1]);
    m.check();
  });

  it("a double free is 'Object already free' with both tracks", () => {
    const m = debugMachine();
    const p = m.kernel.kmalloc(64, GFP_KERNEL, "drv_open");
    m.kernel.kfree(p, "drv_close");
    m.kernel.kfree(p, "drv_close_again");
    const lines = m.kernel.reports[0]!.text.split("\n");
    expect(lines.slice(0, 8)).toEqual([
      FRAME,
      "BUG kmalloc-64 (Not tainted): Object already free",
      RULE,
      "",
      "INFO: Allocated in drv_open age=2 cpu=0 pid=0",
      "INFO: Freed in drv_close age=1 cpu=0 pid=0",
      slabLine(m, p, 0, p),
      `INFO: Object ${ptr(p)} @offset=${(p - PAGE_OFFSET) % 4096} fp=${ptr(p + 256)}`,
    ]);
    expect(lines.at(-1)).toBe(`FIX kmalloc-64: Object at ${ptr(p)} not freed`);
    expect(m.kernel.reports).toHaveLength(1);
    m.check();
  });

  it("an interior pointer is 'Invalid object pointer'", () => {
    const m = debugMachine();
    const p = m.kernel.kmalloc(64);
    m.kernel.kfree(p + 16);
    expect(m.kernel.reports[0]!.text.split("\n").slice(1, 2)).toEqual([
      `BUG kmalloc-64 (Not tainted): Invalid object pointer ${ptr(p + 16)}`,
    ]);
    m.kernel.kfree(p);
    expect(m.kernel.reports).toHaveLength(1);
    m.check();
  });
});

describe("slab_debug options", () => {
  it("flags on one cache debug only that cache", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const c = m.kernel.kmemCacheCreate("dbg32", 32, { flags: SLAB_RED_ZONE | SLAB_CONSISTENCY_CHECKS })!;
    const p = c.alloc();
    m.kernel.mem.write8(p + 32, 1);
    c.free(p);
    expect(m.kernel.reports.map((r) => r.text.split("\n")[1])).toEqual(["BUG dbg32 (Not tainted): Right Redzone overwritten"]);
    expect(m.kernel.slab.findCache("kmalloc-32")!.size).toBe(32);
    m.check();
  });

  it("O leaves caches whose order debugging would raise undebugged", () => {
    const m = debugMachine("FZPUO");
    expect(m.kernel.slab.findCache("kmalloc-2k")!.size).toBe(2048);
    expect(m.kernel.slab.findCache("kmalloc-1k")!.size).toBe(3072);
    expect(m.kernel.slab.findCache("kmalloc-64")!.size).toBe(256);
  });

  it("T traces every allocation and free", () => {
    const m = debugMachine("T");
    const p = m.kernel.kmalloc(64);
    m.kernel.kfree(p);
    expect(m.kernel.reports.map((r) => r.kind)).toEqual(["slab_trace", "slab_trace"]);
    expect(m.kernel.reports[0]!.text).toBe(`TRACE kmalloc-64 alloc ${ptr(p)} inuse=1 fp=${ptr(p + 64)}`);
    expect(m.kernel.reports[1]!.text).toBe(`TRACE kmalloc-64 free ${ptr(p)} inuse=1 fp=${ptr(p + 64)}`);
  });

  it("after ksize the whole object is usable; krealloc to a smaller size moves the kmalloc red zone down", () => {
    const m = debugMachine();
    const p = m.kernel.kmalloc(50);
    expect(m.kernel.ksize(p)).toBe(64);
    m.kernel.mem.fill(p, 1, 64);
    m.kernel.kfree(p);
    expect(m.kernel.reports).toEqual([]);
    const q = m.kernel.kmalloc(60);
    expect(m.kernel.krealloc(q, 20)).toBe(q);
    expect(bytesAt(m, q + 20, 44)).toEqual(fill(44, SLUB_RED_ACTIVE));
    m.kernel.mem.write8(q + 30, 7);
    m.kernel.kfree(q);
    expect(m.kernel.reports.map((r) => r.text.split("\n")[1])).toEqual(["BUG kmalloc-64 (Not tainted): kmalloc Redzone overwritten"]);
    m.check();
  });
});

describe("slab_debug padding and disabled slabs", () => {
  it("a write into the padding behind the metadata is 'Object padding overwritten'", () => {
    const m = debugMachine();
    const p = m.kernel.kmalloc(64);
    m.kernel.mem.write8(p + 150, 0x41);
    m.kernel.kfree(p);
    const lines = m.kernel.reports[0]!.text.split("\n");
    expect(lines[1]).toBe("BUG kmalloc-64 (Not tainted): Object padding overwritten");
    expect(lines[4]).toBe(
      `INFO: ${ptr(p + 150)}-${ptr(p + 150)} @offset=${((p - PAGE_OFFSET) % 4096) + 150}. First byte 0x41 instead of 0x5a`,
    );
    expect(lines.at(-2)).toBe(`FIX kmalloc-64: Restoring Object padding ${ptr(p + 150)}-${ptr(p + 150)}=0x5a`);
    m.check();
  });

  it("without red zones, poisoning guards the alignment padding: 'Alignment padding overwritten'", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const c = m.kernel.kmemCacheCreate("ap20", 20, { flags: 0x800 | SLAB_CONSISTENCY_CHECKS })!;
    expect([c.objectSize, c.inuse]).toEqual([20, 24]);
    const p = c.alloc();
    m.kernel.mem.write8(p + 21, 0x41);
    c.free(p);
    expect(m.kernel.reports.map((r) => r.text.split("\n")[1])).toEqual(["BUG ap20 (Not tainted): Alignment padding overwritten"]);
    m.check();
  });

  it("a write past the last object of a slab is 'Padding overwritten', found by validation", () => {
    const m = debugMachine();
    const c = m.kernel.slab.findCache("kmalloc-192")!;
    expect([c.size, c.objects]).toEqual([296, 13]);
    const p = m.kernel.kmalloc(192);
    const slab = PAGE_OFFSET + Math.floor((p - PAGE_OFFSET) / 4096) * 4096;
    m.kernel.mem.write8(slab + 13 * 296 + 5, 0x41);
    expect(m.kernel.validateSlabs()).toBe(1);
    const lines = m.kernel.reports[0]!.text.split("\n");
    expect(lines[1]).toBe(`BUG kmalloc-192 (Not tainted): Padding overwritten. ${ptr(slab + 3853)}-${ptr(slab + 3853)} @offset=3853`);
    expect(lines[4]).toBe(slabLine(m, p, 1, p + 296, 13));
    expect(lines.slice(5, -1)).toEqual(dumpRows("Padding ", slab + 3848, [...fill(5, 0x5a), 0x41, ...fill(242, 0x5a)]));
    expect(lines.at(-1)).toBe(`FIX kmalloc-192: Restoring slab padding ${ptr(slab + 3853)}-${ptr(slab + 3853)}=0x5a`);
    expect(m.kernel.validateSlabs()).toBe(0);
    m.check();
  });

  it("a free into a slab disabled by a failed check is refused: 'Slab disabled since SLUB metadata consistency check failed'", () => {
    const m = debugMachine();
    const p = m.kernel.kmalloc(64);
    const q = m.kernel.kmalloc(64);
    m.kernel.kfree(q);
    m.kernel.mem.write8(q, 0);
    m.kernel.kmalloc(64);
    m.kernel.kfree(p);
    expect(m.kernel.reports.map((r) => r.kind)).toEqual(["slab_poison", "slab_corrupt"]);
    const lines = m.kernel.reports[1]!.text.split("\n");
    expect(lines[1]).toBe("BUG kmalloc-64 (Tainted: G    B            ): Slab disabled since SLUB metadata consistency check failed");
    expect(lines.at(-1)).toBe(`FIX kmalloc-64: Object at ${ptr(p)} not freed`);
    m.check();
  });
});

describe("a corrupted slab freelist head", () => {
  it("is 'Freelist Pointer check fails' with the bad pointer shown, and the slab is given up", () => {
    const m = debugMachine();
    const p = m.kernel.kmalloc(64);
    const pfn = (p - PAGE_OFFSET - ((p - PAGE_OFFSET) % 4096)) / 4096;
    m.kernel.memmap.setWord(pfn, 1, 0x1234);
    const q = m.kernel.kmalloc(64);
    expect(q).not.toBe(0);
    expect(Math.floor((q - PAGE_OFFSET) / 4096)).not.toBe(pfn);
    const lines = m.kernel.reports[0]!.text.split("\n");
    expect(lines[1]).toBe("BUG kmalloc-64 (Not tainted): Freelist Pointer check fails");
    expect(lines.slice(-2)).toEqual(["INFO: Invalid pointer 0xffff888000001234", "FIX kmalloc-64: Marking all objects used"]);
    m.check();
  });
});
