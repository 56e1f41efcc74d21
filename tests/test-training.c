/* The training objectives on data (least-squares, softmax, mlp, and logistic's finite-sum
 * hooks): reference values, gradients and Hessian-vector products against five-point finite
 * differences, the per-sample decomposition, the mlp's initial point, the optional-hook
 * wrappers and every error path. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sdv/errors.h>
#include <sdv/objective.h>

#include "testutil.h"

/* The reference data sets of the files' opening comments. */
static const char real_csv[] = "# x1, x2, target\n0.5,-1.2,0.75\n2.0,0.3,-1.5\n-0.7,1.1,2.25\n";
static const char class_csv[] = "# x1, x2, class\n0.5,-1.2,0\n2.0,0.3,2\n-0.7,1.1,1\n";
static const char binary_csv[] = "0.5,-1.2,1\n2.0,0.3,0\n-0.7,1.1,1\n";

/* Allocates spec (with %s replaced by path) in dimension d, failing the test on error. */
static sdv_objective *make(const char *fmt, const char *path, size_t d) {
  char spec[2048];
  const int len = snprintf(spec, sizeof spec, fmt, path);
  ck_assert_msg(len > 0 && (size_t)len < sizeof spec, "spec too long for the test buffer");
  sdv_objective *o = NULL;
  const int rc = sdv_objective_alloc(&o, spec, d);
  ck_assert_msg(rc == SDV_OK, "alloc '%s' (d = %zu): %s", spec, d, sdv_last_error());
  return o;
}

static void shipped_path(char *buf, size_t len, const char *file) {
  const char *root = getenv("SDV_SOURCE_ROOT");
  snprintf(buf, len, "%s/data/%s", root ? root : ".", file);
}

START_TEST(test_least_squares_reference) {
  char path[64];
  sdv_test_temp_file(path, sizeof path, real_csv);
  sdv_objective *o = make("least-squares:data=%s:l2=0.25", path, 3);
  ck_assert_ptr_eq(o->type, sdv_objective_least_squares);
  const double x[3] = {1.5, -2.385, 0.25};
  ck_assert_rel(sdv_objective_value(o, x), 85534507.0 / 8000000.0, 1e-15);
  double g[3], h[9], hv[3];
  sdv_objective_gradient(o, x, g);
  ck_assert_rel(g[0], 98143.0 / 20000.0, 1e-15);
  ck_assert_rel(g[1], -211073.0 / 60000.0, 1e-15);
  ck_assert_rel(g[2], 1107.0 / 2000.0, 1e-15);
  /* The Hessian is constant, A^T A / n + mu I: its first column is the hvp of e_0. */
  ck_assert_int_eq(sdv_objective_hessian(o, x, h), SDV_OK);
  ck_assert_rel(h[0], (0.25 + 4.0 + 0.49) / 3.0 + 0.25, 1e-15);
  ck_assert_rel(h[1], (-0.6 + 0.6 - 0.77) / 3.0, 1e-14);
  const double e0[3] = {1, 0, 0};
  ck_assert_int_eq(sdv_objective_hvp(o, x, e0, hv), SDV_OK);
  for (size_t j = 0; j < 3; j++) ck_assert_rel(hv[j], h[j * 3], 1e-15);
  sdv_objective_free(o);
  /* bias = 0, x = 0: f = mean y^2 / 2 whatever the features. */
  o = make("least-squares:data=%s:bias=0", path, 2);
  const double zero[2] = {0, 0};
  ck_assert_rel(sdv_objective_value(o, zero), (0.5625 + 2.25 + 5.0625) / 6.0, 1e-15);
  sdv_objective_free(o);
  unlink(path);
}
END_TEST

START_TEST(test_softmax_reference) {
  char path[64];
  sdv_test_temp_file(path, sizeof path, class_csv);
  sdv_objective *o = make("softmax:data=%s:l2=0.25", path, 9);
  ck_assert_ptr_eq(o->type, sdv_objective_softmax);
  const double x[9] = {1.5, -2.385, 0.25, -0.375, 0.875, 1.125, 0.625, -1.75, -0.5};
  const double want[9] = {
      0.88477176393780443496,    -0.45956762357752333929, 0.28407977372492153191,
      -0.0090208641250869782627, 0.22117444585779287346,  0.323841968288170196,
      -0.4382508998127174567,    -0.57660682228026953417, -0.38917174201309172791};
  ck_assert_rel(sdv_objective_value(o, x), 2.6311403109956123972, 1e-14);
  double g[9];
  sdv_objective_gradient(o, x, g);
  for (size_t j = 0; j < 9; j++) ck_assert_close(g[j], want[j], 1e-14);
  sdv_objective_free(o);
  /* x = 0: every class has probability 1/C, f = log C exactly up to rounding. */
  o = make("softmax:data=%s", path, 9);
  const double zero[9] = {0};
  ck_assert_rel(sdv_objective_value(o, zero), log(3.0), 1e-15);
  sdv_objective_free(o);
  unlink(path);
}
END_TEST

