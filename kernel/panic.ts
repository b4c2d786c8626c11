/**
 * Tier-1 errors: kernel bugs and corrupted kernel state.
 *
 * `panic()` and `BUG_ON()` throw {@link KernelPanic}; invariant checkers throw
 * {@link InvariantViolation} with a stable ID such as `BUDDY-3`. Nothing in
 * kernel/ catches either: they mean the emulated kernel is broken.
 */

/** A kernel bug or a kernel access nothing could satisfy (an oops). */
export class KernelPanic extends Error {
  override readonly name = "KernelPanic";
}

/** A checker found state that breaks an invariant. `id` names the invariant. */
export class InvariantViolation extends Error {
  override readonly name = "InvariantViolation";
  constructor(
    readonly id: string,
    what: string,
  ) {
    super(`${id}: ${what}`);
  }
}

/**
 * Stops the kernel. `msg` reads "subsystem: what", like xv6's "mappages: remap".
 *
 * Panics always.
 */
export function panic(msg: string): never {
  throw new KernelPanic(msg);
}

/** Panics with `msg` when `cond` holds. */
export function BUG_ON(cond: boolean, msg: string): void {
  if (cond) throw new KernelPanic(msg);
}

/** Throws an InvariantViolation `id: what` when `cond` fails. */
export function invariant(cond: boolean, id: string, what: string): asserts cond {
  if (!cond) throw new InvariantViolation(id, what);
}

/**
 * A layer a lab plugged in (`Machine.boot({ layers })`) broke its contract:
 * it threw, returned garbage or lost frames. `layer` is "frames", "pageFault",
 * "forkCopy", "malloc", "onSpawn" or "onExit"; the message names the layer's
 * own name too, so the fault is the layer's, never a corrupt kernel.
 */
export class LayerFault extends Error {
  override readonly name = "LayerFault";
  constructor(
    readonly layer: string,
    what: string,
    options?: { cause?: unknown },
  ) {
    super(`${layer} layer: ${what}`, options);
  }
}

/** Throws a LayerFault for `layer`. Always throws. */
export function layerFault(layer: string, what: string, cause?: unknown): never {
  throw new LayerFault(layer, what, cause === undefined ? undefined : { cause });
}
