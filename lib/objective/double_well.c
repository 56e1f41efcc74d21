/* Separable double well: a non-convex test function with 2^d global minima.
 *
 *   f(x) = sum_j (x_j^2 - a^2)^2 / 4,   d_j f = x_j (x_j^2 - a^2),
 *   Hess f = diag(3 x_j^2 - a^2),   a > 0.
 *
 * Minimizers: every x with x_j = +a or -a (f* = 0, curvature 2 a^2 there); x_j = 0 is a local
 * maximum along coordinate j (curvature -a^2), so f is not convex.
 * Spec "double-well:a=A" (default a = 1). Reference value (checked in
 * tests/test-objective.c): a = 1.3, d = 3, x = (1.5, -2.385, 0.25) gives
 * f = 4.73703985015625 and grad f = (0.84, -9.535766625, -0.406875).
 */
#include <sdv/errors.h>
#include <sdv/objective.h>

#include <stddef.h>

typedef struct double_well_state {
  double a2; /* a^2 */
} double_well_state;

static size_t double_well_size(size_t dim) {
  (void)dim;
  return sizeof(double_well_state);
}

static int double_well_init(void *state, size_t dim, sdv_params *params) {
  (void)dim;
  double_well_state *s = state;
  double a;
  const int rc = sdv_params_get_double(params, "a", 1.0, &a);
  if (rc) return rc;
  if (!(a > 0.0)) return SDV_ERROR(SDV_EINVAL, "double-well: a = %g must be > 0", a);
  s->a2 = a * a;
  return SDV_OK;
}

static double double_well_value(const void *state, size_t dim, const double *x) {
  const double_well_state *s = state;
  double sum = 0.0;
  for (size_t j = 0; j < dim; j++) {
    const double e = x[j] * x[j] - s->a2;
    sum += e * e;
  }
  return 0.25 * sum;
}

static void double_well_gradient(const void *state, size_t dim, const double *x, double *g) {
  const double_well_state *s = state;
  for (size_t j = 0; j < dim; j++) g[j] = x[j] * (x[j] * x[j] - s->a2);
}

static void double_well_hessian(const void *state, size_t dim, const double *x, double *h) {
  const double_well_state *s = state;
  for (size_t i = 0; i < dim * dim; i++) h[i] = 0.0;
  for (size_t j = 0; j < dim; j++) h[j * dim + j] = 3.0 * x[j] * x[j] - s->a2;
}

static const sdv_objective_type double_well_type = {
    .name = "double-well",
    .help = "a=A: f = sum_j (x_j^2 - a^2)^2/4, a > 0 (default 1); minima at x_j = +-a",
    .kind = SDV_OBJECTIVE_GENERAL,
    .size = double_well_size,
    .init = double_well_init,
    .value = double_well_value,
    .gradient = double_well_gradient,
    .hessian = double_well_hessian,
};

const sdv_objective_type *const sdv_objective_double_well = &double_well_type;
