/*
 * The native baseline of the malloc bench: replays one CS:APP malloc-lab
 * trace (.rep) with the host C library's malloc, free and realloc, as the
 * memsim bench replays it through p.libc (no payload writes), and prints the
 * fastest of `runs` replays in nanoseconds of CPU time per operation.
 *
 * usage: replay FILE.rep [runs] [cold|warm]   (built by sim/bench/native.ts with cc -O2)
 *
 * cold (the default): every run starts from what the last one left, so when
 * glibc has trimmed its heap the run pays the host's page faults again.
 * warm: glibc keeps its top (M_TRIM_THRESHOLD 1 GiB) and one untimed run
 * comes first, so the timed runs measure the allocator, not the host's faults.
 */
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

struct op { char kind; int id; long size; };

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time, as the memsim side */
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: replay FILE.rep [runs]\n"); return 2; }
  FILE *f = fopen(argv[1], "r");
  if (!f) { perror(argv[1]); return 1; }
  int runs = argc > 2 ? atoi(argv[2]) : 3;
  int warm = argc > 3 && strcmp(argv[3], "warm") == 0;
  if (warm) mallopt(M_TRIM_THRESHOLD, 1 << 30);
  long heap, ids, nops, weight;
  if (fscanf(f, "%ld %ld %ld %ld", &heap, &ids, &nops, &weight) != 4) { fprintf(stderr, "bad header\n"); return 1; }
  struct op *ops = calloc(nops, sizeof *ops);
  void **ptr = calloc(ids > 0 ? ids : 1, sizeof *ptr);
  long n = 0;
  char k;
  while (n < nops && fscanf(f, " %c", &k) == 1) {
    ops[n].kind = k;
    if (k == 'f') { if (fscanf(f, "%d", &ops[n].id) != 1) return 1; }
    else if (fscanf(f, "%d %ld", &ops[n].id, &ops[n].size) != 2) return 1;
    n++;
  }
  fclose(f);
  double best = 1e300;
  for (int r = -warm; r < runs; r++) {
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
      struct op *o = &ops[i];
      if (o->kind == 'a') ptr[o->id] = malloc(o->size);
      else if (o->kind == 'r') ptr[o->id] = realloc(ptr[o->id], o->size);
      else if (o->id >= 0) { free(ptr[o->id]); ptr[o->id] = 0; }
    }
    double dt = now_ns() - t0;
    if (r >= 0 && dt < best) best = dt;
    for (long i = 0; i < ids; i++) { free(ptr[i]); ptr[i] = 0; }
  }
  printf("%.3f\n", best / (double)n);
  return 0;
}
