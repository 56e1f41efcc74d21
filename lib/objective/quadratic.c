/* Diagonal quadratic: the test bed of the theory (notation section, "quadratic test bed").
 *
 *   f(x) = (1/2) sum_j lam_j x_j^2,   grad f = (lam_j x_j)_j,   Hess f = H = diag(lam),
 *   lam_j > 0, unique minimizer x* = 0, f* = 0.
 *
 * Spec "quadratic:lam=LIST" (default lam=1); LIST is one number, d numbers or a range A..B.
 * From numbers: sdv_objective_alloc_quadratic(&f, d, lam), the same objective without text.
 * Reference value (checked in tests/test-objective.c): lam=0.5..2, d = 3,
 * x = (1.5, -2.385, 0.25) gives f = 267529/64000 = 4.180140625.
 */
#include <sdv/errors.h>
#include <sdv/objective.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/clones.h"

/* The state is lam[dim]. */
static size_t quadratic_size(size_t dim) {
  /* An overflowing size is refused (SDV_ELIMIT) instead of wrapping to a small block that
   * init would overrun (tests/fuzz/crashes/params). */
  return dim > SIZE_MAX / sizeof(double) ? SIZE_MAX : dim * sizeof(double);
}

/* The one domain check of both entry points (the spec and the numbers). */
static int check_lam(const double *lam, size_t dim) {
  for (size_t j = 0; j < dim; j++)
    if (!(lam[j] > 0.0) || !isfinite(lam[j]))
      return SDV_ERROR(SDV_EINVAL, "quadratic: lam[%zu] = %g must be > 0 and finite", j, lam[j]);
  return SDV_OK;
}

static int quadratic_init(void *state, size_t dim, sdv_params *params) {
  double *lam = state;
  for (size_t j = 0; j < dim; j++) lam[j] = 1.0;
  if (sdv_params_has(params, "lam")) {
    const int rc = sdv_params_get_list(params, "lam", dim, NULL, lam);
    if (rc) return rc;
  }
  return check_lam(lam, dim);
}

static double quadratic_value(const void *state, size_t dim, const double *x) {
  const double *lam = state;
  double s = 0.0;
  for (size_t j = 0; j < dim; j++) s += lam[j] * x[j] * x[j];
  return 0.5 * s;
}

/* The SDE integrators call this once per step (lib/core/clones.h: same bits on every CPU). */
static SDV_CLONES void quadratic_gradient(const void *state, size_t dim, const double *x,
                                          double *g) {
  const double *lam = state;
  for (size_t j = 0; j < dim; j++) g[j] = lam[j] * x[j];
}

static void quadratic_hessian(const void *state, size_t dim, const double *x, double *h) {
  (void)x;
  const double *lam = state;
  for (size_t i = 0; i < dim * dim; i++) h[i] = 0.0;
  for (size_t j = 0; j < dim; j++) h[j * dim + j] = lam[j];
}

static const sdv_objective_type quadratic_type = {
    .name = "quadratic",
    .help = "lam=LIST: f = 0.5 sum_j lam_j x_j^2, lam_j > 0 (default 1); minimizer 0",
    .kind = SDV_OBJECTIVE_QUADRATIC_DIAG,
    .size = quadratic_size,
    .init = quadratic_init,
    .value = quadratic_value,
    .gradient = quadratic_gradient,
    .hessian = quadratic_hessian,
};

const sdv_objective_type *const sdv_objective_quadratic = &quadratic_type;

/* Checks lam before allocating, then fills the state that "quadratic" (lam = 1) starts with:
 * the state is lam itself, so it holds the caller's doubles exactly, as parsing their %.17g
 * text would. */
int sdv_objective_alloc_quadratic(sdv_objective **out, size_t dim, const double *lam) {
  if (!out) return SDV_ERROR(SDV_EINVAL, "quadratic: out is NULL");
  *out = NULL;
  if (!lam) return SDV_ERROR(SDV_EINVAL, "quadratic: lam is NULL (expected dim = %zu values)", dim);
  int rc = check_lam(lam, dim);
  if (rc) return rc;
  if ((rc = sdv_objective_alloc_type(out, &quadratic_type, dim, NULL))) return rc;
  memcpy((*out)->state, lam, dim * sizeof *lam);
  return SDV_OK;
}
