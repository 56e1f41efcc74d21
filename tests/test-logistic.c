/* The logistic-regression objective: reference value, derivatives against finite
 * differences, extreme margins, loading the shipped data set, and every error path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sdv/errors.h>
#include <sdv/objective.h>

#include "testutil.h"

static const double xref[3] = {1.5, -2.385, 0.25};

/* Writes text to a fresh temporary file and returns its path in buf. */
static const char *temp_csv(char *buf, size_t len, const char *text) {
  snprintf(buf, len, "/tmp/sdv-test-logistic-XXXXXX");
  const int fd = mkstemp(buf);
  ck_assert_int_ge(fd, 0);
  FILE *fp = fdopen(fd, "w");
  ck_assert_ptr_nonnull(fp);
  fputs(text, fp);
  fclose(fp);
  return buf;
}

/* The reference data set of logistic.c's opening comment (with a comment and a blank line,
 * which the loader must skip). */
static const char ref_csv[] = "# x1, x2, label\n0.5,-1.2,1\n\n2.0, 0.3 ,0\n-0.7,1.1,1\n";

static sdv_objective *make(const char *fmt, const char *path, size_t d) {
  char spec[2048];
  const int len = snprintf(spec, sizeof spec, fmt, path);
  ck_assert_msg(len > 0 && (size_t)len < sizeof spec, "spec too long for the test buffer");
  sdv_objective *o = NULL;
  const int rc = sdv_objective_alloc(&o, spec, d);
  ck_assert_msg(rc == SDV_OK, "alloc '%s' (d = %zu): %s", spec, d, sdv_last_error());
  return o;
}

START_TEST(test_reference) {
  char path[64];
  temp_csv(path, sizeof path, ref_csv);
  sdv_objective *o = make("logistic:data=%s:l2=0.25", path, 3);
  ck_assert_ptr_eq(o->type, sdv_objective_logistic);
  ck_assert_int_eq(o->type->kind, SDV_OBJECTIVE_GENERAL);
  ck_assert_rel(sdv_objective_value(o, xref), 3.0291572744335897798, 1e-14);
  double g[3];
  sdv_objective_gradient(o, xref, g);
  ck_assert_rel(g[0], 1.2152185915861697656, 1e-14);
  ck_assert_rel(g[1], -0.85045165181250786202, 1e-14);
  ck_assert_rel(g[2], 0.041667137733035333383, 1e-12);
  sdv_objective_free(o);
  /* bias = 0: the same rows without intercept have 2 coordinates; f(0) = log 2 exactly for
   * any data, since every margin is 0. */
  o = make("logistic:data=%s:bias=0", path, 2);
  const double zero[2] = {0, 0};
  ck_assert_rel(sdv_objective_value(o, zero), log(2.0), 1e-15);
  sdv_objective_free(o);
  unlink(path);
}
END_TEST

/* Central differences: error O(h^2) ~ 1e-10 relative at h = 1e-5 for this smooth f. */
START_TEST(test_derivatives_fd) {
  char path[64];
  temp_csv(path, sizeof path, ref_csv);
  sdv_objective *o = make("logistic:data=%s:l2=0.137", path, 3);
  const double h = 1e-5;
  double g[3], H[9], xp[3], xm[3], gp[3], gm[3];
  sdv_objective_gradient(o, xref, g);
  ck_assert_int_eq(sdv_objective_hessian(o, xref, H), SDV_OK);
  for (size_t j = 0; j < 3; j++) {
    memcpy(xp, xref, sizeof xp);
    memcpy(xm, xref, sizeof xm);
    xp[j] += h;
    xm[j] -= h;
    const double fd = (sdv_objective_value(o, xp) - sdv_objective_value(o, xm)) / (2 * h);
    ck_assert_close(g[j], fd, 1e-8);
    sdv_objective_gradient(o, xp, gp);
    sdv_objective_gradient(o, xm, gm);
    for (size_t l = 0; l < 3; l++) ck_assert_close(H[l * 3 + j], (gp[l] - gm[l]) / (2 * h), 1e-8);
  }
  for (size_t j = 0; j < 3; j++)
    for (size_t l = 0; l < 3; l++) ck_assert_close(H[j * 3 + l], H[l * 3 + j], 0);
  sdv_objective_free(o);
  unlink(path);
}
END_TEST

/* Huge margins: naive log(1 + exp(m)) overflows to inf and 1 - s(m) cancels to 0. Here the
 * loss of the misclassified sample is its margin (to 1 ulp) and nothing is NaN. */
START_TEST(test_extreme_margins) {
  char path[64];
  temp_csv(path, sizeof path, "1000.0,1\n-1000.0,1\n");
  sdv_objective *o = make("logistic:data=%s:bias=0", path, 1);
  const double x = 2.385;
  /* Sample 1: margin +2385, loss ~ e^-2385 = 0; sample 2: margin -2385, loss 2385. */
  ck_assert_rel(sdv_objective_value(o, &x), 2385.0 / 2.0, 1e-15);
  double g, H;
  sdv_objective_gradient(o, &x, &g);
  ck_assert_rel(g, 1000.0 / 2.0, 1e-15); /* -(1/2)(-1000)(s(2385) = 1) */
  ck_assert_int_eq(sdv_objective_hessian(o, &x, &H), SDV_OK);
  ck_assert(isfinite(H) && H >= 0.0 && H < 1e-300);
  sdv_objective_free(o);
  unlink(path);
}
END_TEST

/* The shipped Iris subset: 100 rows, 4 standardised features, 50 per class. At x = 0 every
 * margin is 0, so f = log 2, grad = -(1/(2n)) sum_i y_i a_i (the intercept entry is 0 for
 * balanced classes) and Hess = (1/4) mean a a^T + mu I (intercept diagonal 1/4 + mu). */
