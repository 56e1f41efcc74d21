#include <stdlib.h>
#include <math.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/params.h>

#include "testutil.h"

START_TEST(test_parse_name_only) {
  sdv_params p;
  ck_assert_int_eq(sdv_params_parse(&p, "natural"), SDV_OK);
  ck_assert_str_eq(p.name, "natural");
  ck_assert_uint_eq(p.n, 0);
  ck_assert_int_eq(sdv_params_check_unused(&p), SDV_OK);
  sdv_params_clear(&p);
}
END_TEST

START_TEST(test_parse_keys_and_getters) {
  sdv_params p;
  ck_assert_int_eq(sdv_params_parse(&p, "quadratic:lam=0.5..2:k=3:p=2.385"), SDV_OK);
  ck_assert_str_eq(p.name, "quadratic");
  ck_assert_uint_eq(p.n, 3);
  double lam[4], x;
  size_t k;
  ck_assert_int_eq(sdv_params_get_list(&p, "lam", 4, NULL, lam), SDV_OK);
  ck_assert_close(lam[0], 0.5, 1e-15);
  ck_assert_close(lam[1], 1.0, 1e-15);
  ck_assert_close(lam[3], 2.0, 1e-15);
  ck_assert_int_eq(sdv_params_get_size(&p, "k", 0, &k), SDV_OK);
  ck_assert_uint_eq(k, 3);
  ck_assert_int_eq(sdv_params_get_double(&p, "p", 0, &x), SDV_OK);
  ck_assert_close(x, 2.385, 1e-15);
  ck_assert_int_eq(sdv_params_get_double(&p, "absent", 7.25, &x), SDV_OK);
  ck_assert_close(x, 7.25, 0);
  ck_assert(sdv_params_has(&p, "k"));
  ck_assert(!sdv_params_has(&p, "q"));
  ck_assert_int_eq(sdv_params_check_unused(&p), SDV_OK);
  sdv_params_clear(&p);
}
END_TEST

START_TEST(test_lists) {
  sdv_params p;
  double v[3];
  ck_assert_int_eq(sdv_params_parse(&p, "q:lam=1,2.5,4:one=3.25:r=7..7"), SDV_OK);
  ck_assert_int_eq(sdv_params_get_list(&p, "lam", 3, NULL, v), SDV_OK);
  ck_assert_close(v[1], 2.5, 0);
  ck_assert_int_eq(sdv_params_get_list(&p, "one", 3, NULL, v), SDV_OK);
  ck_assert_close(v[2], 3.25, 0);
  ck_assert_int_eq(sdv_params_get_list(&p, "lam", 2, NULL, v), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "lam"));
  ck_assert_int_eq(sdv_params_get_list(&p, "r", 1, NULL, v), SDV_OK);
  ck_assert_close(v[0], 7, 0);
  const double def[3] = {9, 8, 7};
  ck_assert_int_eq(sdv_params_get_list(&p, "zz", 3, def, v), SDV_OK);
  ck_assert_close(v[2], 7, 0);
  ck_assert_int_eq(sdv_params_get_list(&p, "zz", 3, NULL, v), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "required"));
  sdv_params_clear(&p);
}
END_TEST

static void expect_parse_error(const char *spec, const char *needle) {
  sdv_params p;
  ck_assert_int_eq(sdv_params_parse(&p, spec), SDV_EINVAL);
  ck_assert_msg(strstr(sdv_last_error(), needle) != NULL, "'%s': message '%s' lacks '%s'", spec,
                sdv_last_error(), needle);
  sdv_params_clear(&p);
}

START_TEST(test_parse_errors) {
  expect_parse_error("", "empty");
  expect_parse_error(":k=3", "empty name");
  expect_parse_error("rand-k:k", "KEY=VALUE");
  expect_parse_error("rand-k:=3", "empty key");
  expect_parse_error("rand-k:k=", "empty");
  expect_parse_error("rand-k:k=3:k=4", "twice");
  expect_parse_error("x:a=1:b=1:c=1:d=1:e=1:f=1:g=1:h=1:i=1:j=1:k=1:l=1:m=1:n=1:o=1:p=1:q=1",
                     "more than");
  sdv_params p;
  ck_assert_int_eq(sdv_params_parse(&p, NULL), SDV_EINVAL);
  sdv_params_clear(&p);
}
END_TEST

