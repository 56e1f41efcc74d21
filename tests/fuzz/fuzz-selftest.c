/* The replay harness's own negative control: a target whose invariant is violated by one
 * committed input (tests/fuzz/selftest/violation). The meson test fuzz-selftest replays it
 * and passes only if the replay is killed by FUZZ_CHECK's abort with the invariant printed
 * (tests/fuzz/expect-violation.sh): a violated invariant in a real target fails its replay
 * test the same way. */
#include "fuzz.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char bad[] = "violate";
  FUZZ_CHECK(!(size >= sizeof bad - 1 && memcmp(data, bad, sizeof bad - 1) == 0));
  return 0;
}
