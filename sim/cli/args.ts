/**
 * A small command-line parser: each command declares its options and
 * positionals; the parser turns argv into typed values or a UsageError that
 * names what was wrong, and the same declaration prints `--help`.
 */
import { parseSize } from "../units.ts";

/** int: decimal or 0x hex; size: "16K", "64M"; string: any text; flag: no value. */
export type OptKind = "flag" | "int" | "size" | "string";

/** One option: `--name VALUE` (or `--name=VALUE`), `-s` as a short form. */
export interface OptSpec {
  readonly name: string;
  readonly short?: string;
  readonly kind: OptKind;
  /** The value's name in help ("N", "SIZE", "FILE"). */
  readonly arg?: string;
  readonly help: string;
  /** The allowed values of a string option. */
  readonly choices?: readonly string[];
  /** Inclusive bounds of an int option. */
  readonly min?: number;
  readonly max?: number;
}

/** One positional argument. */
export interface PosSpec {
  readonly name: string;
  readonly help: string;
  readonly optional?: boolean;
  /** Takes every remaining argument. */
  readonly rest?: boolean;
}

/** Bad command line: printed with a pointer to --help, exit status 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Bad input found while running (missing file, bad script line): exit status 1. */
export class InputError extends Error {
  override readonly name = "InputError";
}

export type OptValue = string | number | boolean;

/** Parsed arguments: option values by name, positionals by position. */
export class Parsed {
  constructor(
    readonly opts: ReadonlyMap<string, OptValue>,
    readonly pos: readonly string[],
  ) {}

  flag(name: string): boolean {
    return this.opts.get(name) === true;
  }

  int(name: string, dflt: number): number {
    const v = this.opts.get(name);
    return typeof v === "number" ? v : dflt;
  }

  str(name: string): string | undefined {
    const v = this.opts.get(name);
    return typeof v === "string" ? v : undefined;
  }

  has(name: string): boolean {
    return this.opts.has(name);
  }
}

/** Parses an integer written in decimal or 0x hex. Returns NaN when it is neither. */
export function parseIntText(text: string): number {
  if (/^[0-9]+$/.test(text)) return Number(text);
  if (/^0x[0-9a-fA-F]+$/.test(text)) return Number.parseInt(text.slice(2), 16);
  return Number.NaN;
}

function convert(spec: OptSpec, text: string): OptValue {
  const name = `--${spec.name}`;
  if (spec.kind === "int") {
    const v = parseIntText(text);
    const lo = spec.min ?? 0;
    const hi = spec.max ?? Number.MAX_SAFE_INTEGER;
    if (!Number.isSafeInteger(v) || v < lo || v > hi) {
      throw new UsageError(`${name}: expected an integer from ${lo} to ${hi}, got '${text}'`);
    }
    return v;
  }
  if (spec.kind === "size") {
    try {
      return parseSize(text);
    } catch (e) {
      throw new UsageError(`${name}: ${(e as Error).message}`);
    }
  }
  if (spec.choices && !spec.choices.includes(text)) {
    throw new UsageError(`${name}: expected one of ${spec.choices.join(", ")}, got '${text}'`);
  }
  return text;
}

function findOpt(specs: readonly OptSpec[], token: string): OptSpec {
  const spec = token.startsWith("--") ? specs.find((s) => `--${s.name}` === token) : specs.find((s) => s.short && `-${s.short}` === token);
  if (!spec) throw new UsageError(`unknown option '${token}'`);
  return spec;
}

/** Parses argv against the declarations. Throws UsageError naming the first problem. */
export function parseArgs(argv: readonly string[], options: readonly OptSpec[], positionals: readonly PosSpec[]): Parsed {
  const opts = new Map<string, OptValue>();
  const pos: string[] = [];
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (onlyPositionals || !a.startsWith("-") || a === "-" || /^-\d/.test(a)) {
      pos.push(a);
      continue;
    }
    if (a === "--") {
      onlyPositionals = true;
      continue;
    }
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const key = eq > 0 ? a.slice(0, eq) : a;
    const spec = findOpt(options, key);
    if (spec.kind === "flag") {
      if (eq > 0) throw new UsageError(`option '${key}' takes no value`);
      opts.set(spec.name, true);
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`option '${key}' needs a value (${spec.arg ?? "VALUE"})`);
    opts.set(spec.name, convert(spec, value));
  }
  checkPositionals(pos, positionals);
  return new Parsed(opts, pos);
}

function checkPositionals(pos: readonly string[], specs: readonly PosSpec[]): void {
  const required = specs.filter((p) => !p.optional).length;
  const rest = specs.some((p) => p.rest);
  if (pos.length < required) {
    throw new UsageError(`missing argument ${(specs[pos.length] as PosSpec).name}`);
  }
  if (!rest && pos.length > specs.length) throw new UsageError(`unexpected argument '${pos[specs.length]}'`);
}

function optLabel(o: OptSpec): string {
  const long = `--${o.name}${o.kind === "flag" ? "" : ` ${o.arg ?? "VALUE"}`}`;
  return o.short ? `-${o.short}, ${long}` : `    ${long}`;
}

/** The synopsis of positionals: "FILE [scenario] [ARGS...]". */
export function synopsis(positionals: readonly PosSpec[]): string {
  return positionals
    .map((p) => {
      const n = p.rest ? `${p.name}...` : p.name;
      return p.optional ? `[${n}]` : n;
    })
    .join(" ");
}

/** Help text for one command: usage line, description, positionals, options. */
export function formatHelp(
  prog: string,
  summary: string,
  description: string | undefined,
  options: readonly OptSpec[],
  positionals: readonly PosSpec[],
): string {
  const lines = [`usage: ${prog} [options]${positionals.length ? ` ${synopsis(positionals)}` : ""}`, "", summary];
  if (description) lines.push("", description);
  if (positionals.length) {
    lines.push("", "arguments:");
    for (const p of positionals) lines.push(`  ${p.name.padEnd(24)} ${p.help}`);
  }
  lines.push("", "options:");
  for (const o of options) lines.push(`  ${optLabel(o).padEnd(24)} ${o.help}`);
  return `${lines.join("\n")}\n`;
}
