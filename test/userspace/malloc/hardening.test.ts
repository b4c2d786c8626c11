import { describe, expect, it } from "vitest";
import { ProcessKilled } from "../../../kernel/signal.ts";
import { SIGABRT } from "../../../kernel/uapi/signal.ts";
import type { UserMemory } from "../../../userspace/env.ts";
import { Libc } from "../../../userspace/libc/libc.ts";
import { M_TCACHE_COUNT } from "../../../userspace/malloc/malloc.ts";
import { tracedProcess } from "../../support/traced_process.ts";

/**
 * Runs `story` on a fresh process and returns the message it died with
 * (SIGABRT). The arena's checks are tested with the tcache off (as glibc's
 * own tests run them with GLIBC_TUNABLES=glibc.malloc.tcache_count=0): a
 * freed small chunk would otherwise wait in the tcache and never reach them.
 */
function abortMessage(story: (libc: Libc, mem: UserMemory) => void, opts: { tcache?: "on" | "off" } = {}): string {
  const { m, p, proc } = tracedProcess();
  const libc = new Libc(proc);
  if (opts.tcache !== "on") expect(libc.mallopt(M_TCACHE_COUNT, 0)).toBe(1);
  let killed: unknown;
  try {
    story(libc, p.mem);
  } catch (e) {
    killed = e;
  }
  expect(killed).toBeInstanceOf(ProcessKilled);
  expect((killed as ProcessKilled).signo).toBe(SIGABRT);
  expect(p.state).toBe("killed");
  expect(p.exitSignal).toBe(SIGABRT);
  m.check();
  return p.stderr;
}

/** The size word of the chunk holding payload `p`. */
const sizeWord = (p: number) => p - 8;

describe("free() hardening (glibc's messages, SIGABRT)", () => {
  it("a misaligned pointer: free(): invalid pointer", () => {
    expect(abortMessage((libc) => libc.free(libc.malloc(100) + 8))).toBe("free(): invalid pointer\n");
  });

  it("a pointer outside the heap that is no mmapped chunk: free(): invalid pointer", () => {
    const msg = abortMessage((libc) => {
      libc.malloc(10);
      const m = libc.mmap(0, 4096, 3, 0x22);
      libc.free(m + 16);
    });
    expect(msg).toBe("free(): invalid pointer\n");
  });

  it("a size below MINSIZE: free(): invalid size", () => {
    const msg = abortMessage((libc, mem) => {
      const p = libc.malloc(200);
      mem.write32(sizeWord(p), 16 | 1);
      libc.free(p);
    });
    expect(msg).toBe("free(): invalid size\n");
  });

  it("freeing the top chunk: double free or corruption (top)", () => {
    const msg = abortMessage((libc) => {
      const p = libc.malloc(200);
      libc.free(p);
      libc.free(p);
    });
    expect(msg).toBe("double free or corruption (top)\n");
  });

  it("freeing a chunk already merged into the top: double free or corruption (out)", () => {
    const msg = abortMessage((libc) => {
      const q = libc.malloc(200);
      const p = libc.malloc(200);
      libc.free(p);
      libc.free(q);
      libc.free(p);
    });
    expect(msg).toBe("double free or corruption (out)\n");
  });

  it("freeing a binned chunk again: double free or corruption (!prev)", () => {
    const msg = abortMessage((libc) => {
      const a = libc.malloc(200);
      libc.malloc(200);
      libc.free(a);
      libc.free(a);
    });
    expect(msg).toBe("double free or corruption (!prev)\n");
  });

  it("a zeroed next size: free(): invalid next size (normal)", () => {
    const msg = abortMessage((libc, mem) => {
      const a = libc.malloc(200);
      const b = libc.malloc(200);
      libc.malloc(200);
      mem.write32(sizeWord(b), 1);
      libc.free(a);
    });
    expect(msg).toBe("free(): invalid next size (normal)\n");
  });

  it("a forged prev_size: corrupted size vs. prev_size while consolidating", () => {
    const msg = abortMessage((libc, mem) => {
      const a = libc.malloc(200);
      const b = libc.malloc(200);
      libc.malloc(200);
      libc.free(a);
      mem.write32(b - 16, 400);
      libc.free(b);
    });
    expect(msg).toBe("corrupted size vs. prev_size while consolidating\n");
  });

  it("a free chunk whose footer disagrees: corrupted size vs. prev_size", () => {
    const msg = abortMessage((libc, mem) => {
      const a = libc.malloc(200);
      const b = libc.malloc(200);
      const c = libc.malloc(200);
      libc.malloc(200);
      libc.free(b);
      mem.write32(c - 16, 4000);
      libc.free(a);
    });
    expect(msg).toBe("corrupted size vs. prev_size\n");
  });

  it("an overwritten forward link (unlink attack): corrupted double-linked list", () => {
    const msg = abortMessage((libc, mem) => {
      const a = libc.malloc(200);
      const b = libc.malloc(200);
      const c = libc.malloc(200);
      const d = libc.malloc(200);
      libc.malloc(200);
      libc.free(d);
      libc.free(b);
      mem.write32(b, mem.read32(b) + 16);
      libc.free(a);
      void c;
    });
    expect(msg).toBe("corrupted double-linked list\n");
  });
});

