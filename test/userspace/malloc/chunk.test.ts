import { describe, expect, it } from "vitest";
import { misaligned16 } from "../../../userspace/malloc/chunk.ts";

describe("misaligned16", () => {
  it("agrees with v % 16 !== 0 on pointers a program may pass", () => {
    const values = [
      0,
      -0,
      1,
      15,
      16,
      17,
      32,
      -16,
      -17,
      0.5,
      16.5,
      -16.5,
      2 ** 31,
      2 ** 31 + 8,
      2 ** 32,
      2 ** 32 + 16,
      2 ** 32 + 1,
      0x555555554010,
      0x555555554018,
      0x555555554010 + 0.25,
      2 ** 47 - 16,
      2 ** 53,
      2 ** 53 + 2,
      2 ** 60,
      1e300,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.NaN,
    ];
    for (const v of values) expect([v, misaligned16(v)]).toEqual([v, v % 16 !== 0]);
  });
});
