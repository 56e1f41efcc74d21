#include <math.h>
#include <string.h>

#include <sdv/errors.h>

#include "testutil.h"

static int handler_calls;
static int handler_status;
static void counting_handler(int status, const char *msg, const char *file, int line) {
  handler_calls++;
  handler_status = status;
  ck_assert_ptr_nonnull(msg);
  ck_assert_ptr_nonnull(file);
  ck_assert_int_gt(line, 0);
}

START_TEST(test_strerror_every_code) {
  ck_assert_str_eq(sdv_strerror(SDV_OK), "success");
  for (int s = 1; s < SDV_NSTATUS; s++) {
    ck_assert_ptr_nonnull(sdv_strerror(s));
    ck_assert_str_ne(sdv_strerror(s), "unknown status");
    ck_assert_str_ne(sdv_strerror(s), sdv_strerror(s - 1));
  }
  ck_assert_str_eq(sdv_strerror(-1), "unknown status");
  ck_assert_str_eq(sdv_strerror(SDV_NSTATUS), "unknown status");
}
END_TEST

START_TEST(test_raise_records_message_and_calls_handler) {
  sdv_clear_error();
  ck_assert_str_eq(sdv_last_error(), "");
  sdv_error_handler *old = sdv_set_error_handler(counting_handler);
  handler_calls = 0;
  int rc = SDV_ERROR(SDV_EINVAL, "rand-k: k = %d must be <= d = %d", 11, 10);
  ck_assert_int_eq(rc, SDV_EINVAL);
  ck_assert_int_eq(handler_calls, 1);
  ck_assert_int_eq(handler_status, SDV_EINVAL);
  ck_assert_str_eq(sdv_last_error(), "rand-k: k = 11 must be <= d = 10");
  ck_assert(sdv_set_error_handler(old) == counting_handler);
  /* The default handler does nothing, and never aborts. */
  rc = SDV_ERROR(SDV_EDOM, "x");
  ck_assert_int_eq(rc, SDV_EDOM);
  ck_assert_int_eq(handler_calls, 1);
}
END_TEST

START_TEST(test_long_message_truncated_safely) {
  char big[4000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  SDV_ERROR(SDV_EINVAL, "%s", big);
  ck_assert_uint_lt(strlen(sdv_last_error()), sizeof big - 1);
  ck_assert_uint_gt(strlen(sdv_last_error()), 100);
}
END_TEST

int main(void) {
  Suite *s = suite_create("errors");
  TCase *tc = tcase_create("codes");
  tcase_add_test(tc, test_strerror_every_code);
  tcase_add_test(tc, test_raise_records_message_and_calls_handler);
  tcase_add_test(tc, test_long_message_truncated_safely);
  suite_add_tcase(s, tc);
  return sdv_test_run(s);
}