START_TEST(test_mlp_reference) {
  char path[64];
  sdv_test_temp_file(path, sizeof path, class_csv);
  sdv_objective *o = make("mlp:data=%s:hidden=2:l2=0.25", path, 15);
  ck_assert_ptr_eq(o->type, sdv_objective_mlp);
  double x[15], g[15];
  for (size_t i = 0; i < 15; i++) x[i] = 0.35 * sin(1.7 * (double)i + 0.3) - 0.1 * (double)i / 15;
  const double want[15] = {
      -0.15846963978858382555, -0.055182966837683170665, -0.13730652135692683664,
      -0.13805123913276760374, 0.12698511303050947709,   0.038157976269228862696,
      0.019981754339585476229, 0.037658448445491300709,  0.1950558554070374669,
      -0.06235478827222779389, -0.29758459988218525855,  -0.013447512895125704459,
      0.013928962905257684995, 0.056314704248957536654,  -0.21358029302271193658};
  ck_assert_rel(sdv_objective_value(o, x), 1.2503546789147707625, 1e-14);
  sdv_objective_gradient(o, x, g);
  for (size_t j = 0; j < 15; j++) ck_assert_close(g[j], want[j], 1e-14);
  sdv_objective_free(o);
  unlink(path);
}
END_TEST

/* One objective to differentiate: spec (%s = the data path), the data (inline CSV or a
 * shipped file), dimension, and the scale of the test point. */
typedef struct problem {
  const char *spec;
  const char *csv;  /* inline data, or NULL and ... */
  const char *file; /* ... a file under data/ */
  size_t dim;
  double scale;
} problem;

static const problem problems[] = {
    {"logistic:data=%s:l2=0.137", binary_csv, NULL, 3, 1.0},
    {"least-squares:data=%s:l2=0.137", real_csv, NULL, 3, 1.0},
    {"softmax:data=%s:l2=0.137", class_csv, NULL, 9, 1.0},
    {"mlp:data=%s:hidden=2:l2=0.137", class_csv, NULL, 15, 0.5},
    {"logistic:data=%s:l2=0.1", NULL, "breast-cancer-wisconsin.csv", 31, 0.3},
    {"least-squares:data=%s:l2=0.01", NULL, "wine.csv", 14, 0.3},
    {"softmax:data=%s:l2=0.01", NULL, "wine.csv", 42, 0.3},
    {"mlp:data=%s:hidden=4:l2=0.01:seed=3", NULL, "wine.csv", 71, 0.3},
    {"softmax:data=%s:l2=0.001", NULL, "digits.csv", 650, 0.3},
    {"mlp:data=%s:hidden=8:l2=0.001", NULL, "digits.csv", 610, 0.3},
};

/* A high-entropy point and direction (no zeros, no symmetric values). */
static void point(double *x, size_t d, double scale) {
  for (size_t j = 0; j < d; j++) x[j] = scale * (sin(1.7 * (double)j + 0.3) + 0.0583);
}
static void direction(double *v, size_t d) {
  for (size_t j = 0; j < d; j++) v[j] = cos(0.9 * (double)j + 0.2) - 0.0417;
}

static sdv_objective *make_problem(const problem *pr, char *path, size_t len) {
  if (pr->csv)
    sdv_test_temp_file(path, len, pr->csv);
  else
    shipped_path(path, len, pr->file);
  return make(pr->spec, path, pr->dim);
}

static void done_problem(const problem *pr, sdv_objective *o, const char *path) {
  sdv_objective_free(o);
  if (pr->csv) unlink(path);
}

/* The five-point derivative of t -> phi(t) at 0 with step h. */
static double five_point(double (*phi)(void *, double), void *ctx, double h) {
  return (phi(ctx, -2 * h) - 8 * phi(ctx, -h) + 8 * phi(ctx, h) - phi(ctx, 2 * h)) / (12 * h);
}

