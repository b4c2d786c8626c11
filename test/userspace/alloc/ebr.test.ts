import { describe, expect, it } from "vitest";
import { Machine } from "../../../sim/index.ts";
import { createEbr } from "../../../userspace/alloc/ebr.ts";
import { load64, store64 } from "../../../userspace/alloc/heap.ts";
import { createSegregated } from "../../../userspace/alloc/segregated.ts";

describe("epoch-based reclamation (userspace/alloc/ebr.ts)", () => {
  it("a reader on another CPU keeps reading a retired block; it is freed once the epoch has moved twice past it", () => {
    const m = Machine.boot({ ramBytes: 32 << 20, cpus: 2 });
    const p = m.spawn("ebr");
    const t = p.spawnThread("reader");
    if (t === null) throw new Error("no thread");
    const a = createEbr(createSegregated(p), { threads: 2 });
    const WRITER = 0;
    const READER = 1;
    let head = 0;
    let node = 0;
    let seen = 0;
    const log: string[] = [];
    const writer = [
      () => {
        head = a.malloc(8);
        node = a.malloc(64);
        p.mem.write32(node, 1234);
        store64(p.mem, head, node);
      },
      () => {
        store64(p.mem, head, 0);
        a.retire(node, 64);
        log.push(`retired at epoch ${a.epoch()}, ${a.pending()} pending, malloc ${a.malloc(64) === node ? "reused" : "other"}`);
        log.push(`advance while the reader is inside: ${a.tryAdvance()}`);
      },
      () => {
        a.enter(WRITER);
        a.exit(WRITER);
        log.push(`epoch ${a.epoch()}, ${a.pending()} pending, malloc ${a.malloc(64) === node ? "reused" : "other"}`);
      },
    ];
    const reader = [
      () => {
        a.enter(READER);
        seen = load64(p.mem, head);
      },
      () => {
        log.push(`reader reads ${p.mem.read32(seen)}`);
        a.exit(READER);
      },
    ];
    m.run(
      [
        { thread: p, ops: writer },
        { thread: t, ops: reader },
      ],
      {
        schedule: {
          kind: "explicit",
          steps: [
            [0, 0],
            [1, 1],
            [0, 0],
            [1, 1],
            [0, 0],
          ],
        },
        afterStep: () => a.check(),
      },
    );
    // Epoch 0: the reader enters and announces 0. The writer retires the block in epoch 0; the
    // epoch moves to 1 at once (every active thread, the reader, announced 0) but not to 2: the
    // reader has not announced 1. When the reader exits nobody is inside, the epoch moves to 2
    // and epoch 0's block goes back to segregated; the writer's own enter/exit then moves it to 3, and
    // segregated's 64-byte list hands the block out next.
    expect(log).toEqual([
      "retired at epoch 1, 1 pending, malloc other",
      "advance while the reader is inside: false",
      "reader reads 1234",
      "epoch 3, 0 pending, malloc reused",
    ]);
    a.check();
  });

  it("rejects a thread slot it does not have", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    const a = createEbr(createSegregated(m.spawn("x")), { threads: 2 });
    expect(() => a.enter(2)).toThrow(RangeError);
    expect(() => createEbr(createSegregated(m.spawn("y")), { threads: 0 })).toThrow(RangeError);
  });
});
