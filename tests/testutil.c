#include "testutil.h"

#include <gsl/gsl_errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sdv/errors.h>

/* Runs the suite; the program fails if any check failed, and also if none ran (a suite whose
 * test cases were all left out, or filtered away by CK_RUN_CASE, tests nothing). */
int sdv_test_run(Suite *s) {
  gsl_set_error_handler_off();
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr), ran = srunner_ntests_run(sr);
  srunner_free(sr);
  if (ran == 0) fprintf(stderr, "sdv_test_run: no check ran\n");
  return failed == 0 && ran > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

const char *sdv_test_temp_file(char *buf, size_t len, const char *text) {
  ck_assert_uint_ge(len, 32);
  snprintf(buf, len, "/tmp/sdv-test-XXXXXX");
  const int fd = mkstemp(buf);
  ck_assert_int_ge(fd, 0);
  FILE *fp = fdopen(fd, "w");
  ck_assert_ptr_nonnull(fp);
  ck_assert_int_ge(fputs(text, fp), 0);
  ck_assert_int_eq(fclose(fp), 0);
  return buf;
}

void sdv_test_model_options(sdv_model_options *o, const char *const *kv) {
  sdv_model_options_default(o);
  for (; kv && kv[0]; kv += 2)
    ck_assert_msg(sdv_model_options_set(o, kv[0], kv[1]) == SDV_OK, "set %s=%s: %s", kv[0], kv[1],
                  sdv_last_error());
}

sdv_model *sdv_test_model_alloc(const sdv_model_options *o) {
  sdv_model *m = NULL;
  ck_assert_msg(sdv_model_alloc(&m, o) == SDV_OK, "model: %s", sdv_last_error());
  ck_assert_ptr_nonnull(m);
  return m;
}

sdv_model *sdv_test_model(const char *const *kv) {
  sdv_model_options o;
  sdv_test_model_options(&o, kv);
  return sdv_test_model_alloc(&o);
}
