/* Small formatting helpers shared by the subcommands' tables and files. */
#ifndef SDV_REPORT_H
#define SDV_REPORT_H

#include <stdbool.h>
#include <stddef.h>

/* How streams are keyed, recorded in every JSON output. */
#define SDV_REPORT_STREAM_SCHEME                                                       \
  "philox4x32-10 blocks; key, tag = philox4x64-10((purpose<<32|sub, 0, 0, 0); (seed, " \
  "path)); block n = philox4x32-10((n, tag); key); purposes noise=1 compressor=2 "     \
  "brownian=3 sampling=4 aux=5"

/* "0.1234 ± 0.0012", or "0.1234 (exact)". */
const char *sdv_report_estimate(char *buf, size_t len, double mean, double se, bool exact);

#endif
