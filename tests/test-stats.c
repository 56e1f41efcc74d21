#include <math.h>
#include <stdlib.h>

#include <sdv/rng.h>
#include <sdv/stats.h>

#include "testutil.h"

static const double data[] = {2.385, -1.25, 7.5, 0.125, 3.75, -4.0625, 9.875, 1.5, -0.3, 6.2};
#define NDATA (sizeof data / sizeof *data)

static void direct(const double *x, size_t n, double *mean, double *var) {
  double s = 0, ss = 0;
  for (size_t i = 0; i < n; i++) s += x[i];
  *mean = s / n;
  for (size_t i = 0; i < n; i++) ss += (x[i] - *mean) * (x[i] - *mean);
  *var = ss / (n - 1);
}

START_TEST(test_acc_matches_direct) {
  sdv_acc a;
  sdv_acc_reset(&a);
  ck_assert(isnan(sdv_acc_mean(&a)));
  ck_assert(isnan(sdv_acc_var(&a)));
  for (size_t i = 0; i < NDATA; i++) sdv_acc_add(&a, data[i]);
  double m, v;
  direct(data, NDATA, &m, &v);
  ck_assert_close(sdv_acc_mean(&a), m, 1e-14);
  ck_assert_close(sdv_acc_var(&a), v, 1e-14);
  ck_assert_close(sdv_acc_se(&a), sqrt(v / NDATA), 1e-14);
}
END_TEST

START_TEST(test_merge_equals_sequential) {
  for (size_t cut = 0; cut <= NDATA; cut++) {
    sdv_acc a, b, all;
    sdv_acc_reset(&a);
    sdv_acc_reset(&b);
    sdv_acc_reset(&all);
    for (size_t i = 0; i < NDATA; i++) {
      sdv_acc_add(i < cut ? &a : &b, data[i]);
      sdv_acc_add(&all, data[i]);
    }
    sdv_acc_merge(&a, &b);
    ck_assert_uint_eq(a.n, NDATA);
    ck_assert_close(a.mean, all.mean, 1e-14);
    ck_assert_close(a.m2, all.m2, 1e-13);
  }
}
END_TEST

START_TEST(test_merge_is_deterministic) {
  /* The same merges in the same order give the same bits. */
  sdv_acc blocks[8];
  sdv_stream s;
  sdv_stream_init(&s, 3, 0, SDV_PURPOSE_AUX, 0);
  for (int b = 0; b < 8; b++) {
    sdv_acc_reset(&blocks[b]);
    for (int i = 0; i < 50; i++) sdv_acc_add(&blocks[b], sdv_stream_normal(&s) * (b + 1));
  }
  sdv_acc t1, t2;
  sdv_acc_reset(&t1);
  sdv_acc_reset(&t2);
  for (int b = 0; b < 8; b++) sdv_acc_merge(&t1, &blocks[b]);
  for (int b = 0; b < 8; b++) sdv_acc_merge(&t2, &blocks[b]);
  ck_assert(t1.mean == t2.mean && t1.m2 == t2.m2);
}
END_TEST

START_TEST(test_paired_se) {
  sdv_acc2 p, q;
  sdv_acc2_reset(&p);
  sdv_acc2_reset(&q);
  double d[NDATA];
  for (size_t i = 0; i < NDATA; i++) {
    const double y = 0.5 * data[i] + data[(i + 3) % NDATA];
    d[i] = data[i] - y;
    sdv_acc2_add(i < 4 ? &p : &q, data[i], y);
  }
  sdv_acc2_merge(&p, &q);
  double m, v;
  direct(d, NDATA, &m, &v);
  ck_assert_close(p.mx - p.my, m, 1e-13);
  ck_assert_close(sdv_acc2_se_diff(&p), sqrt(v / NDATA), 1e-13);
}
END_TEST

START_TEST(test_robust) {
  double x[] = {3, 1, 2, 5, 4};
  ck_assert_close(sdv_quantile(x, 5, 0.5), 3, 0);
  ck_assert_close(sdv_quantile(x, 5, 0.25), 2, 0);
  ck_assert_close(sdv_quantile(x, 5, 0.1), 1.4, 1e-15);
  ck_assert(isnan(sdv_quantile(x, 0, 0.5)));
  sdv_acc g[4];
  double scratch[4];
  for (int i = 0; i < 4; i++) sdv_acc_reset(&g[i]);
  ck_assert(isnan(sdv_median_of_means(g, 4, scratch)));
  sdv_acc_add(&g[0], 1.0);
  sdv_acc_add(&g[1], 2.0);
  sdv_acc_add(&g[2], 1e300); /* an outlier group does not move the median of 3 */
  ck_assert_close(sdv_median_of_means(g, 4, scratch), 2.0, 0);
  ck_assert_close(sdv_z_critical(0.05), 1.959963984540054, 1e-12);
}
END_TEST

int main(void) {
  Suite *s = suite_create("stats");
  TCase *tc = tcase_create("accumulators");
  tcase_add_test(tc, test_acc_matches_direct);
  tcase_add_test(tc, test_merge_equals_sequential);
  tcase_add_test(tc, test_merge_is_deterministic);
  tcase_add_test(tc, test_paired_se);
  tcase_add_test(tc, test_robust);
  suite_add_tcase(s, tc);
  return sdv_test_run(s);
}
