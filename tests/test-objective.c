/* Objectives: reference values, derivatives against finite differences, the dense
 * quadratic's spectrum, callbacks, the registry and every error path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_sort.h>

#include <sdv/errors.h>
#include <sdv/objective.h>

#include "testutil.h"

/* The point of the reference values in the files' opening comments. */
static const double xref[3] = {1.5, -2.385, 0.25};

/* A high-entropy point in dimension d (no zeros, no symmetric values). */
static void point(double *x, size_t d) {
  for (size_t j = 0; j < d; j++) x[j] = 0.7319 - 0.4127 * (double)j + 0.0583 * (double)(j * j);
}

static sdv_objective *make(const char *spec, size_t d) {
  sdv_objective *o = NULL;
  const int rc = sdv_objective_alloc(&o, spec, d);
  ck_assert_msg(rc == SDV_OK, "alloc '%s' (d = %zu): %s", spec, d, sdv_last_error());
  return o;
}

START_TEST(test_quadratic_reference) {
  sdv_objective *o = make("quadratic:lam=0.5..2", 3);
  ck_assert_ptr_eq(o->type, sdv_objective_quadratic);
  ck_assert_int_eq(o->type->kind, SDV_OBJECTIVE_QUADRATIC_DIAG);
  ck_assert_close(sdv_objective_value(o, xref), 267529.0 / 64000.0, 1e-15);
  double g[3], h[9];
  sdv_objective_gradient(o, xref, g);
  ck_assert_close(g[0], 0.75, 1e-15);
  ck_assert_close(g[1], -2.98125, 1e-15);
  ck_assert_close(g[2], 0.5, 1e-15);
  ck_assert_int_eq(sdv_objective_hessian(o, xref, h), SDV_OK);
  const double want[9] = {0.5, 0, 0, 0, 1.25, 0, 0, 0, 2};
  for (size_t i = 0; i < 9; i++) ck_assert_close(h[i], want[i], 0);
  sdv_objective_free(o);

  /* Default lam = 1 and an explicit list. */
  o = make("quadratic", 3);
  ck_assert_close(sdv_objective_value(o, xref), 0.5 * (2.25 + 2.385 * 2.385 + 0.0625), 1e-15);
  sdv_objective_free(o);
  o = make("quadratic:lam=1,2.5,4", 3);
  sdv_objective_gradient(o, xref, g);
  ck_assert_close(g[1], -2.385 * 2.5, 1e-15);
  ck_assert_close(g[2], 1.0, 1e-15);
  sdv_objective_free(o);
}
END_TEST

/* The quadratic from numbers is the quadratic from its spec: the same type and state, and the
 * same value, gradient and Hessian bit for bit, for lam that are not short decimals (the spec
 * carries them as %.17g, which reads back exactly). */
START_TEST(test_quadratic_from_numbers) {
  const size_t d = 5;
  const double lam[5] = {0.1 + 0.2, 2.385, 1.0 / 3.0, 7.25e-3, 4.0 * atan(1.0)};
  char spec[256] = "quadratic:lam=";
  for (size_t j = 0; j < d; j++)
    snprintf(spec + strlen(spec), sizeof spec - strlen(spec), "%s%.17g", j ? "," : "", lam[j]);
  sdv_objective *t = make(spec, d), *n = NULL;
  ck_assert_msg(sdv_objective_alloc_quadratic(&n, d, lam) == SDV_OK, "%s", sdv_last_error());
  ck_assert_ptr_eq(n->type, sdv_objective_quadratic);
  ck_assert_uint_eq(n->dim, d);
  ck_assert_mem_eq(n->state, t->state, d * sizeof(double));
  double x[5], gt[5], gn[5], ht[25], hn[25];
  point(x, d);
  const double vt = sdv_objective_value(t, x), vn = sdv_objective_value(n, x);
  ck_assert_mem_eq(&vt, &vn, sizeof vt);
  sdv_objective_gradient(t, x, gt);
  sdv_objective_gradient(n, x, gn);
  ck_assert_mem_eq(gt, gn, sizeof gt);
  ck_assert_int_eq(sdv_objective_hessian(t, x, ht), SDV_OK);
  ck_assert_int_eq(sdv_objective_hessian(n, x, hn), SDV_OK);
  ck_assert_mem_eq(ht, hn, sizeof ht);
  sdv_objective_free(t);
  sdv_objective_free(n);
}
END_TEST

