#include "report.h"

#include <stdio.h>

const char *sdv_report_estimate(char *buf, size_t len, double mean, double se, bool exact) {
  if (exact)
    snprintf(buf, len, "%.6g (exact)", mean);
  else
    snprintf(buf, len, "%.6g ± %.2g", mean, se);
  return buf;
}
