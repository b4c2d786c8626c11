/**
 * The command lines of the OSTEP simulators, parsed as Python's optparse
 * parses them: `-s 1`, `-s1`, `--seed 1`, `--seed=1`, flags alone or
 * clustered (`-vc`), defaults when absent. An error is a message and exit
 * status 2, as optparse's.
 */

/** One option of a simulator. */
export interface OstepOption {
  readonly short: string;
  readonly long?: string;
  readonly dest: string;
  readonly kind: "int" | "string" | "flag";
  readonly default: number | string | boolean;
  readonly help: string;
}

/** The parsed values by dest, or the error optparse would print. */
export type OstepArgs = Record<string, number | string | boolean>;

/** Parses `argv` against `specs`. Returns the values, or a string: the error. */
export function parseOstep(specs: readonly OstepOption[], argv: readonly string[]): OstepArgs | string {
  const out: OstepArgs = {};
  for (const s of specs) out[s.dest] = s.default;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = specs.find((s) => s.long === name);
      if (!spec) return `no such option: --${name}`;
      if (spec.kind === "flag") {
        out[spec.dest] = true;
        continue;
      }
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) return `--${name} option requires an argument`;
      const err = store(out, spec, v, `--${name}`);
      if (err) return err;
      continue;
    }
    if (!a.startsWith("-") || a.length < 2) return `unexpected argument: ${a}`;
    for (let j = 1; j < a.length; j++) {
      const spec = specs.find((s) => s.short === a[j]);
      if (!spec) return `no such option: -${a[j]}`;
      if (spec.kind === "flag") {
        out[spec.dest] = true;
        continue;
      }
      const v = j + 1 < a.length ? a.slice(j + 1) : argv[++i];
      if (v === undefined) return `-${a[j]} option requires an argument`;
      const err = store(out, spec, v, `-${a[j]}`);
      if (err) return err;
      break;
    }
  }
  return out;
}

function store(out: OstepArgs, spec: OstepOption, v: string, flag: string): string {
  if (spec.kind === "string") {
    out[spec.dest] = v;
    return "";
  }
  if (!/^[-+]?\d+$/.test(v.trim())) return `option ${flag}: invalid integer value: '${v}'`;
  out[spec.dest] = Number.parseInt(v, 10);
  return "";
}

/** The help text: one line per option. */
export function ostepHelp(name: string, specs: readonly OstepOption[]): string {
  const lines = [`Usage: memsim ostep ${name} [options]`, "", "Options:"];
  for (const s of specs) {
    const flags = [`-${s.short}${s.kind === "flag" ? "" : ` ${s.dest.toUpperCase()}`}`];
    if (s.long) flags.push(`--${s.long}${s.kind === "flag" ? "" : `=${s.dest.toUpperCase()}`}`);
    lines.push(`  ${flags.join(", ").padEnd(34)} ${s.help}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Python's %8d / %08x and friends. */
export function pad(v: number | string, width: number, fill = " "): string {
  return String(v).padStart(width, fill);
}

/** '%08x' of a non-negative integer. */
export function hex8(v: number): string {
  return v.toString(16).padStart(8, "0");
}

/** The simulators' size arguments: a number with an optional k, m or g suffix (powers of 1024). Returns NaN when it is not one. */
export function convertSize(s: string): number {
  const last = s[s.length - 1]?.toLowerCase();
  const mult = last === "k" ? 1024 : last === "m" ? 1024 ** 2 : last === "g" ? 1024 ** 3 : 1;
  const digits = mult === 1 ? s : s.slice(0, -1);
  return /^\s*[-+]?\d+\s*$/.test(digits) ? Number.parseInt(digits, 10) * mult : Number.NaN;
}