/* Every refusal of sdv_objective_alloc_quadratic names the field and leaves *out NULL. */
START_TEST(test_quadratic_from_numbers_errors) {
  const double bad[4][3] = {{1.5, 2.385, -1}, {0, 1, 1}, {1, NAN, 1}, {1, 1, INFINITY}};
  const char *const names[4] = {"lam[2] = -1 must be > 0", "lam[0] = 0", "lam[1] = nan",
                                "lam[2] = inf"};
  for (size_t k = 0; k < 4; k++) {
    sdv_objective *o = (sdv_objective *)1;
    ck_assert_int_eq(sdv_objective_alloc_quadratic(&o, 3, bad[k]), SDV_EINVAL);
    ck_assert_ptr_null(o);
    ck_assert_msg(strstr(sdv_last_error(), names[k]), "message '%s' does not name '%s'",
                  sdv_last_error(), names[k]);
  }
  sdv_objective *o = (sdv_objective *)1;
  ck_assert_int_eq(sdv_objective_alloc_quadratic(&o, 3, NULL), SDV_EINVAL);
  ck_assert_ptr_null(o);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "lam is NULL"));
  const double one = 1.0;
  ck_assert_int_eq(sdv_objective_alloc_quadratic(&o, 0, &one), SDV_EINVAL);
  ck_assert_ptr_null(o);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "dim = 0"));
  ck_assert_int_eq(sdv_objective_alloc_quadratic(NULL, 1, &one), SDV_EINVAL);
}
END_TEST

/* The gradient of the diagonal quadratic may run as an AVX2 clone (lib/core/clones.h):
 * it must equal lam_j x_j computed here, bit for bit, at every d (tails included). */
START_TEST(test_quadratic_gradient_bitwise) {
  for (size_t d = 1; d <= 70; d++) {
    /* A range needs d >= 2 (at d = 1 it is refused); its first value is 0.5. */
    sdv_objective *o = make(d == 1 ? "quadratic:lam=0.5" : "quadratic:lam=0.5..2", d);
    const double *lam = o->state;
    double *x = malloc(d * sizeof *x), *g = malloc(d * sizeof *g);
    ck_assert(x && g);
    point(x, d);
    for (size_t j = 0; j < d; j++) x[j] *= 1.0 + 1e-3 * (double)j / 3.0;
    sdv_objective_gradient(o, x, g);
    for (size_t j = 0; j < d; j++) {
      const double want = lam[j] * x[j];
      ck_assert_msg(memcmp(&g[j], &want, sizeof want) == 0, "d = %zu: g[%zu] = %.17g, want %.17g",
                    d, j, g[j], want);
    }
    free(x);
    free(g);
    sdv_objective_free(o);
  }
}
END_TEST

START_TEST(test_quartic_reference) {
  sdv_objective *o = make("quartic:lam=0.5..2", 3);
  ck_assert_int_eq(o->type->kind, SDV_OBJECTIVE_GENERAL);
  ck_assert_close(sdv_objective_value(o, xref), 86628595841.0 / 6400000000.0, 1e-15);
  double g[3], h[9];
  sdv_objective_gradient(o, xref, g);
  for (size_t j = 0; j < 3; j++) {
    const double lam = 0.5 + 0.75 * (double)j;
    ck_assert_close(g[j], xref[j] * xref[j] * xref[j] + lam * xref[j], 1e-15);
  }
  ck_assert_int_eq(sdv_objective_hessian(o, xref, h), SDV_OK);
  ck_assert_close(h[4], 3 * 2.385 * 2.385 + 1.25, 1e-15);
  ck_assert_close(h[1], 0, 0);
  sdv_objective_free(o);
  /* The T1 test function: d = 1, lam = 1 by default, f = x^4/4 + x^2/2. */
  o = make("quartic", 1);
  const double x = -1.7325;
  ck_assert_close(sdv_objective_value(o, &x), pow(x, 4) / 4 + x * x / 2, 1e-15);
  sdv_objective_free(o);
  /* lam = 0 is allowed (degenerate but unique minimum). */
  o = make("quartic:lam=0", 2);
  const double z[2] = {0, 0};
  ck_assert_close(sdv_objective_value(o, z), 0, 0);
  sdv_objective_free(o);
}
END_TEST