/* The tolerance from two step sizes: the five-point error is c h^4 + rounding, so
 * |D(h) - D(h/2)| ~ 15/16 of D(h)'s truncation error and 16 times D(h/2)'s, a conservative
 * estimate; rounding adds at most about 18 eps F / (12 h/2) for values of size F (the sums over
 * the data can lose a few more ulps, hence 64 eps). */
static double fd_tol(double dh, double dh2, double f, double h) {
  return fabs(dh - dh2) + 64.0 * DBL_EPSILON * (fabs(f) + 1.0) / (h / 2);
}

#define FD_H 4e-3

typedef struct line_ctx {
  const sdv_objective *o;
  const double *x, *v;
  double *xt, *g;
  size_t j; /* component of the gradient read by grad_along */
} line_ctx;

static double value_along(void *p, double t) {
  line_ctx *c = p;
  for (size_t i = 0; i < c->o->dim; i++) c->xt[i] = c->x[i] + t * c->v[i];
  return sdv_objective_value(c->o, c->xt);
}

static double grad_along(void *p, double t) {
  line_ctx *c = p;
  for (size_t i = 0; i < c->o->dim; i++) c->xt[i] = c->x[i] + t * c->v[i];
  sdv_objective_gradient(c->o, c->xt, c->g);
  return c->g[c->j];
}

/* Coordinates tested: all up to 80, else 16 spread evenly over x (both layers of an mlp). */
static size_t coordinates(size_t d, size_t *js) {
  if (d <= 80) {
    for (size_t j = 0; j < d; j++) js[j] = j;
    return d;
  }
  for (size_t k = 0; k < 16; k++) js[k] = (k * (d - 1)) / 15;
  return 16;
}

START_TEST(test_gradient_fd) {
  const problem *pr = &problems[_i];
  char path[1024];
  sdv_objective *o = make_problem(pr, path, sizeof path);
  const size_t d = pr->dim;
  double *x = malloc(d * sizeof *x), *g = malloc(d * sizeof *g), *e = calloc(d, sizeof *e),
         *xt = malloc(d * sizeof *xt);
  size_t *js = malloc(d * sizeof *js);
  ck_assert(x && g && e && xt && js);
  point(x, d, pr->scale);
  sdv_objective_gradient(o, x, g);
  const double f = sdv_objective_value(o, x);
  const size_t m = coordinates(d, js);
  line_ctx c = {.o = o, .x = x, .v = e, .xt = xt, .g = NULL, .j = 0};
  for (size_t k = 0; k < m; k++) {
    const size_t j = js[k];
    e[j] = 1.0;
    const double dh = five_point(value_along, &c, FD_H);
    const double dh2 = five_point(value_along, &c, FD_H / 2);
    e[j] = 0.0;
    const double tol = fd_tol(dh, dh2, f, FD_H);
    /* The test must be able to fail: its tolerance is far below any coding error. */
    ck_assert_msg(tol < 1e-7 * fmax(1.0, fabs(g[j])), "%s: tol %g too loose", pr->spec, tol);
    ck_assert_msg(fabs(g[j] - dh2) <= tol, "%s: g[%zu] = %.17g, fd %.17g (tol %g)", pr->spec, j,
                  g[j], dh2, tol);
  }
  free(x);
  free(g);
  free(e);
  free(xt);
  free(js);
  done_problem(pr, o, path);
}
END_TEST

