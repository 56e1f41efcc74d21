/* Dense quadratic with a random eigenbasis: the theory's quadratic test bed "with a dense
 * symmetric positive definite H, where stated".
 *
 *   f(x) = (1/2) x^T H x,   grad f = H x,   Hess f = H,   H = Q diag(lam) Q^T,
 *   lam_j > 0, unique minimizer x* = 0, f* = 0.
 *
 * Q is Haar-distributed on the orthogonal group: the Q factor of the QR decomposition of a
 * d x d matrix of standard normals, with column j multiplied by sign(R_jj) (without the sign
 * fix the law of Q depends on the QR convention; Mezzadri, Notices AMS 54 (2007) 592). The
 * normals come from stream (seed, path 0, SDV_PURPOSE_AUX, sub 0), so a seed fixes H on every
 * platform up to round-off. H is stored exactly symmetric (upper triangle mirrored).
 *
 * Specs: "dense-quadratic:lam=LIST:seed=S" (defaults lam=1, seed=0), or
 *        "dense-quadratic:h=LIST" with the d*d entries of H row by row; H must then be
 *        exactly symmetric and positive definite (checked by Cholesky).
 * Reference value (checked in tests/test-objective.c): lam=0.5..2, seed=7, d = 3 gives
 * trace H = 3.75 and eigenvalues {0.5, 1.25, 2} (to 1e-10), whatever Q is.
 */
#include <sdv/errors.h>
#include <sdv/objective.h>
#include <sdv/rng.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct dense_quadratic_state {
  size_t dim;
  double h[]; /* [dim * dim] row-major H */
} dense_quadratic_state;

static size_t dense_quadratic_size(size_t dim) {
  /* An overflowing size makes the allocation fail (SDV_ENOMEM) instead of wrapping. */
  if (dim > (SIZE_MAX - sizeof(dense_quadratic_state)) / sizeof(double) / (dim ? dim : 1))
    return SIZE_MAX;
  return sizeof(dense_quadratic_state) + dim * dim * sizeof(double);
}

/* H = Q diag(lam) Q^T with Q Haar from the seeded stream. */
static int random_h(double *h, size_t d, const double *lam, uint64_t seed) {
  int rc = SDV_OK;
  gsl_matrix *a = gsl_matrix_alloc(d, d), *t = gsl_matrix_alloc(d, d);
  gsl_matrix *q = gsl_matrix_alloc(d, d), *r = gsl_matrix_alloc(d, d);
  if (!a || !t || !q || !r) {
    rc = SDV_ERROR(SDV_ENOMEM, "dense-quadratic: out of memory (dim = %zu)", d);
    goto fail;
  }
  sdv_stream s;
  sdv_stream_init(&s, seed, 0, SDV_PURPOSE_AUX, 0);
  sdv_stream_normals(&s, a->data, d * d); /* a freshly allocated matrix has tda == d */
  int st = gsl_linalg_QR_decomp_r(a, t);
  if (!st) st = gsl_linalg_QR_unpack_r(a, t, q, r);
  if (st) {
    rc = SDV_ERROR(SDV_ENUMERIC, "dense-quadratic: QR of the random matrix failed: %s",
                   gsl_strerror(st));
    goto fail;
  }
  for (size_t j = 0; j < d; j++)
    if (gsl_matrix_get(r, j, j) < 0.0)
      for (size_t i = 0; i < d; i++) gsl_matrix_set(q, i, j, -gsl_matrix_get(q, i, j));
  for (size_t i = 0; i < d; i++)
    for (size_t j = i; j < d; j++) {
      double v = 0.0;
      for (size_t k = 0; k < d; k++)
        v += gsl_matrix_get(q, i, k) * lam[k] * gsl_matrix_get(q, j, k);
      h[i * d + j] = h[j * d + i] = v;
    }
fail:
  gsl_matrix_free(a);
  gsl_matrix_free(t);
  gsl_matrix_free(q);
  gsl_matrix_free(r);
  return rc;
}