START_TEST(test_double_well_reference) {
  sdv_objective *o = make("double-well:a=1.3", 3);
  ck_assert_close(sdv_objective_value(o, xref), 4.73703985015625, 1e-15);
  double g[3], h[9];
  sdv_objective_gradient(o, xref, g);
  ck_assert_close(g[0], 0.84, 1e-14);
  ck_assert_close(g[1], -9.535766625, 1e-14);
  ck_assert_close(g[2], -0.406875, 1e-14);
  ck_assert_int_eq(sdv_objective_hessian(o, xref, h), SDV_OK);
  ck_assert_close(h[8], 3 * 0.0625 - 1.69, 1e-15);
  /* Minima at x_j = +-a: f = 0, gradient 0, curvature 2 a^2. */
  const double m[3] = {1.3, -1.3, 1.3};
  ck_assert_close(sdv_objective_value(o, m), 0, 1e-15);
  sdv_objective_gradient(o, m, g);
  for (size_t j = 0; j < 3; j++) ck_assert_close(g[j], 0, 1e-14);
  ck_assert_int_eq(sdv_objective_hessian(o, m, h), SDV_OK);
  ck_assert_close(h[0], 2 * 1.69, 1e-14);
  sdv_objective_free(o);
  o = make("double-well", 1); /* a = 1 */
  const double x = 0.0;
  ck_assert_close(sdv_objective_value(o, &x), 0.25, 1e-15);
  sdv_objective_free(o);
}
END_TEST

/* Central differences with step h = 1e-5 have truncation error h^2 |f'''| / 6 ~ 1e-9 and
 * rounding error ~ eps |f| / h ~ 1e-10 at these points, so 1e-6 relative to max(1, |g|)
 * leaves a wide margin while still catching any wrong coefficient. */
#define FD_H 1e-5
#define FD_TOL 1e-6

static const char *const fd_specs[] = {"quadratic:lam=0.5..2", "dense-quadratic:lam=0.3..3:seed=5",
                                       "quartic:lam=0..1.5", "double-well:a=1.3"};

START_TEST(test_gradient_fd) {
  enum { d = 5 };
  sdv_objective *o = make(fd_specs[_i], d);
  double x[d], g[d], xp[d];
  point(x, d);
  sdv_objective_gradient(o, x, g);
  for (size_t j = 0; j < d; j++) {
    memcpy(xp, x, sizeof x);
    xp[j] = x[j] + FD_H;
    const double fp = sdv_objective_value(o, xp);
    xp[j] = x[j] - FD_H;
    const double fm = sdv_objective_value(o, xp);
    ck_assert_close((fp - fm) / (2 * FD_H), g[j], FD_TOL);
  }
  sdv_objective_free(o);
}
END_TEST

START_TEST(test_hessian_fd) {
  enum { d = 5 };
  sdv_objective *o = make(fd_specs[_i], d);
  double x[d], h[d * d], xp[d], gp[d], gm[d];
  point(x, d);
  ck_assert_int_eq(sdv_objective_hessian(o, x, h), SDV_OK);
  for (size_t j = 0; j < d; j++) {
    memcpy(xp, x, sizeof x);
    xp[j] = x[j] + FD_H;
    sdv_objective_gradient(o, xp, gp);
    xp[j] = x[j] - FD_H;
    sdv_objective_gradient(o, xp, gm);
    for (size_t i = 0; i < d; i++)
      ck_assert_close((gp[i] - gm[i]) / (2 * FD_H), h[i * d + j], FD_TOL);
  }
  sdv_objective_free(o);
}
END_TEST

/* Eigenvalues of a copy of the symmetric matrix h, ascending. */
static void eigenvalues(const double *h, size_t d, double *ev) {
  gsl_matrix *a = gsl_matrix_alloc(d, d);
  gsl_vector *e = gsl_vector_alloc(d);
  gsl_eigen_symm_workspace *w = gsl_eigen_symm_alloc(d);
  ck_assert(a && e && w);
  memcpy(a->data, h, d * d * sizeof *h);
  ck_assert_int_eq(gsl_eigen_symm(a, e, w), 0);
  for (size_t i = 0; i < d; i++) ev[i] = gsl_vector_get(e, i);
  gsl_sort(ev, 1, d);
  gsl_eigen_symm_free(w);
  gsl_vector_free(e);
  gsl_matrix_free(a);
}

