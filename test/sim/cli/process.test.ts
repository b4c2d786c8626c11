/**
 * The real executable: a closed pipe is not a crash, the bin wrapper runs
 * the same CLI, logs go to stderr as JSON lines, and `memsim serve` listens on
 * 127.0.0.1 only.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { memsim, ROOT, shellRun } from "./helpers.ts";

describe("memsim as a process", () => {
  it("memsim run | head -1 ends quietly with status 0", () => {
    const r = shellRun("MEMSIM run --ram 64M | head -1");
    expect(r).toEqual({ status: 0, out: "# memsim run: scenario=default ram=64M seed=1\n", err: "" });
  });

  it("memsim quiz -c -n 50 | head -c 100 ends quietly with status 0", () => {
    const r = shellRun("MEMSIM quiz -c -n 50 | head -c 100 >/dev/null");
    expect([r.status, r.err]).toEqual([0, ""]);
  });

  for (const cmd of ["bench '^nothing$'", "trace run", "help", "trace list"]) {
    it(`memsim ${cmd} | head -1 ends quietly with status 0`, () => {
      const r = shellRun(`MEMSIM ${cmd} | head -1 >/dev/null`);
      expect([r.status, r.err]).toEqual([0, ""]);
    });
  }

  it("make bench takes BENCH_ARGS as one pattern: '|' and spaces are regular-expression text, not shell", () => {
    const r = shellRun("make -s bench BENCH_ARGS='^no such case|^nor this one' | cut -d: -f1");
    expect([r.status, r.err]).toEqual([0, ""]);
    expect(new Set(r.out.trim().split("\n"))).toEqual(new Set(["baseline"]));
  });

  it("the bin wrapper prints what the CLI prints", async () => {
    const r = shellRun(`node ${join(ROOT, "sim", "bin", "memsim.mjs")} run --ram 4M --seed 2`);
    const inProcess = await memsim(["run", "--ram", "4M", "--seed", "2"]);
    expect(r.status).toBe(0);
    expect(r.out).toBe(inProcess.out);
  });

  it("bad input exits with its status through the real process", () => {
    expect(shellRun("MEMSIM run --ram 1X").status).toBe(2);
    expect(shellRun("MEMSIM script /no/such.msh").status).toBe(1);
  });
});

describe("--log-level", () => {
  it("opens pino JSON lines on stderr; silent by default", async () => {
    const script = join(ROOT, "test", "golden", "scripts", "views.msh");
    const quiet = await memsim(["script", script]);
    expect(quiet.err).toBe("");
    const loud = await memsim(["script", script, "--log-level", "warn"]);
    const lines = loud.err
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      {
        level: 40,
        subsystem: "printk",
        kind: "page_alloc_failure",
        msg: "swapper/0: page allocation failure: order:11, mode:0xcc0(GFP_KERNEL), nodemask=(null)",
      },
    ]);
    expect(loud.out).toBe(quiet.out);
  });
});

/** Local addresses of listening TCP sockets on `port`, from /proc/net/tcp and tcp6 ("0100007F" = 127.0.0.1). */
function listeners(port: number): string[] {
  const out: string[] = [];
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(f, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [addr, p] = (cols[1] ?? "").split(":");
      if (cols[3] === "0A" && p !== undefined && Number.parseInt(p, 16) === port) out.push(addr as string);
    }
  }
  return out;
}

describe("memsim serve", () => {
  it("serves the report on 127.0.0.1 only and stops on SIGTERM", async () => {
    // One process (tsx as a loader), so SIGTERM reaches memsim itself rather than tsx's signal relay.
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "sim", "cli", "main.ts"), "serve", "--port", "0", "--ram", "4M"], {
      cwd: ROOT,
    });
    const line = await new Promise<string>((resolve, reject) => {
      let buf = "";
      child.stdout.on("data", (d: Buffer) => {
        buf += d.toString();
        if (buf.includes("\n")) resolve(buf.split("\n")[0] as string);
      });
      let errText = "";
      child.stderr.on("data", (d: Buffer) => {
        errText += d.toString();
      });
      child.on("exit", (code) => reject(new Error(`serve exited early with ${code}: ${errText}`)));
    });
    const m = /^memsim serve: http:\/\/127\.0\.0\.1:(\d+)\/ \(Ctrl-C stops\)$/.exec(line);
    expect(m, line).not.toBeNull();
    const port = Number(m?.[1]);
    expect(listeners(port), `listening sockets on port ${port}`).toEqual(["0100007F"]);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
    expect((await res.text()).startsWith("<!DOCTYPE html>")).toBe(true);
    expect((await fetch(`http://127.0.0.1:${port}/secret`)).status).toBe(404);
    const exit = await new Promise<string>((resolve) => {
      child.on("exit", (c, sig) => resolve(`code ${c} signal ${sig}`));
      child.kill("SIGTERM");
    });
    expect(exit).toBe("code 0 signal null");
  });
});
