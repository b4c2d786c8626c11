/** The frames-xv6 project: its suites boot on xv6's frame allocator (test/support/boot.ts reads this). */
process.env.MEMSIM_TEST_FRAMES = "xv6";