describe("malloc() hardening", () => {
  it("an overwritten top size (House of Force): malloc(): corrupted top size", () => {
    const msg = abortMessage((libc, mem) => {
      const p = libc.malloc(200);
      mem.write32(p + 208 - 8, 0xfffffff1);
      libc.malloc(5000);
    });
    expect(msg).toBe("malloc(): corrupted top size\n");
  });

  it("a binned chunk whose size was overwritten: malloc(): memory corruption", () => {
    const msg = abortMessage((libc, mem) => {
      const a = libc.malloc(300);
      libc.malloc(300);
      libc.free(a);
      mem.write32(sizeWord(a), 5000 | 1 | 8);
      libc.malloc(300);
    });
    expect(msg).toBe("malloc(): memory corruption\n");
  });

  it("a small bin whose second chunk does not point back: malloc(): smallbin double linked list corrupted", () => {
    const msg = abortMessage((libc, mem) => {
      const a = libc.malloc(40);
      const b = libc.malloc(40);
      const c = libc.malloc(40);
      libc.malloc(40);
      libc.free(a);
      libc.free(c);
      mem.write32(a + 4, 0);
      libc.malloc(40);
      void b;
    });
    expect(msg).toBe("malloc(): smallbin double linked list corrupted\n");
  });

  it("a large bin whose second chunk does not point back: corrupted double-linked list", () => {
    const msg = abortMessage((libc, mem) => {
      const a = libc.malloc(1000);
      libc.malloc(200);
      const c = libc.malloc(1000);
      libc.malloc(200);
      libc.free(a);
      libc.free(c);
      mem.write32(a + 4, 0);
      libc.malloc(1000);
    });
    expect(msg).toBe("corrupted double-linked list\n");
  });

  it("an mmapped chunk whose offset was overwritten: munmap_chunk(): invalid pointer", () => {
    const msg = abortMessage((libc, mem) => {
      const p = libc.malloc(300000);
      mem.write32(p - 16, 8);
      libc.free(p);
    });
    expect(msg).toBe("munmap_chunk(): invalid pointer\n");
  });

  it("an mmapped chunk whose size runs past the address space: munmap_chunk(): invalid pointer", () => {
    const msg = abortMessage((libc, mem) => {
      const p = libc.malloc(300000);
      mem.write32(p - 4, 1);
      libc.free(p);
    });
    expect(msg).toBe("munmap_chunk(): invalid pointer\n");
  });
});

describe("realloc() hardening", () => {
  it("a misaligned pointer: realloc(): invalid pointer", () => {
    expect(abortMessage((libc) => libc.realloc(libc.malloc(100) + 4, 10))).toBe("realloc(): invalid pointer\n");
  });

  it("a freed chunk: realloc(): invalid old size", () => {
    const msg = abortMessage((libc) => {
      const a = libc.malloc(200);
      libc.malloc(200);
      libc.free(a);
      libc.realloc(a, 300);
    });
    expect(msg).toBe("realloc(): invalid old size\n");
  });

  it("a zeroed next size: realloc(): invalid next size", () => {
    const msg = abortMessage((libc, mem) => {
      const a = libc.malloc(200);
      const b = libc.malloc(200);
      mem.write32(sizeWord(b), 1);
      libc.realloc(a, 300);
    });
    expect(msg).toBe("realloc(): invalid next size\n");
  });

  it("an mmapped chunk whose offset was overwritten: mremap_chunk(): invalid pointer", () => {
    const msg = abortMessage((libc, mem) => {
      const p = libc.malloc(300000);
      mem.write32(p - 16, 8);
      libc.realloc(p, 400000);
    });
    expect(msg).toBe("mremap_chunk(): invalid pointer\n");
  });
});

describe("what is not a bug", () => {
  it("free(0) and realloc of a live chunk never abort", () => {
    const { p: task, proc } = tracedProcess();
    const libc = new Libc(proc);
    libc.free(0);
    const p = libc.realloc(libc.malloc(10), 20);
    libc.free(p);
    expect(task.state).toBe("running");
    libc.mallocCheck();
  });
});