START_TEST(test_hvp_fd) {
  const problem *pr = &problems[_i];
  char path[1024];
  sdv_objective *o = make_problem(pr, path, sizeof path);
  const size_t d = pr->dim;
  double *x = malloc(d * sizeof *x), *v = malloc(d * sizeof *v), *hv = malloc(d * sizeof *hv),
         *g = malloc(d * sizeof *g), *xt = malloc(d * sizeof *xt), *u = malloc(d * sizeof *u),
         *hu = malloc(d * sizeof *hu);
  size_t *js = malloc(d * sizeof *js);
  ck_assert(x && v && hv && g && xt && u && hu && js);
  point(x, d, pr->scale);
  direction(v, d);
  ck_assert_int_eq(sdv_objective_hvp(o, x, v, hv), SDV_OK);
  sdv_objective_gradient(o, x, g);
  double gmax = 0;
  for (size_t j = 0; j < d; j++) gmax = fmax(gmax, fabs(g[j]));
  const size_t m = coordinates(d, js);
  line_ctx c = {.o = o, .x = x, .v = v, .xt = xt, .g = g, .j = 0};
  for (size_t k = 0; k < m; k++) {
    c.j = js[k];
    const double dh = five_point(grad_along, &c, FD_H);
    const double dh2 = five_point(grad_along, &c, FD_H / 2);
    const double tol = fd_tol(dh, dh2, gmax, FD_H);
    ck_assert_msg(tol < 1e-6 * fmax(1.0, fabs(hv[c.j])), "%s: tol %g too loose", pr->spec, tol);
    ck_assert_msg(fabs(hv[c.j] - dh2) <= tol, "%s: hv[%zu] = %.17g, fd %.17g (tol %g)", pr->spec,
                  c.j, hv[c.j], dh2, tol);
  }
  /* Symmetry of the Hessian: u.(H v) = v.(H u), to rounding of two length-d dot products of
   * sums over the data (1e-12 relative to the terms' size). */
  for (size_t j = 0; j < d; j++) u[j] = sin(0.37 * (double)j + 1.1);
  ck_assert_int_eq(sdv_objective_hvp(o, x, u, hu), SDV_OK);
  double uhv = 0, vhu = 0, size = 0;
  for (size_t j = 0; j < d; j++) {
    uhv += u[j] * hv[j];
    vhu += v[j] * hu[j];
    size += fabs(u[j] * hv[j]) + fabs(v[j] * hu[j]);
  }
  ck_assert_msg(fabs(uhv - vhu) <= 1e-12 * size, "%s: u.Hv = %.17g, v.Hu = %.17g", pr->spec, uhv,
                vhu);
  free(x);
  free(v);
  free(hv);
  free(g);
  free(xt);
  free(u);
  free(hu);
  free(js);
  done_problem(pr, o, path);
}
END_TEST

/* f = (1/n) sum_s f_s and grad f = (1/n) sum_s grad f_s. Both sides are sums of n terms in
 * different orders, each with error at most ~ n eps sum |terms| (recursive summation), so the
 * tolerance is 2 (n + 2) eps mean_s |term| plus a few ulps of the result. */
START_TEST(test_sample_sum) {
  const problem *pr = &problems[_i];
  char path[1024];
  sdv_objective *o = make_problem(pr, path, sizeof path);
  const size_t d = pr->dim;
  size_t n = 0;
  ck_assert_int_eq(sdv_objective_samples(o, &n), SDV_OK);
  ck_assert_uint_gt(n, 0);
  double *x = malloc(d * sizeof *x), *g = malloc(d * sizeof *g), *gs = malloc(d * sizeof *gs),
         *sum = calloc(d, sizeof *sum), *abs = calloc(d, sizeof *abs);
  ck_assert(x && g && gs && sum && abs);
  point(x, d, pr->scale);
  sdv_objective_gradient(o, x, g);
  double fsum = 0, fabs_sum = 0;
  for (size_t s = 0; s < n; s++) {
    double fs;
    ck_assert_int_eq(sdv_objective_sample_value(o, s, x, &fs), SDV_OK);
    fsum += fs;
    fabs_sum += fabs(fs);
    ck_assert_int_eq(sdv_objective_sample_gradient(o, s, x, gs), SDV_OK);
    for (size_t j = 0; j < d; j++) {
      sum[j] += gs[j];
      abs[j] += fabs(gs[j]);
    }
  }
  const double f = sdv_objective_value(o, x), nd = (double)n;
  ck_assert_msg(
      fabs(fsum / nd - f) <= 2 * (nd + 2) * DBL_EPSILON * fabs_sum / nd + 4 * DBL_EPSILON * fabs(f),
      "%s: mean f_s = %.17g, f = %.17g", pr->spec, fsum / nd, f);
  for (size_t j = 0; j < d; j++) {
    const double tol = 2 * (nd + 2) * DBL_EPSILON * abs[j] / nd + 4 * DBL_EPSILON * fabs(g[j]);
    ck_assert_msg(fabs(sum[j] / nd - g[j]) <= tol, "%s: mean grad f_s[%zu] = %.17g, g = %.17g",
                  pr->spec, j, sum[j] / nd, g[j]);
  }
  /* A sample index out of range is an error naming s and n. */
  double fs;
  ck_assert_int_eq(sdv_objective_sample_value(o, n, x, &fs), SDV_EINVAL);
  char needle[64];
  snprintf(needle, sizeof needle, "s = %zu must be < n = %zu", n, n);
  ck_assert_msg(strstr(sdv_last_error(), needle), "%s", sdv_last_error());
  ck_assert_int_eq(sdv_objective_sample_gradient(o, n + 7, x, gs), SDV_EINVAL);
  free(x);
  free(g);
  free(gs);
  free(sum);
  free(abs);
  done_problem(pr, o, path);
}
END_TEST

