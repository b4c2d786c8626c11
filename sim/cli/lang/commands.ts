/**
 * `memsim shell` (interactive) and `memsim script FILE` (batch): the same
 * command language over one machine, from a terminal or from a file.
 */
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { InputError } from "../args.ts";
import type { Command, CommandCtx } from "../command.ts";
import { RAM_OPTION } from "../run.ts";
import "./cmds_machine.ts";
import "./cmds_process.ts";
import "./cmds_libc.ts";
import "./cmds_explain.ts";
import "./cmds_slab.ts";
import "./cmds_events.ts";
import "./cmds_teach.ts";
import { LANG_COMMANDS } from "./registry.ts";
import { Session } from "./session.ts";

function newSession(ctx: CommandCtx): Session {
  return new Session({ ramBytes: ctx.args.int("ram", 64 << 20), seed: ctx.seed, log: ctx.log, onBoot: ctx.watch });
}

function readScript(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (code ?? "unreadable");
    throw new InputError(`cannot read '${file}': ${why}`);
  }
}

function runScript(ctx: CommandCtx): number {
  const file = ctx.args.pos[0] as string;
  const lines = readScript(file).split("\n");
  const echo = ctx.args.flag("echo");
  const keepGoing = ctx.args.flag("keep-going");
  const s = newSession(ctx);
  let failed = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const r = s.exec(line);
    if (r.kind === "skip") continue;
    if (ctx.json) {
      ctx.io.out.write(`${JSON.stringify({ line: i + 1, cmd: line.trim(), ok: r.kind === "ok", text: r.text })}\n`);
    } else {
      if (echo) ctx.io.out.write(`memsim> ${line.trim()}\n`);
      if (r.kind === "ok" || keepGoing) ctx.io.out.write(`${r.text}\n`);
    }
    if (r.kind === "error") {
      failed++;
      if (!keepGoing) {
        ctx.io.err.write(`memsim script: ${file}:${i + 1}: ${r.text}\n`);
        return 1;
      }
    }
  }
  if (failed > 0) ctx.io.err.write(`memsim script: ${file}: ${failed} line${failed === 1 ? "" : "s"} failed\n`);
  return failed > 0 ? 1 : 0;
}

async function runShell(ctx: CommandCtx): Promise<number> {
  const input = ctx.io.input ?? process.stdin;
  const tty = ctx.io.inputIsTTY;
  const names = LANG_COMMANDS.map((c) => c.name);
  const rl = createInterface({
    input,
    ...(tty ? { output: process.stdout, terminal: true } : { terminal: false }),
    completer: (line: string) => [names.filter((n) => n.startsWith(line)), line],
  });
  rl.on("SIGINT", () => rl.close());
  const s = newSession(ctx);
  if (tty) {
    ctx.io.out.write("memsim shell: type 'help' for the commands, 'quit' to leave\n");
    rl.setPrompt("memsim> ");
    rl.prompt();
  }
  for await (const line of rl) {
    const t = line.trim();
    if (t === "quit" || t === "exit") break;
    const r = s.exec(line);
    if (ctx.json && r.kind !== "skip") ctx.io.out.write(`${JSON.stringify({ cmd: t, ok: r.kind === "ok", text: r.text })}\n`);
    else if (r.kind !== "skip") ctx.io.out.write(`${r.text}\n`);
    if (tty) rl.prompt();
  }
  rl.close();
  return 0;
}

/** `memsim script FILE`. */
export const scriptCommand: Command = {
  name: "script",
  summary: "run the command language from a file, one result per line",
  description: "The language is the shell's: run 'memsim shell' and type 'help', or see test/golden/scripts/.",
  options: [
    RAM_OPTION,
    { name: "echo", kind: "flag", help: "print each command before its result (memsim> ...)" },
    { name: "keep-going", short: "k", kind: "flag", help: "print errors as results and go on; exit 1 at the end" },
  ],
  positionals: [{ name: "FILE", help: "the script" }],
  run: runScript,
};

/** `memsim shell`. */
export const shellCommand: Command = {
  name: "shell",
  summary: "an interactive prompt over one machine (type 'help')",
  description: "Reads commands from standard input; errors are printed and the shell goes on. 'quit' or end of input leaves.",
  options: [RAM_OPTION],
  run: runShell,
};