START_TEST(test_dense_quadratic_spectrum) {
  enum { d = 7 };
  sdv_objective *o = make("dense-quadratic:lam=0.3..3:seed=11", d);
  ck_assert_int_eq(o->type->kind, SDV_OBJECTIVE_QUADRATIC_DENSE);
  double h[d * d], ev[d], x[d], g[d];
  ck_assert_int_eq(sdv_objective_hessian(o, NULL, h), SDV_OK);
  double offdiag = 0;
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      ck_assert_msg(h[i * d + j] == h[j * d + i], "H[%zu][%zu] != H[%zu][%zu]", i, j, j, i);
      if (i != j) offdiag = fmax(offdiag, fabs(h[i * d + j]));
    }
  ck_assert_msg(offdiag > 0.1, "H looks diagonal (max |offdiag| = %g): Q is not random", offdiag);
  eigenvalues(h, d, ev);
  for (size_t j = 0; j < d; j++) ck_assert_close(ev[j], 0.3 + 2.7 * (double)j / (d - 1), 1e-10);
  /* value and gradient are 0.5 x^T H x and H x. */
  point(x, d);
  sdv_objective_gradient(o, x, g);
  double q = 0;
  for (size_t i = 0; i < d; i++) {
    double hx = 0;
    for (size_t j = 0; j < d; j++) hx += h[i * d + j] * x[j];
    ck_assert_close(g[i], hx, 1e-14);
    q += x[i] * hx;
  }
  ck_assert_close(sdv_objective_value(o, x), 0.5 * q, 1e-14);
  sdv_objective_free(o);
}
END_TEST

START_TEST(test_dense_quadratic_reference_and_seed) {
  sdv_objective *a = make("dense-quadratic:lam=0.5..2:seed=7", 3);
  sdv_objective *b = make("dense-quadratic:lam=0.5..2:seed=7", 3);
  sdv_objective *c = make("dense-quadratic:lam=0.5..2:seed=8", 3);
  double ha[9], hb[9], hc[9], ev[3];
  ck_assert_int_eq(sdv_objective_hessian(a, xref, ha), SDV_OK);
  ck_assert_int_eq(sdv_objective_hessian(b, xref, hb), SDV_OK);
  ck_assert_int_eq(sdv_objective_hessian(c, xref, hc), SDV_OK);
  ck_assert_msg(memcmp(ha, hb, sizeof ha) == 0, "same seed gave different H");
  ck_assert_msg(memcmp(ha, hc, sizeof ha) != 0, "different seeds gave the same H");
  ck_assert_close(ha[0] + ha[4] + ha[8], 3.75, 1e-14);
  eigenvalues(ha, 3, ev);
  ck_assert_close(ev[0], 0.5, 1e-10);
  ck_assert_close(ev[1], 1.25, 1e-10);
  ck_assert_close(ev[2], 2.0, 1e-10);
  sdv_objective_free(a);
  sdv_objective_free(b);
  sdv_objective_free(c);
  /* d = 1: H = lam whatever the sign of Q. */
  a = make("dense-quadratic:lam=2.385", 1);
  ck_assert_int_eq(sdv_objective_hessian(a, xref, ha), SDV_OK);
  ck_assert_close(ha[0], 2.385, 1e-15);
  sdv_objective_free(a);
}
END_TEST

START_TEST(test_dense_quadratic_explicit) {
  sdv_objective *o = make("dense-quadratic:h=2.385,0.5,0.5,1.25", 2);
  double h[4], g[2];
  ck_assert_int_eq(sdv_objective_hessian(o, xref, h), SDV_OK);
  ck_assert_close(h[1], 0.5, 0);
  sdv_objective_gradient(o, xref, g);
  ck_assert_close(g[0], 2.385 * 1.5 - 0.5 * 2.385, 1e-15);
  sdv_objective_free(o);
  /* Not symmetric, not positive definite, mixed with lam. */
  o = (sdv_objective *)1;
  ck_assert_int_eq(sdv_objective_alloc(&o, "dense-quadratic:h=2,0.5,0.25,1", 2), SDV_EINVAL);
  ck_assert_ptr_null(o);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "symmetric"));
  ck_assert_int_eq(sdv_objective_alloc(&o, "dense-quadratic:h=1,2,2,1", 2), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "positive definite"));
  ck_assert_int_eq(sdv_objective_alloc(&o, "dense-quadratic:h=1,0,0,1:lam=2", 2), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "lam"));
  ck_assert_int_eq(sdv_objective_alloc(&o, "dense-quadratic:h=1,0,0", 2), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "h"));
}
END_TEST

