/**
 * `memsim report -o FILE.html [scenario]` writes the report page;
 * `memsim serve [scenario]` serves the same page on 127.0.0.1 only.
 */
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { parseVa, TASK_SIZE } from "../../../kernel/mm/types.ts";
import { smpTableData } from "../../smp_table.ts";
import { InputError, UsageError } from "../args.ts";
import type { Command, CommandCtx } from "../command.ts";
import { hex } from "../pageinfo.ts";
import { bootAndRun, RAM_OPTION, scenarioArg } from "../run.ts";
import { SCENARIOS } from "../scenario.ts";
import { buildReport, type ReportInput } from "./page.ts";
import { smpBenchFigures } from "./smp_section.ts";

const SCENARIO_ARG = {
  name: "scenario",
  help: `the story to draw: ${SCENARIOS.map((s) => s.name).join(", ")} (default: default)`,
  optional: true,
};

/** --addr as a number; throws UsageError naming the bad text. */
function addrOption(ctx: CommandCtx): number | null {
  const text = ctx.args.str("addr");
  if (text === undefined) return null;
  const v = parseVa(text);
  if (Number.isNaN(v) || !/^(0x)?[0-9a-fA-F]+$/.test(text))
    throw new UsageError(`--addr: bad address '${text}' (expected hex, e.g. 0x7f0000001000)`);
  if (v >= TASK_SIZE) throw new UsageError(`--addr: ${text} is a kernel address; the walk is drawn for user addresses`);
  return v;
}

function makeReport(ctx: CommandCtx): { html: string; input: ReportInput } {
  const s = scenarioArg(ctx.args.pos[0]);
  const addr = addrOption(ctx);
  const { m, rec } = bootAndRun(ctx, s);
  const smp = ctx.args.flag("smp") ? smpBenchFigures() : undefined;
  if (addr === null) return buildReport(m, rec, s.name, undefined, smp);
  const pid = ctx.args.int("pid", -1);
  const p = m.processes().find((x) => x.state === "running" && (pid < 0 || x.pid === pid));
  if (!p)
    throw new UsageError(
      pid < 0 ? `--addr: scenario '${s.name}' leaves no process to walk in` : `--pid: no running process ${pid} after scenario '${s.name}'`,
    );
  return buildReport(m, rec, s.name, { p, va: addr }, smp);
}

const WALK_OPTIONS = [
  { name: "addr", kind: "string", arg: "ADDR", help: "the user address whose page-table walk is drawn (default: the first resident page)" },
  { name: "pid", kind: "int", arg: "N", help: "the process --addr is in (default: the first one)" },
] as const;

const SMP_OPTION = {
  name: "smp",
  kind: "flag",
  help: "add `memsim bench smp`'s speedup curves and false-shared lines (runs the benchmarks: seconds)",
} as const;

/** The report's data as JSON: parameters, steps, blocks, samples. */
function reportJson(r: ReportInput): string {
  const doc = {
    command: "report",
    scenario: r.scenario,
    ram: r.m.config.ramBytes,
    seed: r.m.config.seed,
    steps: r.rec.steps,
    happened: r.rec.happened,
    blocks: r.blocks.map((b) => ({ pfn: hex(b.pfn), order: b.order, owner: b.owner, detail: b.detail, zone: b.zone })),
    samples: r.rec.samples,
    snapshots: r.rec.snapshots.map((x) => ({ step: x.step, label: x.label, blocks: x.blocks.length })),
    ...(r.rec.eat.length > 0 ? { eat: r.rec.eat } : {}),
    ...(r.smp ? { smp: Object.assign({}, ...r.smp.map((f) => smpTableData(f.bench, f.curves))) } : {}),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function writeOut(file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such directory"
        : code === "EISDIR"
          ? "is a directory"
          : code === "EACCES"
            ? "permission denied"
            : (code ?? "failed");
    throw new InputError(`cannot write '${file}': ${why}`);
  }
}

/** `memsim report`. */
export const reportCommand: Command = {
  name: "report",
  summary: "write one self-contained HTML page: RAM map, buddy lists, counters over the run",
  options: [
    { name: "output", short: "o", kind: "string", arg: "FILE", help: "where to write the page ('-' for stdout)" },
    RAM_OPTION,
    ...WALK_OPTIONS,
    SMP_OPTION,
  ],
  positionals: [SCENARIO_ARG],
  run(ctx) {
    const file = ctx.args.str("output");
    if (file === undefined && !ctx.json) throw new UsageError("missing -o FILE (the page to write; '-' for stdout)");
    const { html, input } = makeReport(ctx);
    const text = ctx.json ? reportJson(input) : html;
    if (file === undefined || file === "-") ctx.io.out.write(text);
    else {
      writeOut(file, text);
      ctx.io.err.write(`memsim report: wrote ${file} (${input.blocks.length} blocks, ${text.length} bytes)\n`);
    }
    return 0;
  },
};

/** Serves `html` at / on 127.0.0.1:port (0 = any free port). Resolves once listening. */
export function serveReport(html: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === "GET" && (req.url === "/" || req.url === "/index.html")) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(html);
    } else {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(new InputError(e.code === "EADDRINUSE" ? `port ${port} is in use on 127.0.0.1` : `cannot listen: ${e.message}`)),
    );
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

/** `memsim serve`. */
export const serveCommand: Command = {
  name: "serve",
  summary: "serve the report page on 127.0.0.1 (never on other addresses)",
  options: [
    { name: "port", short: "p", kind: "int", arg: "N", help: "TCP port (default 8080; 0 picks a free one)", max: 65535 },
    RAM_OPTION,
    SMP_OPTION,
  ],
  positionals: [SCENARIO_ARG],
  async run(ctx) {
    const { html } = makeReport(ctx);
    const server = await serveReport(html, ctx.args.int("port", 8080));
    const addr = server.address() as AddressInfo;
    const url = `http://${addr.address}:${addr.port}/`;
    ctx.io.out.write(ctx.json ? `${JSON.stringify({ command: "serve", url })}\n` : `memsim serve: ${url} (Ctrl-C stops)\n`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        server.close(() => resolve());
        server.closeAllConnections();
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    return 0;
  },
};
