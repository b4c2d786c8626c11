/**
 * Logging: pino JSON lines on stderr, silent unless a level is asked for,
 * one child logger per subsystem (the kernel makes the children).
 */
import { pino } from "pino";
import type { KLogger } from "../kernel/printk.ts";

export const LOG_LEVELS = ["silent", "fatal", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A pino logger writing JSON lines to stderr at `level`. */
export function makeLogger(level: LogLevel = "silent"): KLogger {
  return pino({ level, base: undefined, timestamp: false }, pino.destination(2)) as unknown as KLogger;
}
