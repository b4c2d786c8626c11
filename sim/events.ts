/**
 * `m.events`: the public face of a machine's typed event stream (see
 * kernel/EVENTS.md for the kinds and their fields). Listening is all it
 * offers; the emitters stay inside the kernel.
 */
import type { KernelEvents } from "../kernel/events.ts";
import { EVENT_KINDS, type EventHandler, type EventKind, type MemsimEvent } from "../kernel/events_types.ts";

/** A listener of every kind. */
export type AnyEventHandler = (e: MemsimEvent) => void;

/** Listeners of one machine's events. */
export class MachineEvents {
  constructor(private readonly bus: KernelEvents) {}

  /**
   * Calls `handler` with every event of `kind` from now on, in the order
   * they happen. Throws RangeError for an unknown kind, TypeError for a
   * handler that is not a function.
   */
  on<K extends EventKind>(kind: K, handler: EventHandler<K>): void {
    this.bus.listen(kind, handler);
  }

  /** Removes `handler` from `kind`. Returns false when it was not listening. Throws RangeError for an unknown kind. */
  off<K extends EventKind>(kind: K, handler: EventHandler<K>): boolean {
    return this.bus.unlisten(kind, handler);
  }

  /** Listens to every kind with one handler. */
  onAll(handler: AnyEventHandler): void {
    for (const k of EVENT_KINDS) this.bus.listen(k, handler as EventHandler<typeof k>);
  }

  /** Removes a handler added with onAll. */
  offAll(handler: AnyEventHandler): void {
    for (const k of EVENT_KINDS) this.bus.unlisten(k, handler as EventHandler<typeof k>);
  }

  /** How many listeners `kind` has. */
  listeners(kind: EventKind): number {
    return this.bus.listeners(kind);
  }

  /** True when some kind has a listener (some emit point is live). */
  get active(): boolean {
    return this.bus.active.some((f) => f !== 0);
  }

  /** The last sequence number handed out (events delivered so far). */
  get seq(): number {
    return this.bus.seq;
  }

  /** The logical clock, in nanoseconds. */
  now(): number {
    return this.bus.now();
  }

  /** Every kind, in index order. */
  static readonly KINDS: readonly EventKind[] = EVENT_KINDS;
}