/* An explicit H: exact symmetry, then positive definiteness by Cholesky on a copy. */
static int check_h(const double *h, size_t d) {
  for (size_t i = 0; i < d; i++)
    for (size_t j = i + 1; j < d; j++)
      if (h[i * d + j] != h[j * d + i])
        return SDV_ERROR(SDV_EINVAL,
                         "dense-quadratic: h is not symmetric: h[%zu][%zu] = %g but "
                         "h[%zu][%zu] = %g",
                         i, j, h[i * d + j], j, i, h[j * d + i]);
  gsl_matrix *c = gsl_matrix_alloc(d, d);
  if (!c) return SDV_ERROR(SDV_ENOMEM, "dense-quadratic: out of memory (dim = %zu)", d);
  memcpy(c->data, h, d * d * sizeof *h);
  const int st = gsl_linalg_cholesky_decomp1(c);
  gsl_matrix_free(c);
  if (st == GSL_EDOM)
    return SDV_ERROR(SDV_EINVAL, "dense-quadratic: h is not positive definite (Cholesky failed)");
  if (st)
    return SDV_ERROR(SDV_ENUMERIC, "dense-quadratic: Cholesky of h failed: %s", gsl_strerror(st));
  return SDV_OK;
}

static int dense_quadratic_init(void *state, size_t dim, sdv_params *params) {
  dense_quadratic_state *s = state;
  s->dim = dim;
  int rc;
  if (sdv_params_has(params, "h")) {
    if (sdv_params_has(params, "lam") || sdv_params_has(params, "seed"))
      return SDV_ERROR(SDV_EINVAL, "dense-quadratic: h = ... excludes lam and seed");
    if ((rc = sdv_params_get_list(params, "h", dim * dim, NULL, s->h))) return rc;
    return check_h(s->h, dim);
  }
  double *lam = malloc(dim * sizeof *lam);
  if (!lam) return SDV_ERROR(SDV_ENOMEM, "dense-quadratic: out of memory (dim = %zu)", dim);
  for (size_t j = 0; j < dim; j++) lam[j] = 1.0;
  size_t seed;
  if ((rc = sdv_params_get_size(params, "seed", 0, &seed))) goto fail;
  if (sdv_params_has(params, "lam") && (rc = sdv_params_get_list(params, "lam", dim, NULL, lam)))
    goto fail;
  for (size_t j = 0; j < dim; j++)
    if (!(lam[j] > 0.0) || !isfinite(lam[j])) {
      rc =
          SDV_ERROR(SDV_EINVAL, "dense-quadratic: lam[%zu] = %g must be > 0 and finite", j, lam[j]);
      goto fail;
    }
  rc = random_h(s->h, dim, lam, (uint64_t)seed);
fail:
  free(lam);
  return rc;
}

static double dense_quadratic_value(const void *state, size_t dim, const double *x) {
  const dense_quadratic_state *s = state;
  double v = 0.0;
  for (size_t i = 0; i < dim; i++) {
    double hx = 0.0;
    for (size_t j = 0; j < dim; j++) hx += s->h[i * dim + j] * x[j];
    v += x[i] * hx;
  }
  return 0.5 * v;
}

static void dense_quadratic_gradient(const void *state, size_t dim, const double *x, double *g) {
  const dense_quadratic_state *s = state;
  for (size_t i = 0; i < dim; i++) {
    double hx = 0.0;
    for (size_t j = 0; j < dim; j++) hx += s->h[i * dim + j] * x[j];
    g[i] = hx;
  }
}

static void dense_quadratic_hessian(const void *state, size_t dim, const double *x, double *h) {
  (void)x;
  const dense_quadratic_state *s = state;
  memcpy(h, s->h, dim * dim * sizeof *h);
}

static const sdv_objective_type dense_quadratic_type = {
    .name = "dense-quadratic",
    .help =
        "lam=LIST:seed=S: f = 0.5 x^T H x, H = Q diag(lam) Q^T, Q seeded Haar rotation, "
        "lam_j > 0 (default 1, seed 0); or h=LIST: explicit SPD H, d*d entries row-major",
    .kind = SDV_OBJECTIVE_QUADRATIC_DENSE,
    .size = dense_quadratic_size,
    .init = dense_quadratic_init,
    .value = dense_quadratic_value,
    .gradient = dense_quadratic_gradient,
    .hessian = dense_quadratic_hessian,
};

const sdv_objective_type *const sdv_objective_dense_quadratic = &dense_quadratic_type;
