/**
 * `p.libc`: every process gets its C library (userspace/libc) on first use.
 * The kernel's Process knows nothing of userspace; this file adds the
 * property from above, and keeps a forked child's libc in step with its
 * parent's (malloc's cached header values are copied with the memory).
 */
import type { Tasks } from "../kernel/fork.ts";
import { Process } from "../kernel/process.ts";
import { Libc } from "../userspace/libc/libc.ts";

declare module "../kernel/process.ts" {
  interface Process {
    /** The C library of this process (malloc, free, sbrk, memcpy ...), made on first use. */
    readonly libc: Libc;
  }
}

const libcs = new WeakMap<Process, Libc>();

Object.defineProperty(Process.prototype, "libc", {
  configurable: true,
  get(this: Process): Libc {
    let libc = libcs.get(this);
    if (libc === undefined) {
      libc = new Libc(this);
      libcs.set(this, libc);
    }
    return libc;
  },
});

/** Makes forked children inherit their parent's libc state. */
export function attachLibc(tasks: Tasks): void {
  tasks.forkHooks.push((parent, child) => {
    const libc = libcs.get(parent);
    if (libc !== undefined) libcs.set(child, libc.forkFor(child));
  });
}
