/*
 * tools/malloc_conf.c - jemalloc's settings for the programs linked with it.
 *
 * Series blocks, histograms and the duplicate windows are reached at random, one or two
 * cache lines at a time: with 4 KiB pages nearly every such access also misses the TLB.
 * Transparent huge pages (where the kernel allows them, as its default "madvise" mode does)
 * took bench_engine at 100 k series and 1 request/s each from about 390 to 300 ns an event
 * (interleaved runs), for about 10 MiB more resident memory. MALLOC_CONF in the environment
 * still overrides this.
 */
extern const char *malloc_conf;
const char *malloc_conf = "thp:always";
