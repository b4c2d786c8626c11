/**
 * Language commands of the kernel allocators above the buddy allocator:
 * kmalloc, kzalloc, kfree, ksize, kmem_cache_create and its cache's
 * alloc/free (`kmem_cache_create dentry 192`, then `dentry alloc`),
 * validate_slabs; vmalloc, vzalloc, vfree.
 */
import { GFP_KERNEL } from "../../../kernel/mm/gfp.ts";
import type { KmemCache } from "../../../kernel/mm/slab.ts";
import { va } from "./cmds_process.ts";
import { addSubjectCommands, LANG_COMMANDS, type LangArgs, LangError, type LangResult, type Subject } from "./registry.ts";
import type { Session } from "./session.ts";

/** A cache the user created, addressed by its name. */
interface CacheSubject extends Subject {
  readonly kind: "cache";
  readonly cache: KmemCache;
}

/** The kmalloc cache (or kmalloc-large) an object lives in, and its ksize. */
function objectInfo(s: Session, kva: number): string {
  const k = s.m.kernel;
  const pfn = k.kvaToPfn(kva);
  const id = k.memmap.ownerBits(k.memmap.compoundHead(pfn));
  const cache = k.slab.cacheById(id);
  return `${cache ? cache.name : "kmalloc-large"}, ksize ${k.ksize(kva)}`;
}

function kmalloc(zero: boolean) {
  return (s: Session, a: LangArgs): LangResult => {
    const size = a.size(0, "SIZE");
    a.done(1);
    const k = s.m.kernel;
    const kva = zero ? k.kzalloc(size, GFP_KERNEL) : k.kmalloc(size, GFP_KERNEL);
    if (kva === 0) return { text: `${a.cmd}: NULL (no memory)` };
    if (kva === 16) return { text: `${a.cmd}: ZERO_SIZE_PTR (0x10)`, value: 16 };
    return { text: `${va(kva)} (${objectInfo(s, kva)})`, value: kva };
  };
}

function vmalloc(s: Session, a: LangArgs, which: "vmalloc" | "vzalloc"): LangResult {
  const size = a.size(0, "SIZE");
  a.done(1);
  const k = s.m.kernel;
  const kva = which === "vzalloc" ? k.vzalloc(size) : k.vmalloc(size);
  if (kva === 0) return { text: `${which}: NULL` };
  const pages = Math.ceil(size / 4096);
  return { text: `${va(kva)} (${pages} pages, first frame pfn 0x${(k.vmallocToPfn(kva) ?? 0).toString(16)})`, value: kva };
}

function kfree(s: Session, a: LangArgs): string {
  const kva = a.addr(0, "ADDR");
  a.done(1);
  s.m.kernel.kfree(kva);
  return `freed ${va(kva)}`;
}

function ksize(s: Session, a: LangArgs): LangResult {
  const kva = a.addr(0, "ADDR");
  a.done(1);
  const n = s.m.kernel.ksize(kva);
  return { text: String(n), value: n };
}

function cacheCreate(s: Session, a: LangArgs): string {
  const name = a.word(0, "NAME");
  const size = a.size(1, "SIZE");
  const align = a.optInt("align", 0, 0, 4096);
  a.done(2);
  if (!/^[A-Za-z_][\w-]*$/.test(name)) throw new LangError(`kmem_cache_create: bad name '${name}'`);
  if (s.subjects.has(name) || LANG_COMMANDS.some((c) => c.name === name))
    throw new LangError(`kmem_cache_create: the name '${name}' is taken`);
  const cache = s.m.kernel.kmemCacheCreate(name, size, align ? { align } : {});
  if (!cache) return "kmem_cache_create: NULL";
  s.subjects.set(name, { kind: "cache", cache } as CacheSubject);
  return `${name}: object size ${cache.objectSize}, stride ${cache.size}, ${cache.objects} objects per slab of order ${cache.order}`;
}

addSubjectCommands<CacheSubject>("cache", [
  {
    name: "alloc",
    synopsis: "",
    help: "kmem_cache_alloc (value: the object's address)",
    run({ cache }, a) {
      a.done(0);
      const kva = cache.alloc(GFP_KERNEL);
      return kva === 0 ? { text: "kmem_cache_alloc: NULL" } : { text: va(kva), value: kva };
    },
  },
  {
    name: "free",
    synopsis: "ADDR",
    help: "kmem_cache_free",
    run({ cache }, a) {
      const kva = a.addr(0, "ADDR");
      a.done(1);
      cache.free(kva);
      return `freed ${va(kva)}`;
    },
  },
  {
    name: "destroy",
    synopsis: "",
    help: "kmem_cache_destroy (refused, with a report, while objects are live)",
    run({ cache }, a, s) {
      a.done(0);
      const ok = s.m.kernel.kmemCacheDestroy(cache);
      if (ok) s.subjects.delete(cache.name);
      return ok ? `destroyed ${cache.name}` : `kmem_cache_destroy ${cache.name}: objects remain (see reports)`;
    },
  },
]);

LANG_COMMANDS.push(
  { name: "kmalloc", synopsis: "SIZE", help: "kmalloc; prints the address, cache and ksize (value: the address)", run: kmalloc(false) },
  { name: "kzalloc", synopsis: "SIZE", help: "kzalloc: kmalloc, zeroed", run: kmalloc(true) },
  { name: "kfree", synopsis: "ADDR", help: "kfree", run: kfree },
  { name: "ksize", synopsis: "ADDR", help: "ksize: the usable size of an object", run: ksize },
  {
    name: "kmem_cache_create",
    synopsis: "NAME SIZE [align=N]",
    help: "a cache of your own; then NAME alloc / NAME free ADDR",
    run: cacheCreate,
  },
  {
    name: "vmalloc",
    synopsis: "SIZE",
    help: "vmalloc: virtually contiguous pages from scattered frames (value: the address)",
    run: (s, a) => vmalloc(s, a, "vmalloc"),
  },
  { name: "vzalloc", synopsis: "SIZE", help: "vzalloc: vmalloc, zeroed", run: (s, a) => vmalloc(s, a, "vzalloc") },
  {
    name: "vfree",
    synopsis: "ADDR",
    help: "vfree (an address that starts no area is reported, nothing is freed)",
    run(s, a) {
      const kva = a.addr(0, "ADDR");
      a.done(1);
      s.m.kernel.vfree(kva);
      return `vfree ${va(kva)}`;
    },
  },
  {
    name: "validate_slabs",
    synopsis: "",
    help: "full slab validation (slab_debug checks of every object)",
    run(s, a) {
      a.done(0);
      const n = s.m.kernel.validateSlabs();
      return `validate_slabs: ${n} problem${n === 1 ? "" : "s"} found`;
    },
  },
);
