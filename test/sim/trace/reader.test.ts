import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseJsonl } from "../../../sim/trace/jsonl.ts";
import { MALLOCLAB_DIR } from "../../../sim/trace/malloclab.ts";
import { parseTrace, readTrace } from "../../../sim/trace/read.ts";
import { parseRep } from "../../../sim/trace/rep.ts";
import { OP_ALLOC, OP_FREE, OP_REALLOC, type Trace, TraceError } from "../../../sim/trace/trace.ts";

const DIR = MALLOCLAB_DIR;

function ops(t: Trace): string[] {
  return Array.from(t.kind, (k, i) => `${"arf"[k]} ${t.id[i]}${k === OP_FREE ? "" : ` ${t.size[i]}`} @${t.line[i]}`);
}

describe(".rep traces", () => {
  it("a 4-line header: heap, ids, ops, weight", () => {
    const t = parseRep("20000\n3\n5\n1\na 0 10\na 1 20\nr 0 30\nf 1\nf 0\n", "x.rep");
    expect([t.name, t.suggestedHeap, t.numIds, t.numOps, t.weight, t.maxSize]).toEqual(["x.rep", 20000, 3, 5, 1, 30]);
    expect(ops(t)).toEqual(["a 0 10 @5", "a 1 20 @6", "r 0 30 @7", "f 1 @8", "f 0 @9"]);
  });

  it("a 2-line header (ids, ops), f -1, tabs, CRLF and blank lines", () => {
    const t = parseRep("2\r\n3\r\n\r\na\t0\t16\r\nf -1\r\n\r\nf  0\r\n", "y.rep");
    expect([t.suggestedHeap, t.numIds, t.numOps, t.weight]).toEqual([0, 2, 3, 1]);
    expect(ops(t)).toEqual(["a 0 16 @4", "f -1 @5", "f 0 @7"]);
    expect(t.kind[1]).toBe(OP_FREE);
    expect(t.id[1]).toBe(-1);
  });

  it("the shared CS:APP traces all parse; amptjp-bal has the header mdriver reads", () => {
    const t = readTrace(join(DIR, "amptjp-bal.rep"));
    expect([t.suggestedHeap, t.numIds, t.numOps, t.weight]).toEqual([3000000, 2847, 5694, 1]);
    expect(ops(t).slice(0, 2)).toEqual(["a 0 2040 @5", "a 1 2040 @6"]);
    const realloc = readTrace(join(DIR, "realloc-bal.rep"));
    expect(Array.from(realloc.kind).filter((k) => k === OP_REALLOC)).toHaveLength(4799);
    for (const f of ["binary-bal.rep", "binary2-bal.rep", "cccp-bal.rep", "coalescing-bal.rep", "cp-decl-bal.rep", "expr-bal.rep"]) {
      expect(readTrace(join(DIR, f)).numOps).toBeGreaterThan(0);
    }
    for (const f of ["random-bal.rep", "random2-bal.rep", "realloc2-bal.rep", "short1-bal.rep", "short2-bal.rep"]) {
      expect(readTrace(join(DIR, f)).numOps).toBeGreaterThan(0);
    }
  });

  const bad: Array<[string, string, string]> = [
    ["an empty file", "", "t.rep:1: expected a header of 4 integer lines (heap, ids, ops, weight) or 2 (ids, ops), found 0"],
    [
      "a 3-line header",
      "1\n2\n3\na 0 1\n",
      "t.rep:4: expected a header of 4 integer lines (heap, ids, ops, weight) or 2 (ids, ops), found 3",
    ],
    ["a header line that is not an integer", "100\n2x\n", "t.rep:2: header line must be one integer, found '2x'"],
    ["a header line with two numbers", "100 5\n", "t.rep:1: header line must be one integer, found '100 5'"],
    ["a negative header value", "-1\n2\n", "t.rep:1: header value -1 is not a non-negative integer"],
    ["an unknown operation", "2\n1\nx 0 1\n", "t.rep:3: header line must be one integer, found 'x 0 1'"],
    ["an unknown operation after the first", "2\n2\na 0 1\nm 0 1\n", "t.rep:4: unknown operation 'm' (expected a, r or f)"],
    ["'a' without a size", "2\n1\na 0\n", "t.rep:3: 'a' takes two fields: an id and a size"],
    ["'r' with an extra field", "2\n2\na 0 1\nr 0 1 2\n", "t.rep:4: 'r' takes two fields: an id and a size"],
    ["'f' with a size", "2\n2\na 0 1\nf 0 1\n", "t.rep:4: 'f' takes one field: an id"],
    ["an id that is not an integer", "2\n1\na zero 1\n", "t.rep:3: id 'zero' is not an integer"],
    ["a size that is not an integer", "2\n1\na 0 1.5\n", "t.rep:3: size '1.5' is not an integer"],
    ["a negative size", "2\n1\na 0 -4\n", "t.rep:3: size -4 is out of range 0..2147483647"],
    ["a size beyond an int", "2\n1\na 0 2147483648\n", "t.rep:3: size 2147483648 is out of range 0..2147483647"],
    ["an id beyond the header's count", "2\n1\na 2 8\n", "t.rep:3: id 2 is out of range (the header declares 2 ids)"],
    ["a negative id other than f -1", "2\n1\na -1 8\n", "t.rep:3: id -1 is out of range (the header declares 2 ids)"],
    ["an id allocated twice", "2\n2\na 0 8\na 0 8\n", "t.rep:4: id 0 is allocated again while still live"],
    ["a free of an id never allocated", "2\n1\nf 1\n", "t.rep:3: free of id 1, which is not allocated"],
    ["a double free", "2\n3\na 0 8\nf 0\nf 0\n", "t.rep:5: free of id 0, which is not allocated"],
    ["a realloc of a free id", "2\n1\nr 0 8\n", "t.rep:3: realloc of id 0, which is not allocated"],
    ["fewer ops than the header says", "2\n3\na 0 8\nf 0\n", "t.rep:4: the header declares 3 operations, the file has 2"],
    ["more ops than the header says", "2\n1\na 0 8\nf 0\n", "t.rep:4: the header declares 1 operations, the file has 2"],
    ["more ids than a trace may declare", "0\n99999999\n0\n1\n", "t.rep:2: 99999999 ids is more than a trace may declare (16777216)"],
  ];
  for (const [what, text, message] of bad) {
    it(`rejects ${what}, naming the file and line`, () => {
      expect(() => parseRep(text, "t.rep")).toThrow(TraceError);
      expect(() => parseRep(text, "t.rep")).toThrow(message);
    });
  }
});

