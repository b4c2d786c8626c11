/**
 * Language commands of the C library inside a process: `p malloc 100`,
 * `p free PTR`, calloc, realloc, malloc_usable_size, mallinfo2. The heap's
 * chunk map is the `heap` view (cmds_process.ts).
 */
import { errnoName } from "../../../kernel/errno.ts";
import { type ProcSubject, va } from "./cmds_process.ts";
import { addSubjectCommands, type LangCommand } from "./registry.ts";

/** The libc calls of a process: malloc and friends. */
const LIBC: Array<LangCommand<ProcSubject>> = [
  {
    name: "malloc",
    synopsis: "SIZE",
    help: "malloc(3) in the process (value: the pointer)",
    run: ({ p }, a) => {
      const n = a.size(0, "SIZE");
      a.done(1);
      const ptr = p.libc.malloc(n);
      return ptr === 0 ? { text: `malloc: NULL (errno ${errnoName(p.libc.errno)})` } : { text: va(ptr), value: ptr };
    },
  },
  {
    name: "calloc",
    synopsis: "N SIZE",
    help: "calloc(3): N zeroed elements (value: the pointer)",
    run: ({ p }, a) => {
      const ptr = p.libc.calloc(a.int(0, "N"), a.size(1, "SIZE"));
      a.done(2);
      return ptr === 0 ? { text: `calloc: NULL (errno ${errnoName(p.libc.errno)})` } : { text: va(ptr), value: ptr };
    },
  },
  {
    name: "realloc",
    synopsis: "PTR SIZE",
    help: "realloc(3) (value: the new pointer)",
    run: ({ p }, a) => {
      const ptr = p.libc.realloc(a.int(0, "PTR"), a.size(1, "SIZE"));
      a.done(2);
      return ptr === 0 ? { text: "realloc: NULL" } : { text: va(ptr), value: ptr };
    },
  },
  {
    name: "free",
    synopsis: "PTR",
    help: "free(3); a bad pointer aborts the process as glibc does",
    run: ({ p }, a) => {
      const ptr = a.int(0, "PTR");
      a.done(1);
      p.libc.free(ptr);
      return `freed ${va(ptr)}`;
    },
  },
  {
    name: "usable",
    synopsis: "PTR",
    help: "malloc_usable_size(3)",
    run: ({ p }, a) => {
      const n = p.libc.mallocUsableSize(a.int(0, "PTR"));
      a.done(1);
      return { text: String(n), value: n };
    },
  },
  {
    name: "mallinfo",
    synopsis: "",
    help: "mallinfo2(3): heap bytes in use and free, mmapped chunks, top",
    run: ({ p }, a) => {
      a.done(0);
      return Object.entries(p.libc.mallinfo2())
        .map(([k, v]) => `${k.padEnd(9)} ${v}`)
        .join("\n");
    },
  },
];

addSubjectCommands("process", LIBC);