typedef struct wsum_ctx {
  const sdv_objective *o;
  const double *x, *w;
  double *xt;
  size_t n, j;
} wsum_ctx;

/* t -> sum_s w_s f_s(x + t e_j), whose derivative is component j of sum_s w_s grad f_s. */
static double wsum_value_along(void *p, double t) {
  wsum_ctx *c = p;
  for (size_t i = 0; i < c->o->dim; i++) c->xt[i] = c->x[i] + (i == c->j ? t : 0.0);
  double sum = 0;
  for (size_t s = 0; s < c->n; s++) {
    double fs;
    ck_assert_int_eq(sdv_objective_sample_value(c->o, s, c->xt, &fs), SDV_OK);
    sum += c->w[s] * fs;
  }
  return sum;
}

/* The weighted sum of per-sample gradients (the sample_gradient_sum hook, or the generic loop
 * where a type has none) against the per-sample loop sum_s w_s grad f_s, with weights of both
 * signs and with centred weights (sum_s w_s = 0, as the minibatch SDE's increment uses them,
 * where the result is far smaller than its terms). Both are sums of the same n d-vectors in
 * different orders: each within ~n eps sum_s |w_s grad f_s| of the exact sum, so they agree to
 * 1e-12 relative to that sum of magnitudes (n <= 1797: n eps = 4e-13). Then against finite
 * differences of sum_s w_s f_s (the per-sample values, an independent route). */
START_TEST(test_weighted_sum) {
  const problem *pr = &problems[_i];
  char path[1024];
  sdv_objective *o = make_problem(pr, path, sizeof path);
  const size_t d = pr->dim;
  size_t n = 0;
  ck_assert_int_eq(sdv_objective_samples(o, &n), SDV_OK);
  double *x = malloc(d * sizeof *x), *g = malloc(d * sizeof *g), *gs = malloc(d * sizeof *gs),
         *sum = malloc(d * sizeof *sum), *abs = malloc(d * sizeof *abs),
         *w = malloc(n * sizeof *w), *xt = malloc(d * sizeof *xt), *scratch = malloc(d * sizeof *g);
  size_t *js = malloc(d * sizeof *js);
  ck_assert(x && g && gs && sum && abs && w && xt && scratch && js);
  point(x, d, pr->scale);
  for (int centred = 0; centred < 2; centred++) {
    double wbar = 0;
    for (size_t s = 0; s < n; s++) wbar += (w[s] = sin(2.3 * (double)s + 0.7) + 0.113);
    wbar /= (double)n;
    if (centred)
      for (size_t s = 0; s < n; s++) w[s] -= wbar;
    ck_assert_int_eq(sdv_objective_sample_gradient_sum(o, x, w, g, scratch), SDV_OK);
    for (size_t j = 0; j < d; j++) sum[j] = abs[j] = 0.0;
    for (size_t s = 0; s < n; s++) {
      ck_assert_int_eq(sdv_objective_sample_gradient(o, s, x, gs), SDV_OK);
      for (size_t j = 0; j < d; j++) {
        sum[j] += w[s] * gs[j];
        abs[j] += fabs(w[s] * gs[j]);
      }
    }
    double worst = 0;
    for (size_t j = 0; j < d; j++) {
      worst = fmax(worst, fabs(g[j] - sum[j]) / abs[j]);
      ck_assert_msg(fabs(g[j] - sum[j]) <= 1e-12 * abs[j],
                    "%s (centred %d): hook[%zu] = %.17g, loop %.17g (terms %g)", pr->spec,
                    centred, j, g[j], sum[j], abs[j]);
    }
    /* Finite differences of the weighted values, on 16 (or all) coordinates. */
    const size_t m = coordinates(d, js);
    double fabs_sum = 0;
    for (size_t s = 0; s < n; s++) {
      double fs;
      ck_assert_int_eq(sdv_objective_sample_value(o, s, x, &fs), SDV_OK);
      fabs_sum += fabs(w[s] * fs);
    }
    wsum_ctx c = {.o = o, .x = x, .w = w, .xt = xt, .n = n, .j = 0};
    for (size_t k = 0; k < m; k++) {
      c.j = js[k];
      const double dh = five_point(wsum_value_along, &c, FD_H);
      const double dh2 = five_point(wsum_value_along, &c, FD_H / 2);
      const double tol = fd_tol(dh, dh2, fabs_sum, FD_H);
      ck_assert_msg(tol < 1e-6 * fmax(1.0, abs[c.j]), "%s: tol %g too loose", pr->spec, tol);
      ck_assert_msg(fabs(g[c.j] - dh2) <= tol, "%s (centred %d): hook[%zu] = %.17g, fd %.17g (tol %g)",
                    pr->spec, centred, c.j, g[c.j], dh2, tol);
    }
  }
  /* A type without the hook needs the scratch. */
  if (!o->type->sample_gradient_sum) {
    ck_assert_int_eq(sdv_objective_sample_gradient_sum(o, x, w, g, NULL), SDV_EINVAL);
    ck_assert_msg(strstr(sdv_last_error(), "scratch"), "%s", sdv_last_error());
  }
  free(x);
  free(g);
  free(gs);
  free(sum);
  free(abs);
  free(w);
  free(xt);
  free(scratch);
  free(js);
  done_problem(pr, o, path);
}
END_TEST

