import { describe, expect, it } from "vitest";
import { type ChunkInfo, renderChunkMap } from "../../../sim/cli/heapmap.ts";

const at = (addr: number, size: number, state: ChunkInfo["state"], note = ""): ChunkInfo => ({ addr, size, state, note });

describe("heap chunk map", () => {
  it("marks free chunks, collapses runs of identical chunks, and totals each state", () => {
    const chunks = [
      at(0x1000, 32, "used"),
      ...Array.from({ length: 5 }, (_, i) => at(0x1020 + i * 48, 48, "used")),
      at(0x1110, 48, "free", "unsorted"),
      at(0x1140, 48, "used"),
      at(0x1170, 48, "used"),
      at(0x11a0, 3680, "top"),
    ];
    expect(renderChunkMap(chunks)).toBe(
      [
        "8 chunks in use (368 B), 1 free (48 B), top 3680 B",
        "  address        state        size",
        "  0x000000001000 used           32",
        "  0x000000001020 used           48",
        "  ... 4 more like it, to 0x1110",
        "* 0x000000001110 free           48  unsorted",
        "  0x000000001140 used           48",
        "  0x000000001170 used           48",
        "  0x0000000011a0 top          3680",
        "",
      ].join("\n"),
    );
  });
});
