/* Shared helpers for the Check suites. */
#ifndef SDV_TESTUTIL_H
#define SDV_TESTUTIL_H

#include <check.h>
#include <stdio.h>

#include <sdv/model.h>

/* Runs a suite, prints Check's summary, returns the process exit status. Also switches
 * GSL's aborting error handler off, as every sdv executable must. */
int sdv_test_run(Suite *s);

/* Writes text to a fresh file /tmp/sdv-test-XXXXXX (the caller unlinks it) and returns its
 * path, stored in buf (at least 32 bytes). Fails the running test on any error. */
const char *sdv_test_temp_file(char *buf, size_t len, const char *text);

/* Model options from name/value pairs (kv: name, value, ..., NULL; kv may be NULL) on top of
 * the defaults. Fails the running test, naming the pair, if one is rejected. */
void sdv_test_model_options(sdv_model_options *o, const char *const *kv);

/* The model of o; fails the running test with the library's message if it is rejected. */
sdv_model *sdv_test_model_alloc(const sdv_model_options *o);

/* The model of name/value pairs on top of the defaults (the two calls above). */
sdv_model *sdv_test_model(const char *const *kv);

/* |a - b| <= tol * max(1, |b|) with a message naming both values. */
#define ck_assert_close(a, b, tol)                                                          \
  do {                                                                                     \
    const double a_ = (a), b_ = (b), t_ = (tol);                                           \
    const double s_ = fabs(b_) > 1.0 ? fabs(b_) : 1.0;                                     \
    ck_assert_msg(fabs(a_ - b_) <= t_ * s_, "%s = %.17g, expected %.17g (tol %g)", #a, a_, \
                  b_, t_);                                                                 \
  } while (0)

/* Relative closeness: |a - b| <= rtol * |b|. */
#define ck_assert_rel(a, b, rtol)                                                          \
  do {                                                                                     \
    const double a_ = (a), b_ = (b), t_ = (rtol);                                          \
    ck_assert_msg(fabs(a_ - b_) <= t_ * fabs(b_), "%s = %.17g, expected %.17g (rtol %g)",  \
                  #a, a_, b_, t_);                                                         \
  } while (0)

#endif