/* The Glorot initial point: reproducible per seed, different across seeds, biases 0, weights
 * within +-r and spread like U(-r, r). With 2048 first-layer weights the sample variance of
 * U(-r, r) has relative standard error sqrt(4/5 / 2048) = 0.0198, so +-10% is 5 standard
 * errors (false-failure rate ~ 6e-7 for this fixed seed, which passes). */
START_TEST(test_mlp_initial_point) {
  char path[1024];
  shipped_path(path, sizeof path, "digits.csv");
  enum { H = 32, P = 64, C = 10, D = H * (P + 1) + C * (H + 1) };
  sdv_objective *o = make("mlp:data=%s:hidden=32:seed=11", path, D);
  sdv_objective *o2 = make("mlp:data=%s:hidden=32:seed=11", path, D);
  sdv_objective *o3 = make("mlp:data=%s:hidden=32:seed=12", path, D);
  double *x = malloc(D * sizeof *x), *x2 = malloc(D * sizeof *x2), *x3 = malloc(D * sizeof *x3),
         *g = malloc(D * sizeof *g);
  ck_assert(x && x2 && x3 && g);
  ck_assert_int_eq(sdv_objective_initial_point(o, x), SDV_OK);
  ck_assert_int_eq(sdv_objective_initial_point(o2, x2), SDV_OK);
  ck_assert_int_eq(sdv_objective_initial_point(o3, x3), SDV_OK);
  ck_assert_mem_eq(x, x2, D * sizeof *x);
  size_t differ = 0;
  for (size_t j = 0; j < D; j++) differ += x[j] != x3[j];
  ck_assert_uint_eq(differ, H * P + C * H); /* every weight, no bias */
  const double r1 = sqrt(6.0 / (P + H)), r2 = sqrt(6.0 / (H + C));
  double var1 = 0;
  for (size_t k = 0; k < H; k++)
    for (size_t j = 0; j <= P; j++) {
      const double w = x[k * (P + 1) + j];
      if (j == P) {
        ck_assert_double_eq(w, 0.0);
      } else {
        ck_assert(fabs(w) < r1 && w != 0.0);
        var1 += w * w / (H * P);
      }
    }
  ck_assert_close(var1 / (r1 * r1 / 3), 1.0, 0.10);
  for (size_t c = 0; c < C; c++)
    for (size_t k = 0; k <= H; k++) {
      const double w = x[H * (P + 1) + c * (H + 1) + k];
      if (k == H)
        ck_assert_double_eq(w, 0.0);
      else
        ck_assert(fabs(w) < r2 && w != 0.0);
    }
  /* Why not 0: there every weight's gradient is exactly 0, only the output biases move. */
  memset(x2, 0, D * sizeof *x2);
  sdv_objective_gradient(o, x2, g);
  for (size_t j = 0; j < D; j++) {
    const bool out_bias = j >= H * (P + 1) && (j - H * (P + 1)) % (H + 1) == H;
    if (!out_bias) ck_assert_double_eq(g[j], 0.0);
  }
  free(x);
  free(x2);
  free(x3);
  free(g);
  sdv_objective_free(o);
  sdv_objective_free(o2);
  sdv_objective_free(o3);
}
END_TEST

