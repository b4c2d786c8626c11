/**
 * The kernel's voice: debug reports (what Linux prints to dmesg for slab_debug,
 * allocation failures, bad vfree, oopses that were survived) kept in a list
 * that tests and tools read, and sent to the logger.
 *
 * The logger is any pino-compatible object; the kernel never imports sim/, so
 * the machine hands one in. Hot paths test `enabled(level)` before building a
 * log object.
 */

/** The part of a pino logger the kernel uses. */
export interface KLogger {
  level: string;
  child(bindings: Record<string, unknown>): KLogger;
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  isLevelEnabled?(level: string): boolean;
}

/** One debug report: `kind` is a stable tag ("page_alloc_failure"), `text` what dmesg would show. */
export interface KernelReport {
  readonly kind: string;
  readonly text: string;
}

/** A logger that drops everything. */
export const silentLogger: KLogger = {
  level: "silent",
  child() {
    return silentLogger;
  },
  warn() {},
  info() {},
  debug() {},
  error() {},
  isLevelEnabled() {
    return false;
  },
};

/** The report list plus the logger it mirrors to. */
export class Printk {
  readonly reports: KernelReport[] = [];
  private readonly log: KLogger;

  constructor(log: KLogger) {
    this.log = log.child({ subsystem: "printk" });
  }

  /** Records a report and logs it at warn level. */
  report(kind: string, text: string): void {
    this.reports.push({ kind, text });
    this.log.warn({ kind }, text);
  }

  /** Reports of one kind, in order. */
  ofKind(kind: string): KernelReport[] {
    return this.reports.filter((r) => r.kind === kind);
  }
}