describe("JSON-lines traces", () => {
  it("one op per line; ids count from the largest id", () => {
    const t = parseJsonl(
      '{"op":"a","id":0,"size":16}\n\n{"op":"a","id":4,"size":0}\n{"op":"r","id":0,"size":32}\n{"op":"f","id":-1}\n',
      "t.jsonl",
    );
    expect([t.numIds, t.numOps, t.weight, t.suggestedHeap]).toEqual([5, 4, 1, 0]);
    expect(ops(t)).toEqual(["a 0 16 @1", "a 4 0 @3", "r 0 32 @4", "f -1 @5"]);
    expect(t.kind[2]).toBe(OP_REALLOC);
    expect(t.kind[0]).toBe(OP_ALLOC);
  });

  const bad: Array<[string, string, string]> = [
    ["text that is not JSON", '{"op":"a",', "t.jsonl:1: not JSON: "],
    ["an array", "[1,2]", "t.jsonl:1: each line must be a JSON object"],
    ["a number", "7", "t.jsonl:1: each line must be a JSON object"],
    ["an unknown key", '{"op":"a","id":0,"size":1,"tag":2}', "t.jsonl:1: unknown key 'tag' (expected op, id, size)"],
    ["an unknown op", '{"op":"m","id":0,"size":1}', 't.jsonl:1: "op" must be "a", "r" or "f", found "m"'],
    ["a missing op", '{"id":0,"size":1}', 't.jsonl:1: "op" must be "a", "r" or "f", found undefined'],
    ["a fractional id", '{"op":"a","id":0.5,"size":1}', 't.jsonl:1: "id" must be an integer, found 0.5'],
    ["a string id", '{"op":"f","id":"0"}', 't.jsonl:1: "id" must be an integer, found "0"'],
    ["an alloc without a size", '{"op":"a","id":0}', 't.jsonl:1: "a" needs an integer "size", found undefined'],
    ["a free with a size", '{"op":"a","id":0,"size":1}\n{"op":"f","id":0,"size":1}', 't.jsonl:2: "f" takes no "size"'],
    ["a negative size", '{"op":"a","id":0,"size":-1}', "t.jsonl:1: size -1 is out of range 0..2147483647"],
    ["a free of an unallocated id", '{"op":"f","id":3}', "t.jsonl:1: free of id 3, which is not allocated"],
    ["a realloc of id -1", '{"op":"r","id":-1,"size":3}', "t.jsonl:1: id -1 is out of range (the header declares 16777216 ids)"],
  ];
  for (const [what, text, message] of bad) {
    it(`rejects ${what}, naming the file and line`, () => {
      expect(() => parseJsonl(text, "t.jsonl")).toThrow(TraceError);
      expect(() => parseJsonl(text, "t.jsonl")).toThrow(message);
    });
  }
});

describe("reading files", () => {
  const dir = mkdtempSync(join(tmpdir(), "memsim-trace-"));

  it("a missing file is a TraceError naming it", () => {
    const f = join(dir, "nope.rep");
    expect(() => readTrace(f)).toThrow(`${f}: cannot read: ENOENT`);
  });

  it("the extension picks the format; without one the first character does", () => {
    writeFileSync(join(dir, "a.jsonl"), '{"op":"a","id":0,"size":8}\n');
    writeFileSync(join(dir, "b.txt"), '  {"op":"a","id":0,"size":8}\n');
    writeFileSync(join(dir, "c"), "1\n1\na 0 8\n");
    expect(readTrace(join(dir, "a.jsonl")).numOps).toBe(1);
    expect(readTrace(join(dir, "b.txt")).numOps).toBe(1);
    expect(readTrace(join(dir, "c")).numIds).toBe(1);
    expect(() => parseTrace("1\n1\na 0 8\n", "x.jsonl")).toThrow("x.jsonl:1: each line must be a JSON object");
  });
});
