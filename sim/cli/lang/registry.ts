/**
 * The command language of `memsim shell` and `memsim script`: one command
 * per line, words separated by blanks, `key=value` options, `#` comments,
 * `NAME = command` to keep a command's value and `$NAME` to use it.
 *
 *   boot ram=32M seed=1
 *   a = alloc_pages 2
 *   free_pages $a 2
 *
 * A command is a name, a synopsis, help, and a run function that returns its
 * text (and a value for assignments) or throws LangError naming what was
 * wrong. Layers add their commands by pushing onto LANG_COMMANDS; commands
 * about one process ("p mmap ...") go in SUBJECT_COMMANDS under the subject's
 * kind and are found by the subject's name.
 */
import { parseVa } from "../../../kernel/mm/types.ts";
import { parseSize } from "../../units.ts";
import { parseIntText } from "../args.ts";
import type { Session } from "./session.ts";

/** A command's result: its text (one line for simple commands) and an optional value for `NAME = ...`. */
export interface LangResult {
  readonly text: string;
  readonly value?: number;
}

/** A wrong command line in the language. The message names the command and what was wrong. */
export class LangError extends Error {
  override readonly name = "LangError";
}

/** One command of the language. S is what it acts on: the session, or a subject such as a process. */
export interface LangCommand<S = Session> {
  readonly name: string;
  /** Arguments in help ("ORDER [gfp=FLAGS]"). */
  readonly synopsis: string;
  readonly help: string;
  run(subject: S, args: LangArgs, session: Session): LangResult | string;
}

/** A named thing commands can be addressed to ("p" in "p mmap ..."). */
export interface Subject {
  readonly kind: string;
}

/** Session commands. */
export const LANG_COMMANDS: LangCommand[] = [];
/** Commands addressed to a subject, by the subject's kind. */
export const SUBJECT_COMMANDS: Record<string, LangCommand<never>[]> = {};

/** Adds commands addressed to subjects of `kind` ("process"). */
export function addSubjectCommands<S extends Subject>(kind: string, cmds: ReadonlyArray<LangCommand<S>>): void {
  SUBJECT_COMMANDS[kind] ??= [];
  (SUBJECT_COMMANDS[kind] as unknown as Array<LangCommand<S>>).push(...cmds);
}

/** A command's arguments: positionals and key=value options, with typed getters that name what was wrong. */
export class LangArgs {
  readonly pos: string[] = [];
  readonly kv = new Map<string, string>();
  private readonly used = new Set<string>();

  constructor(
    readonly cmd: string,
    words: readonly string[],
  ) {
    for (const w of words) {
      const eq = w.indexOf("=");
      if (eq > 0) this.kv.set(w.slice(0, eq), w.slice(eq + 1));
      else this.pos.push(w);
    }
  }

  private fail(msg: string): never {
    throw new LangError(`${this.cmd}: ${msg}`);
  }

  /** Positional i, or a LangError naming `what` when it is missing. */
  word(i: number, what: string): string {
    const w = this.pos[i];
    if (w === undefined) this.fail(`missing ${what}`);
    return w;
  }

  /** Positional i as an integer (decimal or 0x hex) in [lo, hi]. */
  int(i: number, what: string, lo = 0, hi = Number.MAX_SAFE_INTEGER): number {
    return this.toInt(this.word(i, what), what, lo, hi);
  }

  /** Positional i as a size ("16K", "4096"). */
  size(i: number, what: string): number {
    return this.toSize(this.word(i, what), what);
  }

  /** Positional i as a virtual address (hex, canonical or stored form). */
  addr(i: number, what: string): number {
    const w = this.word(i, what);
    const v = parseVa(w);
    if (Number.isNaN(v) || !/^(0x)?[0-9a-fA-F]+$/.test(w)) this.fail(`bad address '${w}' (expected hex, e.g. 0x7f0000001000)`);
    return v;
  }

  /** Option `key=` as an integer, or `dflt` when absent. */
  optInt(key: string, dflt: number, lo = 0, hi = Number.MAX_SAFE_INTEGER): number {
    this.used.add(key);
    const t = this.kv.get(key);
    return t === undefined ? dflt : this.toInt(t, key, lo, hi);
  }

  /** Option `key=` as a size, or `dflt` when absent. */
  optSize(key: string, dflt: number): number {
    this.used.add(key);
    const t = this.kv.get(key);
    return t === undefined ? dflt : this.toSize(t, key);
  }

  /** Option `key=` as text, or undefined. */
  optStr(key: string): string | undefined {
    this.used.add(key);
    return this.kv.get(key);
  }

  /** Fails on options no getter asked for and on positionals beyond `maxPos`. */
  done(maxPos: number): void {
    for (const k of this.kv.keys()) if (!this.used.has(k)) this.fail(`unknown option '${k}='`);
    if (this.pos.length > maxPos) this.fail(`unexpected argument '${this.pos[maxPos]}'`);
  }

  private toInt(t: string, what: string, lo: number, hi: number): number {
    const v = t.startsWith("-") ? -parseIntText(t.slice(1)) : parseIntText(t);
    if (!Number.isSafeInteger(v)) this.fail(`${what} must be an integer, got '${t}'`);
    if (v < lo || v > hi) this.fail(`${what} must be from ${lo} to ${hi}, got ${t}`);
    return v;
  }

  /** Parses text as a size, failing with this command's name. */
  toSizeText(t: string, what: string): number {
    return this.toSize(t, what);
  }

  private toSize(t: string, what: string): number {
    try {
      return parseSize(t);
    } catch (e) {
      this.fail(`${what}: ${(e as Error).message}`);
    }
  }
}

/** Splits a line into words; drops a `#` comment. */
export function tokenize(line: string): string[] {
  const hash = line.indexOf("#");
  const body = hash >= 0 ? line.slice(0, hash) : line;
  return body.split(/\s+/).filter((w) => w.length > 0);
}

/** Finds a session command by name. */
export function findLangCommand(name: string): LangCommand | undefined {
  return LANG_COMMANDS.find((c) => c.name === name);
}
