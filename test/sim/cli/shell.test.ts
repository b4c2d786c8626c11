/**
 * `memsim shell` driven through its input stream: results in order, errors
 * printed and the shell going on, quit and end of input leaving with 0.
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { expectGolden, memsim } from "./helpers.ts";

function input(lines: string[]): Readable {
  return Readable.from(lines.map((l) => `${l}\n`));
}

describe("memsim shell", () => {
  it("answers each line, keeps going after errors, and stops at quit", async () => {
    const r = await memsim(
      ["shell", "--ram", "4M", "--seed", "2"],
      input([
        "buddyinfo",
        "a = alloc_pages 1",
        "alloc_pages seven",
        "explain 0x12",
        "free_pages $a",
        "free_pages $a 1",
        "held",
        "quit",
        "echo after quit",
      ]),
    );
    expect(r.status).toBe(0);
    expect(r.err).toBe("");
    expect(r.out).toBe(
      [
        "Node 0, zone      DMA      1      1      1      1      1      0      1      1      1      1      0 ",
        "pfn 0x22 order 1 P0x22000-P0x23fff",
        "error: alloc_pages: ORDER must be an integer, got 'seven'",
        "error: explain: nothing maps 0x12 (a user address, and no process to look in (spawn one first))",
        "freed pfn 0x22 order 1",
        "kernel panic: __free_pages: double free of pfn 0x22",
        "no blocks held",
        "",
      ].join("\n"),
    );
  });

  it("boots lazily with --ram and --seed, and boot replaces the machine", async () => {
    const r = await memsim(["shell", "--ram", "2M", "--seed", "7"], input(["zoneinfo", "boot ram=1M", "zoneinfo"]));
    const lines = r.out.split("\n");
    expect(lines[1]).toBe("DMA      0x0      0x200    487      487      0     44     55     66");
    expect(lines[2]).toBe("booted: ram=1M seed=7 pages=256 managed=235 free=235");
    expect(lines[4]).toBe("DMA      0x0      0x100    235      235      0     32     40     48");
  });

  it("help works for every command and the whole session matches its golden transcript", async () => {
    const { LANG_COMMANDS, SUBJECT_COMMANDS } = await import("../../../sim/cli/lang/registry.ts");
    const subject = Object.values(SUBJECT_COMMANDS).flat();
    const r = await memsim(["shell"], input(["help", ...[...LANG_COMMANDS, ...subject].map((c) => `help ${c.name}`)]));
    for (const c of [...LANG_COMMANDS, ...subject]) expect(r.out).toContain(`${c.name} ${c.synopsis}\n  ${c.help}`);
    expectGolden("cli/shell-help.txt", r.out);
  });

  it("mlock, munlock, mlockall and munlockall: the raw result, errno by name, VmLck in status", async () => {
    const lines = ["spawn p", "a = p mmap 0 16K rw private anon", "p mlock $a 8K", "p mlockall onfault", "p mlock $a 4K sometimes"];
    const r = await memsim(["shell"], input([...lines, "p status", "p munlockall", "p status"]));
    const out = r.out.split("\n");
    expect(out.slice(2, 6)).toEqual(["0", "mlockall: -EINVAL", "error: mlock: unknown flag 'sometimes' (onfault)", "Name:\tp"]);
    expect(out.filter((l) => l.startsWith("VmLck:"))).toEqual(["VmLck:\t       8 kB", "VmLck:\t       0 kB"]);
  });

  it("spawning until memory runs out is an answer, not a crash, and the machine stays consistent", async () => {
    const lines = ["boot ram=1M", ...Array.from({ length: 300 }, (_, i) => `spawn p${i}`), "check"];
    const r = await memsim(["shell"], input(lines));
    const out = r.out.trim().split("\n");
    expect(out.filter((l) => l === "spawn: fails (spawn: out of memory (or address-space ids) for a page table)").length).toBeGreaterThan(
      0,
    );
    expect(out[out.length - 1]).toMatch(/^invariant checkers passed: /);
  });

  it("--json prints one object per line", async () => {
    const r = await memsim(["shell", "--json", "--ram", "4M"], input(["drain", "nope"]));
    expect(
      r.out
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { cmd: "drain", ok: true, text: "drained 0 per-CPU pages to the buddy lists" },
      { cmd: "nope", ok: false, text: "error: unknown command 'nope' (try 'help')" },
    ]);
  });
});