/* Callback objective: f = sum_j c x_j^3 with c read from the user pointer. */
static double cb_value(void *user, size_t dim, const double *x) {
  const double c = *(const double *)user;
  double s = 0;
  for (size_t j = 0; j < dim; j++) s += c * x[j] * x[j] * x[j];
  return s;
}
static void cb_gradient(void *user, size_t dim, const double *x, double *g) {
  const double c = *(const double *)user;
  for (size_t j = 0; j < dim; j++) g[j] = 3 * c * x[j] * x[j];
}
static void cb_hessian(void *user, size_t dim, const double *x, double *h) {
  const double c = *(const double *)user;
  for (size_t i = 0; i < dim * dim; i++) h[i] = 0;
  for (size_t j = 0; j < dim; j++) h[j * dim + j] = 6 * c * x[j];
}

START_TEST(test_callback) {
  double c = 2.385;
  sdv_objective *o = NULL;
  ck_assert_int_eq(sdv_objective_alloc_callback(&o, 3, cb_value, cb_gradient, cb_hessian, &c),
                   SDV_OK);
  ck_assert_uint_eq(o->dim, 3);
  const double want = c * (3.375 - 2.385 * 2.385 * 2.385 + 0.015625);
  ck_assert_close(sdv_objective_value(o, xref), want, 1e-15);
  double g[3], h[9];
  sdv_objective_gradient(o, xref, g);
  ck_assert_close(g[1], 3 * c * 2.385 * 2.385, 1e-15);
  ck_assert_int_eq(sdv_objective_hessian(o, xref, h), SDV_OK);
  ck_assert_close(h[4], -6 * c * 2.385, 1e-15);
  c = -1.5; /* the user pointer is borrowed, not copied */
  ck_assert_close(sdv_objective_value(o, xref), -1.5 * (3.375 - 2.385 * 2.385 * 2.385 + 0.015625),
                  1e-15);
  sdv_objective_free(o);
  /* Without Hessian. */
  ck_assert_int_eq(sdv_objective_alloc_callback(&o, 3, cb_value, cb_gradient, NULL, &c), SDV_OK);
  ck_assert_int_eq(sdv_objective_hessian(o, xref, h), SDV_ENOTSUP);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "Hessian"));
  sdv_objective_free(o);
  /* Missing callbacks and dim 0. */
  o = (sdv_objective *)1;
  ck_assert_int_eq(sdv_objective_alloc_callback(&o, 3, NULL, cb_gradient, NULL, &c), SDV_EINVAL);
  ck_assert_ptr_null(o);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "value"));
  ck_assert_int_eq(sdv_objective_alloc_callback(&o, 3, cb_value, NULL, NULL, &c), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "gradient"));
  ck_assert_int_eq(sdv_objective_alloc_callback(&o, 0, cb_value, cb_gradient, NULL, &c),
                   SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "dim"));
}
END_TEST

/* A user type: f = s * sum_j x_j^2 / 2 with s from "scale=" (default 1), no Hessian. */
static size_t user_size(size_t dim) {
  (void)dim;
  return sizeof(double);
}
static int user_init(void *state, size_t dim, sdv_params *p) {
  (void)dim;
  return sdv_params_get_double(p, "scale", 1.0, state);
}
static double user_value(const void *state, size_t dim, const double *x) {
  double s = 0;
  for (size_t j = 0; j < dim; j++) s += x[j] * x[j];
  return 0.5 * *(const double *)state * s;
}
static void user_gradient(const void *state, size_t dim, const double *x, double *g) {
  for (size_t j = 0; j < dim; j++) g[j] = *(const double *)state * x[j];
}
static int user_frees;
static void user_free(void *state) {
  (void)state;
  user_frees++;
}
static const sdv_objective_type user_type = {.name = "test-user-bowl",
                                             .help = "scale=S",
                                             .size = user_size,
                                             .init = user_init,
                                             .free = user_free,
                                             .value = user_value,
                                             .gradient = user_gradient};

