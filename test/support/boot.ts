/**
 * How the process, fork, syscall and integration suites boot a machine.
 * MEMSIM_TEST_FRAMES picks the frames layer they run on: unset (or "buddy")
 * is the buddy allocator; "xv6" and "bitmap" are the lab allocators memsim
 * ships (kernel/labs). The vitest config runs those suites a second time
 * with MEMSIM_TEST_FRAMES=xv6.
 */
import type { BootOptions, FramesLayer, Layers } from "../../sim/index.ts";
import { bitmapFrames, Machine, uvmcopy, xv6Frames } from "../../sim/index.ts";
import { lazyAlloc } from "./student_layers.ts";
import { implicitList } from "./student_malloc.ts";

const FRAMES: Record<string, FramesLayer | undefined> = { buddy: undefined, xv6: xv6Frames, bitmap: bitmapFrames };

/** The frames layer these suites run on: "buddy", "xv6" or "bitmap". */
export const TEST_FRAMES = process.env.MEMSIM_TEST_FRAMES ?? "buddy";
if (!(TEST_FRAMES in FRAMES)) throw new Error(`MEMSIM_TEST_FRAMES must be buddy, xv6 or bitmap, got '${TEST_FRAMES}'`);

/** True when the suites run on the buddy allocator (tests of buddy-only views check this). */
export const ON_BUDDY = TEST_FRAMES === "buddy";

/**
 * MEMSIM_TEST_LAYERS: lab layers to run these suites on, a comma list of
 * "lazy" (test/support/student_layers.ts lazyAlloc as layers.pageFault),
 * "uvmcopy" (the eager fork copy as layers.forkCopy) and "implicit"
 * (test/support/student_malloc.ts, CS:APP's implicit free list, as
 * layers.malloc; the vitest project malloc-implicit sets it).
 */
const LAB: Record<string, Layers> = {
  lazy: { pageFault: lazyAlloc },
  uvmcopy: { forkCopy: uvmcopy },
  implicit: { malloc: implicitList },
};
const labLayers: Layers = {};
for (const name of (process.env.MEMSIM_TEST_LAYERS ?? "").split(",").filter((s) => s !== "")) {
  const l = LAB[name];
  if (l === undefined) throw new Error(`MEMSIM_TEST_LAYERS takes ${Object.keys(LAB).join(", ")}, got '${name}'`);
  Object.assign(labLayers, l);
}

/** True when p.libc runs memsim's own malloc (tests of its internals, through p.libc, check this). */
export const ON_MEMSIM_MALLOC = labLayers.malloc === undefined;

/** True when fork copies eagerly (MEMSIM_TEST_LAYERS has uvmcopy): models of COW sharing then expect private copies. */
export const EAGER_FORK = labLayers.forkCopy === uvmcopy;

/** Machine.boot with the test frames layer and MEMSIM_TEST_LAYERS (a test's own `layers` entries win). */
export function bootMachine(opts: BootOptions = {}): Machine {
  const frames = FRAMES[TEST_FRAMES];
  if (frames === undefined && Object.keys(labLayers).length === 0) return Machine.boot(opts);
  return Machine.boot({ ...opts, layers: { ...(frames === undefined ? {} : { frames }), ...labLayers, ...opts.layers } });
}
