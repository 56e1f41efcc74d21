/* Natural compression: round |v_j| randomly to one of the two neighbouring powers of two,
 *   a_j = 2^floor(log2 |v_j|),
 *   C(v)_j = sign(v_j) 2 a_j  with probability (|v_j| - a_j)/a_j,  else sign(v_j) a_j,
 * and C(v)_j = 0 for v_j = 0.
 *
 * Source: Horvath et al., "Natural compression for distributed deep learning", 2019; theory
 * §3 (table and "Natural compression"). a_j comes exactly from frexp (|v| = m 2^e with
 * m in [1/2, 1), so a = 2^(e-1)), no log2 rounding. Coordinates are independent:
 *   Phi_C(v) = Diag((2 a_j - |v_j|)(|v_j| - a_j))  (the covariance() hook),
 * which is 0 when |v_j| is a power of two; divided by v_j^2 it peaks at 1/8 (|v| = 4a/3),
 * so omega = 1/8. Not linear in v v^T (a_j depends on v_j).
 * One uniform is drawn per coordinate whatever v is. |v_j| >= 2^1023 would round up to
 * infinity; such inputs are outside the domain.
 * Reference values (tests): v = 3 -> a = 2, Phi = 1; v = 2.385 -> Phi = 1.615 * 0.385 =
 * 0.621775; v = 4 -> Phi = 0 and C(v) = 4 exactly.
 */
#include <sdv/compressor.h>
#include <sdv/errors.h>

#include <math.h>

static size_t natural_size(size_t dim) { return 0; }

static int natural_init(void *state, size_t dim, sdv_params *params) { return SDV_OK; }

static double natural_omega(const void *state, size_t dim) { return 0.125; }

/* a = 2^floor(log2 x) for finite x > 0, exactly. */
static double lower_power(double x) {
  int e;
  (void)frexp(x, &e);
  return ldexp(1.0, e - 1);
}

static void natural_apply(void *state, size_t dim, const double *v, double *out,
                          sdv_stream *s) {
  for (size_t j = 0; j < dim; j++) {
    const double u = sdv_stream_uniform(s);
    const double x = fabs(v[j]);
    if (x == 0.0) {
      out[j] = 0.0;
      continue;
    }
    const double a = lower_power(x);
    /* (x - a)/a is exact: x - a is exact (Sterbenz) and a is a power of two. */
    out[j] = copysign(u < (x - a) / a ? 2.0 * a : a, v[j]);
  }
}

static int natural_covariance(const void *state, size_t dim, const double *v, double *diag,
                              double *beta, double *u) {
  for (size_t j = 0; j < dim; j++) {
    const double x = fabs(v[j]);
    const double a = x > 0.0 ? lower_power(x) : 0.0;
    diag[j] = (2.0 * a - x) * (x - a);
    u[j] = 0.0;
  }
  *beta = 0.0;
  return SDV_OK;
}

static const sdv_compressor_type natural_type = {
    .name = "natural",
    .help = "random rounding to a neighbouring power of two (omega = 1/8)",
    .size = natural_size,
    .init = natural_init,
    .omega = natural_omega,
    .apply = natural_apply,
    .linear = NULL,
    .covariance = natural_covariance,
};

const sdv_compressor_type *const sdv_compressor_natural = &natural_type;