START_TEST(test_registry) {
  ck_assert_ptr_eq(sdv_objective_type_from_name("quadratic"), sdv_objective_quadratic);
  ck_assert_ptr_eq(sdv_objective_type_from_name("dense-quadratic"), sdv_objective_dense_quadratic);
  ck_assert_ptr_eq(sdv_objective_type_from_name("quartic"), sdv_objective_quartic);
  ck_assert_ptr_eq(sdv_objective_type_from_name("double-well"), sdv_objective_double_well);
  ck_assert_ptr_null(sdv_objective_type_from_name("quadratik"));
  ck_assert_ptr_null(sdv_objective_type_from_name(NULL));
  const sdv_objective_type *list[16];
  const size_t n0 = sdv_objective_types(list, 16);
  ck_assert_uint_ge(n0, 4);
  ck_assert_ptr_eq(list[0], sdv_objective_quadratic);
  for (size_t i = 0; i < n0 && i < 16; i++) ck_assert_ptr_nonnull(list[i]->help);
  ck_assert_uint_eq(sdv_objective_types(list, 1), n0); /* count even when list is short */

  ck_assert_int_eq(sdv_objective_register(&user_type), SDV_OK);
  ck_assert_ptr_eq(sdv_objective_type_from_name("test-user-bowl"), &user_type);
  ck_assert_uint_eq(sdv_objective_types(list, 16), n0 + 1);
  ck_assert_ptr_eq(list[n0], &user_type);
  ck_assert_int_eq(sdv_objective_register(&user_type), SDV_EINVAL); /* name taken */
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "test-user-bowl"));
  ck_assert_int_eq(sdv_objective_register(sdv_objective_quartic), SDV_EINVAL);

  sdv_objective *o = make("test-user-bowl:scale=2.385", 3);
  double g[3], h[9];
  sdv_objective_gradient(o, xref, g);
  ck_assert_close(g[1], -2.385 * 2.385, 1e-15);
  ck_assert_int_eq(sdv_objective_hessian(o, xref, h), SDV_ENOTSUP);
  user_frees = 0;
  sdv_objective_free(o);
  ck_assert_int_eq(user_frees, 1);
  /* Directly from the type, with and without parameters. */
  ck_assert_int_eq(sdv_objective_alloc_type(&o, &user_type, 2, "scale=0.5"), SDV_OK);
  ck_assert_close(sdv_objective_value(o, xref), 0.25 * (2.25 + 2.385 * 2.385), 1e-15);
  sdv_objective_free(o);
  ck_assert_int_eq(sdv_objective_alloc_type(&o, &user_type, 2, NULL), SDV_OK);
  ck_assert_close(sdv_objective_value(o, xref), 0.5 * (2.25 + 2.385 * 2.385), 1e-15);
  sdv_objective_free(o);
  ck_assert_int_eq(sdv_objective_alloc_type(&o, sdv_objective_quadratic, 2, "lam=3"), SDV_OK);
  ck_assert_close(sdv_objective_value(o, xref), 1.5 * (2.25 + 2.385 * 2.385), 1e-15);
  sdv_objective_free(o);
  ck_assert_int_eq(sdv_objective_alloc_type(&o, &user_type, 2, "scal=0.5"), SDV_EINVAL);
  ck_assert_ptr_null(o);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "scal"));
  sdv_objective_free(NULL);
}
END_TEST

START_TEST(test_register_missing_hooks) {
  const char *const hooks[] = {"size", "init", "value", "gradient"};
  for (size_t i = 0; i < 4; i++) {
    sdv_objective_type t = user_type;
    t.name = "test-incomplete";
    if (i == 0) t.size = NULL;
    if (i == 1) t.init = NULL;
    if (i == 2) t.value = NULL;
    if (i == 3) t.gradient = NULL;
    ck_assert_int_eq(sdv_objective_register(&t), SDV_EINVAL);
    ck_assert_msg(strstr(sdv_last_error(), hooks[i]), "message '%s' does not name '%s'",
                  sdv_last_error(), hooks[i]);
    sdv_objective *o = (sdv_objective *)1;
    ck_assert_int_eq(sdv_objective_alloc_type(&o, &t, 2, NULL), SDV_EINVAL);
    ck_assert_ptr_null(o);
  }
  sdv_objective_type t = user_type;
  t.name = NULL;
  ck_assert_int_eq(sdv_objective_register(&t), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "name"));
  ck_assert_int_eq(sdv_objective_register(NULL), SDV_EINVAL);
  ck_assert_ptr_null(sdv_objective_type_from_name("test-incomplete"));
}
END_TEST

