/**
 * `m.cgroups`: the machine's memory cgroups from the host side, as
 * /sys/fs/cgroup offers them (kernel/mm/memcontrol.ts does the work).
 *
 *   const g = m.cgroups.create("lab", { max: 16 * 4096 });   // 16 frames
 *   p.cgroup = g;                                            // children inherit it
 *   m.cgroups.read(g, "memory.current");                     // "65536\n"
 *   m.cgroups.write(g, "memory.high", "max");
 */
import type { MemCgroup, MemcgController, MemcgFile, MemcgLimits } from "../kernel/mm/memcontrol.ts";

/** The memory cgroups of one machine. */
export class MachineCgroups {
  constructor(private readonly memcg: MemcgController) {}

  /** The root group: every process starts in it; it charges nothing and has no limits. */
  get root(): MemCgroup {
    return this.memcg.root;
  }

  /**
   * mkdir /sys/fs/cgroup/NAME, with memory.max and memory.high in bytes
   * (rounded down to pages; absent or Infinity: "max"). Throws RangeError
   * when the name is empty, has a '/' or is taken, or a limit is bad.
   */
  create(name: string, limits: MemcgLimits = {}): MemCgroup {
    return this.memcg.create(name, limits);
  }

  /** The group named `name` ("/" or "" for the root), or undefined. */
  get(name: string): MemCgroup | undefined {
    return this.memcg.lookup(name);
  }

  /** Every group but the root, in creation order. */
  list(): MemCgroup[] {
    return this.memcg.list();
  }

  /**
   * cat /sys/fs/cgroup/NAME/FILE: memory.current, memory.max, memory.high,
   * memory.stat, memory.events, memory.swap.current. Throws RangeError on
   * an unknown group or file.
   */
  read(group: MemCgroup | string, file: MemcgFile): string {
    return this.memcg.read(this.group(group), file);
  }

  /** echo VALUE > memory.max or memory.high: bytes or "max". Throws RangeError on a bad value, group or file. */
  write(group: MemCgroup | string, file: "memory.max" | "memory.high", value: string | number): void {
    this.memcg.write(this.group(group), file, String(value));
  }

  private group(g: MemCgroup | string): MemCgroup {
    if (typeof g !== "string") return g;
    const found = this.memcg.lookup(g);
    if (found === undefined) throw new RangeError(`no cgroup '${g}'`);
    return found;
  }
}