START_TEST(test_iris) {
  const char *root = getenv("SDV_SOURCE_ROOT");
  char path[1024];
  snprintf(path, sizeof path, "%s/data/iris-versicolor-virginica.csv", root ? root : ".");
  sdv_objective *o = make("logistic:data=%s:l2=0.1", path, 5);
  double x[5] = {0}, g[5], H[25];
  ck_assert_rel(sdv_objective_value(o, x), log(2.0), 1e-15);
  sdv_objective_gradient(o, x, g);
  ck_assert_close(g[4], 0.0, 1e-15);
  ck_assert_int_eq(sdv_objective_hessian(o, x, H), SDV_OK);
  ck_assert_close(H[24], 0.25 + 0.1, 1e-15);
  /* Standardised columns (n-1 sd, 6 decimals): mean a_j^2 = 99/100 up to rounding. */
  for (size_t j = 0; j < 4; j++) ck_assert_close(H[j * 5 + j], 0.25 * 0.99 + 0.1, 1e-6);
  /* Petal width separates the classes: the gradient pushes its weight up. */
  ck_assert(g[3] < -0.1);
  sdv_objective_free(o);
}
END_TEST

typedef struct bad_case {
  const char *csv;  /* file contents (NULL: the path does not exist) */
  const char *spec; /* %s = path */
  size_t dim;
  int status;
  const char *needle; /* substring of the message */
} bad_case;

static const bad_case bad[] = {
    {NULL, "logistic:data=%s", 3, SDV_EIO, "cannot be opened"},
    {"0.5,1\n", "logistic", 2, SDV_EINVAL, "data = FILE is required"},
    {"0.5,1\n", "logistic:data=%s:l2=-0.5", 2, SDV_EINVAL, "l2 = -0.5"},
    {"0.5,1\n", "logistic:data=%s:bias=2", 2, SDV_EINVAL, "bias = 2"},
    {"0.5,1\n", "logistic:data=%s", 3, SDV_EINVAL, "dim = 3"},
    {"0.5,1\n", "logistic:data=%s:bias=0", 2, SDV_EINVAL, "dim = 2"},
    {"1\n", "logistic:data=%s", 1, SDV_EINVAL, "dim = 1"},
    {"0.5,1\n0.25,2\n", "logistic:data=%s", 2, SDV_EINVAL, "label = 2"},
    {"0.5,1\n0.25,0.5,0\n", "logistic:data=%s", 2, SDV_EINVAL, "line 2 has 3 fields"},
    {"0.5,1\nabc,0\n", "logistic:data=%s", 2, SDV_EINVAL, "line 2: not a list"},
    {"0.5,1\n0.5;0\n", "logistic:data=%s", 2, SDV_EINVAL, "line 2: not a list"},
    {"0.5,1\nnan,0\n", "logistic:data=%s", 2, SDV_EINVAL, "line 2: not a list"},
    {"# only a comment\n\n", "logistic:data=%s", 2, SDV_EINVAL, "no samples"},
    {"0.5,1\n", "logistic:data=%s:lam=1", 2, SDV_EINVAL, "lam"},
    {"0.5,1\n", "logistic:data=%s:l2=x", 2, SDV_EINVAL, "l2"},
};

START_TEST(test_errors) {
  const bad_case *b = &bad[_i];
  char path[64];
  if (b->csv)
    temp_csv(path, sizeof path, b->csv);
  else
    snprintf(path, sizeof path, "/nonexistent/sdv-logistic.csv");
  char spec[256];
  snprintf(spec, sizeof spec, b->spec, path);
  sdv_objective *o = (sdv_objective *)&o; /* must be reset to NULL */
  const int rc = sdv_objective_alloc(&o, spec, b->dim);
  ck_assert_msg(rc == b->status, "'%s': status %d, expected %d (%s)", spec, rc, b->status,
                sdv_last_error());
  ck_assert_ptr_null(o);
  ck_assert_msg(strstr(sdv_last_error(), b->needle), "'%s': message '%s' lacks '%s'", spec,
                sdv_last_error(), b->needle);
  if (b->csv) unlink(path);
}
END_TEST

/* A line longer than the reader's buffer is an error, not a silent split. */
START_TEST(test_long_line) {
  char *text = malloc(1500 * 6 + 8);
  ck_assert_ptr_nonnull(text);
  size_t k = 0;
  for (size_t j = 0; j < 1500; j++) k += (size_t)sprintf(text + k, "0.125,");
  sprintf(text + k, "1\n");
  char path[64];
  temp_csv(path, sizeof path, text);
  free(text);
  char spec[128];
  snprintf(spec, sizeof spec, "logistic:data=%s", path);
  sdv_objective *o = NULL;
  ck_assert_int_eq(sdv_objective_alloc(&o, spec, 1501), SDV_EINVAL);
  ck_assert_ptr_null(o);
  ck_assert(strstr(sdv_last_error(), "longer than"));
  unlink(path);
}
END_TEST

static Suite *logistic_suite(void) {
  Suite *s = suite_create("logistic");
  TCase *tc = tcase_create("reference");
  tcase_add_test(tc, test_reference);
  tcase_add_test(tc, test_extreme_margins);
  suite_add_tcase(s, tc);
  tc = tcase_create("derivatives");
  tcase_add_test(tc, test_derivatives_fd);
  suite_add_tcase(s, tc);
  tc = tcase_create("data");
  tcase_add_test(tc, test_iris);
  tcase_add_test(tc, test_long_line);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof bad / sizeof bad[0]));
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(logistic_suite()); }