/* Types without the optional hooks answer SDV_ENOTSUP naming the type and the hook. */
START_TEST(test_not_supported) {
  sdv_objective *o = NULL;
  ck_assert_int_eq(sdv_objective_alloc(&o, "quadratic:lam=1.5", 2), SDV_OK);
  const double x[2] = {0.25, -1.5};
  double out[2], f, f2[2];
  size_t n = 5;
  ck_assert_int_eq(sdv_objective_samples(o, &n), SDV_ENOTSUP);
  ck_assert_uint_eq(n, 0);
  ck_assert(strstr(sdv_last_error(), "objective quadratic: no per-sample structure"));
  ck_assert_int_eq(sdv_objective_sample_value(o, 0, x, &f), SDV_ENOTSUP);
  ck_assert_int_eq(sdv_objective_sample_gradient(o, 0, x, out), SDV_ENOTSUP);
  ck_assert_int_eq(sdv_objective_sample_gradient_sum(o, x, x, out, f2), SDV_ENOTSUP);
  ck_assert_int_eq(sdv_objective_hvp(o, x, x, out), SDV_ENOTSUP);
  ck_assert(strstr(sdv_last_error(), "objective quadratic: no Hessian-vector product"));
  ck_assert_int_eq(sdv_objective_initial_point(o, out), SDV_ENOTSUP);
  ck_assert(strstr(sdv_last_error(), "objective quadratic: no initial point"));
  sdv_objective_free(o);
  /* The linear models suggest no starting point either. */
  char path[64];
  sdv_test_temp_file(path, sizeof path, class_csv);
  o = make("softmax:data=%s", path, 9);
  double x0[9];
  ck_assert_int_eq(sdv_objective_initial_point(o, x0), SDV_ENOTSUP);
  ck_assert_int_eq(sdv_objective_hessian(o, x0, NULL), SDV_ENOTSUP);
  sdv_objective_free(o);
  unlink(path);
}
END_TEST

static double v_zero(void *user, size_t dim, const double *x) {
  (void)user;
  (void)dim;
  (void)x;
  return 0;
}
static void g_zero(void *user, size_t dim, const double *x, double *g) {
  (void)user;
  (void)x;
  for (size_t j = 0; j < dim; j++) g[j] = 0;
}
static size_t n_one(const void *state) {
  (void)state;
  return 1;
}
static int init_ok(void *state, size_t dim, sdv_params *params) {
  (void)state;
  (void)dim;
  (void)params;
  return SDV_OK;
}
static size_t size_zero(size_t dim) {
  (void)dim;
  return 0;
}
static double value_zero(const void *state, size_t dim, const double *x) {
  (void)state;
  return v_zero(NULL, dim, x);
}
static void gradient_zero(const void *state, size_t dim, const double *x, double *g) {
  (void)state;
  g_zero(NULL, dim, x, g);
}

/* The finite-sum hooks come together or not at all. */
START_TEST(test_register_partial_sum) {
  static const sdv_objective_type partial = {.name = "partial-sum",
                                             .size = size_zero,
                                             .init = init_ok,
                                             .value = value_zero,
                                             .gradient = gradient_zero,
                                             .samples = n_one};
  ck_assert_int_eq(sdv_objective_register(&partial), SDV_EINVAL);
  ck_assert(strstr(sdv_last_error(), "must be given together (1 of 3 are set)"));
  sdv_objective *o = (sdv_objective *)&o;
  ck_assert_int_eq(sdv_objective_alloc_type(&o, &partial, 2, NULL), SDV_EINVAL);
  ck_assert_ptr_null(o);
}
END_TEST

typedef struct bad_case {
  const char *csv;  /* file contents (NULL: the path does not exist) */
  const char *spec; /* %s = path */
  size_t dim;
  int status;
  const char *needle;
} bad_case;

