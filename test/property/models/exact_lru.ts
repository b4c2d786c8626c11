/**
 * Exact LRU in the every-access mode against a model: one process in a
 * memory cgroup of 2 to 5 frames with swap, on a machine booted with
 * `mmu: { observeAccesses: true }` and `lruReplacement`, reads and writes
 * pages of a 10-page window. The model is the textbook's LRU list over
 * every access (a hit moves the page to the most recent end; a miss with
 * the frames full evicts the least recent). After every command: the
 * access faulted exactly when the model missed, the pages whose entries
 * are present are the model's resident set, the value read is the last one
 * written, and the memcg, mm, swap and lru checkers pass.
 */
import fc from "fast-check";
import { lruReplacement, MAP_ANONYMOUS, MAP_PRIVATE, Machine, PROT_READ, PROT_WRITE, type Process } from "../../../sim/index.ts";
import { checkAfterCommand, expectSame, type PropertyModel, type StoryStats } from "../../support/budget.ts";

const PAGE = 4096;
const WINDOW = 10;

interface Story {
  readonly frames: number;
  /** Each access: the page, and whether it writes (a read of a page never written writes instead: a read would map the zero page, which no LRU holds). */
  readonly accesses: readonly { readonly page: number; readonly write: boolean }[];
}

function run(story: Story): StoryStats {
  const stats: StoryStats = { commands: 0, checks: 0 };
  const m = Machine.boot({
    ramBytes: 8 << 20,
    seed: 1,
    swapBytes: 256 << 10,
    mmu: { observeAccesses: true },
    layers: { replacement: lruReplacement },
  });
  const g = m.cgroups.create("lru", { max: story.frames * PAGE });
  const p: Process = m.spawn("lru");
  p.cgroup = g;
  const base = p.sys.mmap(0, WINDOW * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  let faults = 0;
  m.events.on("page_fault_user", () => {
    faults++;
  });
  /** The model: resident pages, least recently used first; the last value written to each page. */
  const lru: number[] = [];
  const values = new Map<number, number>();
  for (const [i, { page, write }] of story.accesses.entries()) {
    stats.commands++;
    const at = lru.indexOf(page);
    const hit = at >= 0;
    if (hit) lru.splice(at, 1);
    else if (lru.length === story.frames) lru.shift();
    lru.push(page);
    const before = faults;
    if (write || !values.has(page)) {
      p.mem.write32(base + page * PAGE, i);
      values.set(page, i);
    } else expectSame(p.mem.read32(base + page * PAGE), values.get(page), `page ${page} read back`);
    expectSame(faults === before, hit, `access ${i} (page ${page}) hit`);
    const present: number[] = [];
    for (let n = 0; n < WINDOW; n++) if (m.kernel.mmu.peek(p.mm.pt, base + n * PAGE) >= 0) present.push(n);
    expectSame(present.join(","), [...lru].sort((a, b) => a - b).join(","), `resident pages after access ${i}`);
    checkAfterCommand(m, stats, ["memcg", "mm", "swap", "lru"]);
  }
  m.check();
  stats.checks++;
  return stats;
}

/** The exact-LRU model (budget: EXACT_LRU_COMMANDS, default 300 commands per CI run: a few seconds). */
export const EXACT_LRU_MODEL: PropertyModel<Story> = {
  name: "exact-lru",
  budget: Number(process.env.EXACT_LRU_COMMANDS ?? 300),
  storyMax: 40,
  arbitrary: (max) =>
    fc.record({
      frames: fc.integer({ min: 2, max: 5 }),
      accesses: fc.array(fc.record({ page: fc.integer({ min: 0, max: WINDOW - 1 }), write: fc.boolean() }), {
        minLength: 1,
        maxLength: max,
      }),
    }),
  run,
};
