/**
 * Logging: pino JSON lines on stderr, silent unless a level is asked for,
 * one child logger per subsystem (the kernel makes the children).
 */
import { pino } from "pino";
import type { KLogger } from "../kernel/printk.ts";

export const LOG_LEVELS = ["silent", "fatal", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where log lines go: anything with a synchronous write (stderr when absent). */
export interface LogDestination {
  write(line: string): unknown;
}

/** A pino logger writing JSON lines to `dest` (stderr by default) at `level`. */
export function makeLogger(level: LogLevel = "silent", dest?: LogDestination): KLogger {
  const opts = { level, base: undefined, timestamp: false };
  return (dest ? pino(opts, dest) : pino(opts, pino.destination(2))) as unknown as KLogger;
}

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };

/**
 * Turns pino's JSON lines into one readable line each ("WARN  printk: text
 * kind=page_alloc_failure") for a terminal, without a pretty-printing
 * dependency. Lines that are not JSON pass through.
 */
export function prettyDestination(out: LogDestination): LogDestination {
  return {
    write(line: string) {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return out.write(line);
      }
      const { level, msg, subsystem, ...rest } = rec;
      const name = LEVEL_NAMES[level as number] ?? String(level);
      const extra = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      const who = subsystem === undefined ? "" : `${String(subsystem)}: `;
      return out.write(`${name.padEnd(5)} ${who}${msg === undefined ? "" : String(msg)}${extra ? ` ${extra}` : ""}\n`);
    },
  };
}
