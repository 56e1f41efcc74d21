/* Separable quartic: the non-quadratic 1-D test function of the theory's diffusion-sensitive
 * check T1 (f = x^4/4 + x^2/2), here in d dimensions with a quadratic weight per coordinate.
 *
 *   f(x) = sum_j (x_j^4/4 + lam_j x_j^2/2),   d_j f = x_j^3 + lam_j x_j,
 *   Hess f = diag(3 x_j^2 + lam_j),   lam_j >= 0, unique minimizer x* = 0, f* = 0.
 *
 * With lam_j = 0 the minimum is degenerate (Hessian 0 at 0) but still unique.
 * Spec "quartic:lam=LIST" (default lam=1). Reference value (checked in
 * tests/test-objective.c): lam=0.5..2, d = 3, x = (1.5, -2.385, 0.25) gives
 * f = 86628595841/6400000000 = 13.53571810015625.
 */
#include <sdv/errors.h>
#include <sdv/objective.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* The state is lam[dim]. */
static size_t quartic_size(size_t dim) {
  /* An overflowing size is refused (SDV_ELIMIT) instead of wrapping to a small block that
   * init would overrun (tests/fuzz/crashes/params). */
  return dim > SIZE_MAX / sizeof(double) ? SIZE_MAX : dim * sizeof(double);
}

static int quartic_init(void *state, size_t dim, sdv_params *params) {
  double *lam = state;
  for (size_t j = 0; j < dim; j++) lam[j] = 1.0;
  if (sdv_params_has(params, "lam")) {
    const int rc = sdv_params_get_list(params, "lam", dim, NULL, lam);
    if (rc) return rc;
  }
  for (size_t j = 0; j < dim; j++)
    if (!(lam[j] >= 0.0) || !isfinite(lam[j]))
      return SDV_ERROR(SDV_EINVAL, "quartic: lam[%zu] = %g must be >= 0 and finite", j, lam[j]);
  return SDV_OK;
}

static double quartic_value(const void *state, size_t dim, const double *x) {
  const double *lam = state;
  double s = 0.0;
  for (size_t j = 0; j < dim; j++) {
    const double x2 = x[j] * x[j];
    s += x2 * (0.25 * x2 + 0.5 * lam[j]);
  }
  return s;
}

static void quartic_gradient(const void *state, size_t dim, const double *x, double *g) {
  const double *lam = state;
  for (size_t j = 0; j < dim; j++) g[j] = x[j] * (x[j] * x[j] + lam[j]);
}

static void quartic_hessian(const void *state, size_t dim, const double *x, double *h) {
  const double *lam = state;
  for (size_t i = 0; i < dim * dim; i++) h[i] = 0.0;
  for (size_t j = 0; j < dim; j++) h[j * dim + j] = 3.0 * x[j] * x[j] + lam[j];
}

static const sdv_objective_type quartic_type = {
    .name = "quartic",
    .help = "lam=LIST: f = sum_j (x_j^4/4 + lam_j x_j^2/2), lam_j >= 0 (default 1); minimizer 0",
    .kind = SDV_OBJECTIVE_GENERAL,
    .size = quartic_size,
    .init = quartic_init,
    .value = quartic_value,
    .gradient = quartic_gradient,
    .hessian = quartic_hessian,
};

const sdv_objective_type *const sdv_objective_quartic = &quartic_type;
