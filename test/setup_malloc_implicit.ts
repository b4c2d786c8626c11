/** The malloc-implicit project: p.libc runs CS:APP's implicit free list (test/support/boot.ts reads this). */
process.env.MEMSIM_TEST_LAYERS = "implicit";