/* Each bad spec must fail with SDV_EINVAL, *out = NULL and a message naming the culprit. */
static const struct {
  const char *spec;
  size_t dim;
  const char *names;
} bad[] = {
    {"quadratic", 0, "dim"},
    {"dense-quadratic", 0, "dim"},
    {"quadratic:lam=0", 3, "lam"},
    {"quadratic:lam=1,-2.385,3", 3, "lam[1] = -2.385"},
    {"quadratic:lam=0..2", 3, "lam[0] = 0"},
    {"quadratic:lam=nan", 3, "lam"},
    {"quadratic:lam=inf", 3, "lam"},
    {"quadratic:lam=1,2", 3, "lam"},
    {"quadratic:lam=1,2,x", 3, "lam"},
    {"quadratic:lam=2:lamb=3", 3, "lamb"},
    {"quadratic:lam", 3, "lam"},
    {"quadratik:lam=2", 3, "quadratic, dense-quadratic, quartic, double-well"},
    {"", 3, "empty"},
    {"quartic:lam=-0.5", 2, "lam[0] = -0.5"},
    {"quartic:lam=1,2,3", 2, "lam"},
    {"double-well:a=0", 2, "a = 0"},
    {"double-well:a=-1.3", 2, "a = -1.3"},
    {"double-well:a=nan", 2, "a"},
    {"double-well:b=1", 2, "b"},
    {"dense-quadratic:lam=0.5,0", 2, "lam[1] = 0"},
    {"dense-quadratic:seed=-3", 2, "seed"},
    {"dense-quadratic:seed=2.5", 2, "seed"},
    {"dense-quadratic:lam=1:sead=3", 2, "sead"},
};

START_TEST(test_errors) {
  sdv_objective *o = (sdv_objective *)1;
  sdv_clear_error();
  const int rc = sdv_objective_alloc(&o, bad[_i].spec, bad[_i].dim);
  ck_assert_msg(rc == SDV_EINVAL, "'%s' (d = %zu): status %d", bad[_i].spec, bad[_i].dim, rc);
  ck_assert_ptr_null(o);
  ck_assert_msg(strstr(sdv_last_error(), bad[_i].names), "'%s': message '%s' does not name '%s'",
                bad[_i].spec, sdv_last_error(), bad[_i].names);
}
END_TEST

static Suite *objective_suite(void) {
  Suite *s = suite_create("objective");
  TCase *tc = tcase_create("reference");
  tcase_add_test(tc, test_quadratic_reference);
  tcase_add_test(tc, test_quadratic_gradient_bitwise);
  tcase_add_test(tc, test_quadratic_from_numbers);
  tcase_add_test(tc, test_quadratic_from_numbers_errors);
  tcase_add_test(tc, test_quartic_reference);
  tcase_add_test(tc, test_double_well_reference);
  suite_add_tcase(s, tc);
  tc = tcase_create("derivatives");
  tcase_add_loop_test(tc, test_gradient_fd, 0, (int)(sizeof fd_specs / sizeof fd_specs[0]));
  tcase_add_loop_test(tc, test_hessian_fd, 0, (int)(sizeof fd_specs / sizeof fd_specs[0]));
  suite_add_tcase(s, tc);
  tc = tcase_create("dense-quadratic");
  tcase_add_test(tc, test_dense_quadratic_spectrum);
  tcase_add_test(tc, test_dense_quadratic_reference_and_seed);
  tcase_add_test(tc, test_dense_quadratic_explicit);
  suite_add_tcase(s, tc);
  tc = tcase_create("callback");
  tcase_add_test(tc, test_callback);
  suite_add_tcase(s, tc);
  tc = tcase_create("registry");
  tcase_add_test(tc, test_registry);
  tcase_add_test(tc, test_register_missing_hooks);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof bad / sizeof bad[0]));
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(objective_suite()); }
