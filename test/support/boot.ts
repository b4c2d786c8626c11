/**
 * How the process, fork, syscall and integration suites boot a machine.
 * MEMSIM_TEST_FRAMES picks the frames layer they run on: unset (or "buddy")
 * is the buddy allocator; "xv6" and "bitmap" are the lab allocators memsim
 * ships (kernel/labs). The vitest config runs those suites a second time
 * with MEMSIM_TEST_FRAMES=xv6.
 */
import type { BootOptions, FramesLayer } from "../../sim/index.ts";
import { bitmapFrames, Machine, xv6Frames } from "../../sim/index.ts";

const FRAMES: Record<string, FramesLayer | undefined> = { buddy: undefined, xv6: xv6Frames, bitmap: bitmapFrames };

/** The frames layer these suites run on: "buddy", "xv6" or "bitmap". */
export const TEST_FRAMES = process.env.MEMSIM_TEST_FRAMES ?? "buddy";
if (!(TEST_FRAMES in FRAMES)) throw new Error(`MEMSIM_TEST_FRAMES must be buddy, xv6 or bitmap, got '${TEST_FRAMES}'`);

/** True when the suites run on the buddy allocator (tests of buddy-only views check this). */
export const ON_BUDDY = TEST_FRAMES === "buddy";

/** Machine.boot with the test frames layer (a test's own `layers` entries win). */
export function bootMachine(opts: BootOptions = {}): Machine {
  const frames = FRAMES[TEST_FRAMES];
  if (frames === undefined) return Machine.boot(opts);
  return Machine.boot({ ...opts, layers: { frames, ...opts.layers } });
}
