/**
 * One machine driven by the command language: what `memsim shell` and
 * `memsim script` keep between lines (the machine, the blocks the user
 * allocated, named values, named subjects such as processes).
 */
import type { MemsimEvent } from "../../../kernel/events_types.ts";
import { InvariantViolation, KernelPanic } from "../../../kernel/panic.ts";
import type { KLogger } from "../../../kernel/printk.ts";
import { ProcessGone } from "../../../kernel/process.ts";
import { ProcessKilled } from "../../../kernel/signal.ts";
import { ConfigError } from "../../config.ts";
import { Machine } from "../../machine.ts";
import { findLangCommand, LangArgs, LangError, type LangResult, SUBJECT_COMMANDS, type Subject, tokenize } from "./registry.ts";

/** How a machine is booted when a line needs one and none was booted yet. */
export interface SessionDefaults {
  readonly ramBytes: number;
  readonly seed: number;
  readonly log: KLogger;
  /** Called with every machine the session boots (the CLI's --events / --ftrace). */
  readonly onBoot?: (m: Machine) => void;
}

/** The outcome of one line: its text, or an error message; `skip` for blank and comment lines. */
export type LineOutcome = { kind: "ok"; text: string } | { kind: "error"; text: string } | { kind: "skip" };

/** Events a line caused: the first LINE_EVENTS_KEPT of them, and how many there were. */
export interface LineEvents {
  readonly text: string;
  readonly events: MemsimEvent[];
  total: number;
}

const LINE_EVENTS_KEPT = 100_000;

/** A machine plus the user's names for things on it. */
export class Session {
  private machine: Machine | null = null;
  /** Blocks allocated with alloc_pages and not freed yet: pfn -> order. */
  readonly held = new Map<number, number>();
  /** Values kept with `NAME = command`. */
  readonly vars = new Map<string, number>();
  /** Named subjects ("p" after `spawn p`). */
  readonly subjects = new Map<string, Subject>();
  /** The subject last created or addressed: what `maps` or `explain` mean without a name. */
  current: string | null = null;
  /** What the last line other than `events` did (the `events` command shows it). */
  lastLine: LineEvents = { text: "", events: [], total: 0 };
  private line: LineEvents = this.lastLine;
  private readonly collect = (e: MemsimEvent): void => {
    const l = this.line;
    if (l.total++ < LINE_EVENTS_KEPT) l.events.push(e);
  };

  constructor(readonly defaults: SessionDefaults) {}

  /** The machine, booted with the defaults on first use. */
  get m(): Machine {
    if (this.machine === null) {
      this.machine = Machine.boot({ ramBytes: this.defaults.ramBytes, seed: this.defaults.seed, log: this.defaults.log });
      this.defaults.onBoot?.(this.machine);
      this.machine.events.onAll(this.collect);
    }
    return this.machine;
  }

  /** True once a machine exists. */
  get booted(): boolean {
    return this.machine !== null;
  }

  /** Replaces the machine (the `boot` command); forgets everything about the old one. */
  reboot(m: Machine): void {
    this.machine = m;
    this.defaults.onBoot?.(m);
    m.events.onAll(this.collect);
    this.held.clear();
    this.vars.clear();
    this.subjects.clear();
    this.current = null;
  }

  /** Runs one line. Never throws for bad input or a kernel panic: both come back as an error outcome. */
  exec(line: string): LineOutcome {
    const words = tokenize(line);
    if (words.length === 0) return { kind: "skip" };
    const own = words[0] !== "events";
    if (own) this.line = { text: line.trim(), events: [], total: 0 };
    try {
      const r = this.execWords(words);
      return { kind: "ok", text: typeof r === "string" ? r : r.text };
    } catch (e) {
      return { kind: "error", text: errorText(e) };
    } finally {
      if (own) this.lastLine = this.line;
    }
  }

  private execWords(words: string[]): LangResult | string {
    let target: string | undefined;
    if (words[1] === "=") {
      target = words[0] as string;
      if (!/^[A-Za-z_]\w*$/.test(target)) throw new LangError(`bad name '${target}' (letters, digits and _)`);
      words = words.slice(2);
      if (words.length === 0) throw new LangError(`${target} = : missing command`);
    }
    words = words.map((w) => this.substitute(w));
    const r = this.dispatch(words);
    if (target !== undefined) {
      if (typeof r === "string" || r.value === undefined) throw new LangError(`${words[0]}: gives no value to keep in ${target}`);
      this.vars.set(target, r.value);
    }
    return r;
  }

  private dispatch(words: string[]): LangResult | string {
    const [name, ...rest] = words as [string, ...string[]];
    const subject = this.subjects.get(name);
    if (subject) {
      this.current = name;
      const sub = rest[0];
      const cmds = (SUBJECT_COMMANDS[subject.kind] ?? []) as unknown as Array<{
        name: string;
        run: (s: Subject, a: LangArgs, ss: Session) => LangResult | string;
      }>;
      const c = cmds.find((x) => x.name === sub);
      if (!c) throw new LangError(`${name}: unknown ${subject.kind} command '${sub ?? ""}' (${cmds.map((x) => x.name).join(", ")})`);
      return c.run(subject, new LangArgs(`${name} ${c.name}`, rest.slice(1)), this);
    }
    const c = findLangCommand(name);
    if (!c) throw new LangError(`unknown command '${name}' (try 'help')`);
    return c.run(this, new LangArgs(name, rest), this);
  }

  private substitute(w: string): string {
    return w.replace(/\$([A-Za-z_]\w*)/g, (_, v: string) => {
      const val = this.vars.get(v);
      if (val === undefined) throw new LangError(`$${v} is not set`);
      return `0x${val.toString(16)}`;
    });
  }
}

/** The message of an error raised by a line, prefixed by what kind of error it was. */
export function errorText(e: unknown): string {
  if (e instanceof ProcessKilled) return `killed: ${e.message}`;
  if (e instanceof ProcessGone) return `error: ${e.message}`;
  if (e instanceof LangError || e instanceof ConfigError || e instanceof RangeError) return `error: ${e.message}`;
  if (e instanceof KernelPanic) return `kernel panic: ${e.message}`;
  if (e instanceof InvariantViolation) return `invariant violated: ${e.message}`;
  // Anything else is a bug in memsim; the shell names it and goes on.
  if (e instanceof Error) return `internal error (a memsim bug, please report it): ${e.name}: ${e.message}`;
  throw e;
}
