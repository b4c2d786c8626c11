import { describe, expect, it } from "vitest";
import { PROT_READ, PROT_WRITE } from "../../../sim/index.ts";
import { bootMachine } from "../../support/boot.ts";

const PAGE = 4096;

function setup() {
  const m = bootMachine({ ramBytes: 16 << 20, debugVm: 3 });
  m.fs.mkdirs("/bin");
  const text = new Uint8Array(5000).map((_, i) => i & 0xff);
  const data = new Uint8Array(100).fill(7);
  m.fs.writeExecutable("/bin/prog", { text, data, bssBytes: 10000, entry: 16 });
  m.fs.sync();
  return { m, text };
}

describe("processes from executables", () => {
  it("maps text r-xp and data rw-p from the file, the bss anonymous, and starts the heap after it", () => {
    const { m } = setup();
    const p = m.spawn("prog", { exec: "/bin/prog" });
    const lines = p.proc
      .maps()
      .trim()
      .split("\n")
      .map((l) => l.replace(/ +/g, " "));
    const ino = lines[0]?.split(" ")[4];
    expect(lines).toEqual([
      `00400000-00402000 r-xp 00001000 08:01 ${ino} /bin/prog`,
      `00402000-00403000 rw-p 00003000 08:01 ${ino} /bin/prog`,
      "00403000-00405000 rw-p 00000000 00:00 0 [heap]",
      "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]",
    ]);
    expect(p.sys.brk(0)).toBe(0x405000);
    expect(p.sys.brk(0x406000)).toBe(0x406000);
    m.check();
  });

  it("the program reads its text and data; the data's page past it and the bss read zero; writes stay private", () => {
    const { m, text } = setup();
    const p = m.spawn("prog", { exec: "/bin/prog" });
    expect(p.mem.read(0x400000, 5000)).toEqual(text);
    expect(p.mem.read8(0x400000 + 5000)).toBe(0);
    expect(p.mem.read8(0x402000 + 99)).toBe(7);
    expect(p.mem.read8(0x402000 + 100)).toBe(0);
    expect(p.mem.read8(0x404000)).toBe(0);
    p.mem.write8(0x402000, 9);
    const q = m.spawn("prog2", { exec: "/bin/prog" });
    expect(q.mem.read8(0x402000)).toBe(7);
    expect(() => p.mem.write8(0x400000, 1)).toThrow("SIGSEGV");
    expect(q.sys.mprotect(0x400000, PAGE, PROT_READ | PROT_WRITE)).toBe(0);
    q.mem.write8(0x400000, 1);
    expect(m.fs.readFile("/bin/prog")[PAGE]).toBe(0);
    m.check();
  });

  it("two processes of one program share its text pages in the page cache", () => {
    const { m } = setup();
    const a = m.spawn("a", { exec: "/bin/prog" });
    const b = m.spawn("b", { exec: "/bin/prog" });
    a.mem.read8(0x400000);
    b.mem.read8(0x400000);
    expect(a.proc.smaps()).toMatch(/^00400000-00402000 [^\n]*\n(?:[^\n]*\n){6}Shared_Clean:\s+4 kB/);
  });

  it("a missing file, a directory and a file that is not an executable are refused, leaving no process", () => {
    const { m } = setup();
    m.fs.writeFile("/bin/junk", "#!/bin/sh\n");
    const before = m.processes().length;
    expect(() => m.spawn("x", { exec: "/bin/none" })).toThrow("cannot load /bin/none: ENOENT");
    expect(() => m.spawn("x", { exec: "/bin" })).toThrow("cannot load /bin: EACCES");
    expect(() => m.spawn("x", { exec: "/bin/junk" })).toThrow("cannot load /bin/junk: ENOEXEC");
    expect(m.processes().length).toBe(before);
  });

  it("the builder refuses an entry outside the text", () => {
    const { m } = setup();
    expect(() => m.fs.writeExecutable("/bin/bad", { text: new Uint8Array(4), data: new Uint8Array(0), bssBytes: 0, entry: 4 })).toThrow(
      RangeError,
    );
  });
});
