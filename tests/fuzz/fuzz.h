/* Shared declarations of the fuzz targets (tests/fuzz/fuzz-*.c).
 *
 * Each target defines the two libFuzzer entry points below. The same object is linked either
 * with libFuzzer (clang -fsanitize=fuzzer, scripts/fuzz.sh) or with replay.c, whose main()
 * feeds it every file of the seed corpus and of the crash folder, so that the meson test
 * suite replays them with any compiler.
 */
#ifndef SDV_FUZZ_H
#define SDV_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* An invariant of the API that must hold for every input. On violation it prints the
 * condition and aborts, which libFuzzer reports as a crash and the replay tests
 * (tests/fuzz/meson.build) as a failed test. */
#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      fprintf(stderr, "fuzz invariant violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      abort();                                                                            \
    }                                                                                     \
  } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of data (embedded NULs kept), or NULL when out of memory. */
char *sdv_fuzz_strdup(const uint8_t *data, size_t size);

#endif