static const bad_case bad[] = {
    /* least-squares */
    {NULL, "least-squares:data=%s", 3, SDV_EIO, "least-squares: data = '/nonexistent"},
    {real_csv, "least-squares", 3, SDV_EINVAL, "least-squares: data = FILE is required"},
    {real_csv, "least-squares:data=%s:l2=-0.5", 3, SDV_EINVAL, "l2 = -0.5"},
    {real_csv, "least-squares:data=%s:bias=2", 3, SDV_EINVAL, "bias = 2"},
    {real_csv, "least-squares:data=%s", 4, SDV_EINVAL, "dim = 4 must be 3"},
    {real_csv, "least-squares:data=%s:bias=0", 3, SDV_EINVAL, "dim = 3 must be 2"},
    {real_csv, "least-squares:data=%s:mu=1", 3, SDV_EINVAL, "mu"},
    {"0.5,1\n0.5,inf\n", "least-squares:data=%s", 2, SDV_EINVAL,
     "line 2: not a list of finite numbers (column 2"},
    {"0.5,1\n0.5\n", "least-squares:data=%s", 2, SDV_EINVAL,
     "line 2 has 1 fields, expected 2 as on line 1 (column 2 is missing)"},
    /* softmax */
    {NULL, "softmax:data=%s", 9, SDV_EIO, "cannot be opened"},
    {class_csv, "softmax:l2=1", 9, SDV_EINVAL, "softmax: data = FILE is required"},
    {class_csv, "softmax:data=%s:l2=-1", 9, SDV_EINVAL, "l2 = -1"},
    {class_csv, "softmax:data=%s", 8, SDV_EINVAL, "dim = 8 must be C (p + 1) = 3 (2 + 1) = 9"},
    {"0.5,0\n0.25,0\n", "softmax:data=%s", 2, SDV_EINVAL, "every label (column 2) is 0"},
    {"0.5,0\n0.25,1.5\n", "softmax:data=%s", 4, SDV_EINVAL, "line 2 column 2: label = 1.5"},
    {"# empty\n", "softmax:data=%s", 4, SDV_EINVAL, "has no samples"},
    {class_csv, "softmax:data=%s:bias=1", 9, SDV_EINVAL, "bias"},
    /* mlp */
    {NULL, "mlp:data=%s:hidden=2", 15, SDV_EIO, "mlp: data = '/nonexistent"},
    {class_csv, "mlp:hidden=2", 15, SDV_EINVAL, "mlp: data = FILE is required"},
    {class_csv, "mlp:data=%s", 15, SDV_EINVAL, "hidden = H (the width of the hidden layer)"},
    {class_csv, "mlp:data=%s:hidden=0", 3, SDV_EINVAL, "hidden = 0 must satisfy 1 <= hidden"},
    {class_csv, "mlp:data=%s:hidden=2000", 3, SDV_EINVAL, "hidden = 2000 must satisfy"},
    {class_csv, "mlp:data=%s:hidden=1.5", 3, SDV_EINVAL, "hidden"},
    {class_csv, "mlp:data=%s:hidden=2:l2=-0.25", 15, SDV_EINVAL, "l2 = -0.25"},
    {class_csv, "mlp:data=%s:hidden=2:seed=-1", 15, SDV_EINVAL, "seed"},
    {class_csv, "mlp:data=%s:hidden=2", 16, SDV_EINVAL,
     "dim = 16 must be H (p + 1) + C (H + 1) = 2 (2 + 1) + 3 (2 + 1) = 15"},
    {"0.5,0\nx,1\n", "mlp:data=%s:hidden=2", 12, SDV_EINVAL,
     "line 2: not a list of numbers (column 1 = 'x' is not a number)"},
};

START_TEST(test_errors) {
  const bad_case *b = &bad[_i];
  char path[64];
  if (b->csv)
    sdv_test_temp_file(path, sizeof path, b->csv);
  else
    snprintf(path, sizeof path, "/nonexistent/sdv-training.csv");
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

static Suite *training_suite(void) {
  Suite *s = suite_create("training");
  TCase *tc = tcase_create("reference");
  tcase_add_test(tc, test_least_squares_reference);
  tcase_add_test(tc, test_softmax_reference);
  tcase_add_test(tc, test_mlp_reference);
  suite_add_tcase(s, tc);
  const int np = (int)(sizeof problems / sizeof problems[0]);
  tc = tcase_create("derivatives");
  tcase_set_timeout(tc, 60); /* the digits problems take ~1 s each; valgrind ~50x */
  tcase_add_loop_test(tc, test_gradient_fd, 0, np);
  tcase_add_loop_test(tc, test_hvp_fd, 0, np);
  tcase_add_loop_test(tc, test_sample_sum, 0, np);
  tcase_add_loop_test(tc, test_weighted_sum, 0, np);
  suite_add_tcase(s, tc);
  tc = tcase_create("hooks");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_mlp_initial_point);
  tcase_add_test(tc, test_not_supported);
  tcase_add_test(tc, test_register_partial_sum);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof bad / sizeof bad[0]));
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(training_suite()); }