START_TEST(test_value_errors) {
  sdv_params p;
  double x;
  size_t k;
  ck_assert_int_eq(sdv_params_parse(&p, "c:a=nan:b=inf:c=1e999:d=abc:e=-3:f=2.5:g=1,,2"),
                   SDV_OK);
  ck_assert_int_eq(sdv_params_get_double(&p, "a", 0, &x), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "c: a"));
  ck_assert_int_eq(sdv_params_get_double(&p, "b", 0, &x), SDV_EINVAL);
  ck_assert_int_eq(sdv_params_get_double(&p, "c", 0, &x), SDV_EINVAL);
  ck_assert_int_eq(sdv_params_get_double(&p, "d", 0, &x), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "abc"));
  ck_assert_int_eq(sdv_params_get_size(&p, "e", 0, &k), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "-3"));
  ck_assert_int_eq(sdv_params_get_size(&p, "f", 0, &k), SDV_EINVAL);
  double v[3];
  ck_assert_int_eq(sdv_params_get_list(&p, "g", 3, NULL, v), SDV_EINVAL);
  sdv_params_clear(&p);
}
END_TEST

START_TEST(test_unused_key_reported) {
  sdv_params p;
  size_t k;
  ck_assert_int_eq(sdv_params_parse(&p, "rand-k:k=3:K=4"), SDV_OK);
  ck_assert_int_eq(sdv_params_get_size(&p, "k", 0, &k), SDV_OK);
  ck_assert_int_eq(sdv_params_check_unused(&p), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "'K'"));
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "rand-k"));
  sdv_params_clear(&p);
  sdv_params_clear(&p); /* twice is safe */
}
END_TEST

START_TEST(test_plain_parsers) {
  double x, *list;
  size_t n, k;
  ck_assert_int_eq(sdv_parse_double("-2.385e-3", "eta", &x), SDV_OK);
  ck_assert_close(x, -2.385e-3, 0);
  ck_assert_int_eq(sdv_parse_double("0.1x", "eta", &x), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "eta"));
  ck_assert_int_eq(sdv_parse_double("", "eta", &x), SDV_EINVAL);
  ck_assert_int_eq(sdv_parse_size("18446744073709551616", "paths", &k), SDV_EINVAL);
  ck_assert_int_eq(sdv_parse_size("4096", "paths", &k), SDV_OK);
  ck_assert_uint_eq(k, 4096);
  ck_assert_int_eq(sdv_parse_double_list("1,2.5,-3", "sigma", &list, &n), SDV_OK);
  ck_assert_uint_eq(n, 3);
  ck_assert_close(list[2], -3, 0);
  free(list);
  ck_assert_int_eq(sdv_parse_double_list("1,nan", "sigma", &list, &n), SDV_EINVAL);
  ck_assert_ptr_null(list);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "sigma"));
}
END_TEST

/* A range where one value is needed is refused instead of silently taking its first end;
 * A..A (one value) is fine. */
START_TEST(test_range_of_one) {
  sdv_params p;
  double v[2];
  ck_assert_int_eq(sdv_params_parse(&p, "quadratic:lam=0.5..2"), SDV_OK);
  ck_assert_int_eq(sdv_params_get_list(&p, "lam", 1, NULL, v), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "only 1 value"));
  ck_assert_int_eq(sdv_params_get_list(&p, "lam", 2, NULL, v), SDV_OK);
  ck_assert_double_eq(v[1], 2.0);
  sdv_params_clear(&p);
  ck_assert_int_eq(sdv_params_parse(&p, "quadratic:lam=2.385..2.385"), SDV_OK);
  ck_assert_int_eq(sdv_params_get_list(&p, "lam", 1, NULL, v), SDV_OK);
  ck_assert_double_eq(v[0], 2.385);
  sdv_params_clear(&p);
}
END_TEST

int main(void) {
  Suite *s = suite_create("params");
  TCase *tc = tcase_create("parse");
  tcase_add_test(tc, test_parse_name_only);
  tcase_add_test(tc, test_parse_keys_and_getters);
  tcase_add_test(tc, test_lists);
  tcase_add_test(tc, test_parse_errors);
  tcase_add_test(tc, test_value_errors);
  tcase_add_test(tc, test_unused_key_reported);
  tcase_add_test(tc, test_plain_parsers);
  tcase_add_test(tc, test_range_of_one);
  suite_add_tcase(s, tc);
  return sdv_test_run(s);
}
