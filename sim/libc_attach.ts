/**
 * `p.libc`: every process gets its C library (userspace/libc) on first use,
 * with the machine's malloc layer (`layers.malloc`, memsim's own by default)
 * watched by the kernel (malloc_watch.ts). The kernel's Process knows
 * nothing of userspace; this file adds the property from above, and keeps a
 * forked child's libc in step with its parent's (MallocHeap.fork).
 */
import type { Tasks } from "../kernel/fork.ts";
import type { KernelApi } from "../kernel/mm/lab_api.ts";
import { Process } from "../kernel/process.ts";
import { Libc } from "../userspace/libc/libc.ts";
import type { MallocLayer } from "../userspace/libc/malloc_layer.ts";
import { memsimMalloc } from "../userspace/malloc/malloc.ts";
import { NO_SITES, type UserSiteHook } from "./alloc_sites.ts";
import { KernelMallocWatch } from "./malloc_watch.ts";

declare module "../kernel/process.ts" {
  interface Process {
    /** The C library of this process (malloc, free, sbrk, memcpy ...), made on first use. */
    readonly libc: Libc;
  }
}

/** What every libc of one machine is made with. */
export interface LibcSetup {
  /** The malloc layer (default memsimMalloc). */
  readonly malloc?: MallocLayer;
  /** The machine's debugVm: how closely the layer's answers are watched (malloc_watch.ts). */
  readonly debugVm: number;
  /** The kernel API the watch finds VMAs with. */
  readonly k: KernelApi;
  /** Allocation-site tracking of the machine (default: none). */
  readonly sites?: UserSiteHook;
}

const libcs = new WeakMap<Process, Libc>();
const setups = new WeakMap<Tasks, Required<LibcSetup>>();

Object.defineProperty(Process.prototype, "libc", {
  configurable: true,
  get(this: Process): Libc {
    let libc = libcs.get(this);
    if (libc === undefined) {
      const s = setups.get(this.tasks);
      const watch = s === undefined ? undefined : new KernelMallocWatch(this, s.k, s.debugVm, undefined, s.sites);
      libc = s === undefined || watch === undefined ? new Libc(this) : new Libc(this, { malloc: s.malloc, watch });
      libcs.set(this, libc);
    }
    return libc;
  },
});

/**
 * Gives the processes of `tasks` their libc with `setup`, and makes forked
 * children inherit their parent's libc state. Throws LayerFault (from the
 * fork) when the layer's fork throws or returns no heap; the child is then
 * gone (exit status 127), its memory given back.
 */
export function attachLibc(tasks: Tasks, setup: LibcSetup): void {
  setups.set(tasks, { malloc: setup.malloc ?? memsimMalloc, debugVm: setup.debugVm, k: setup.k, sites: setup.sites ?? NO_SITES });
  tasks.forkHooks.push((parent, child) => {
    const libc = libcs.get(parent);
    if (libc === undefined) return;
    try {
      libcs.set(child, libc.forkFor(child));
    } catch (e) {
      child.exit(127);
      throw e;
    }
  });
}
