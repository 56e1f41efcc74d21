/* Bernoulli sparsification: keep each coordinate independently with probability p and
 * rescale the kept ones by 1/p,  C(v)_j = (b_j / p) v_j,  b_j ~ Bernoulli(p) i.i.d.
 *
 * Source: the standard "random sparsification" compressor (theory §3 table). Unbiased since
 * E b_j / p = 1; Var C(v)_j = (1/p - 1) v_j^2 and coordinates are independent, so
 *   omega = 1/p - 1,   Phi_C(v) = omega Diag(v_j^2),   linear form (a, c) = (1/p - 1, 0).
 * One uniform is drawn per coordinate whatever v is, so the stream position after a call
 * depends on dim only.
 * Reference value (tests): p = 0.4 gives omega = 1.5 and, for v = (2.385, -0.75),
 * Phi = Diag(8.5323375, 0.84375).
 */
#include <sdv/compressor.h>
#include <sdv/errors.h>

#include <math.h>

typedef struct bernoulli_state {
  double p;
} bernoulli_state;

static size_t bernoulli_size(size_t dim) { return sizeof(bernoulli_state); }

static int bernoulli_init(void *state, size_t dim, sdv_params *params) {
  bernoulli_state *st = state;
  if (!sdv_params_has(params, "p"))
    return SDV_ERROR(SDV_EINVAL, "bernoulli: parameter 'p' is required (0 < p <= 1)");
  int rc = sdv_params_get_double(params, "p", NAN, &st->p);
  if (rc) return rc;
  /* The negated test also rejects NaN. */
  if (!(st->p > 0.0 && st->p <= 1.0))
    return SDV_ERROR(SDV_EINVAL, "bernoulli: p = %g must satisfy 0 < p <= 1", st->p);
  return SDV_OK;
}

static double bernoulli_omega(const void *state, size_t dim) {
  const bernoulli_state *st = state;
  return 1.0 / st->p - 1.0;
}

static void bernoulli_apply(void *state, size_t dim, const double *v, double *out,
                            sdv_stream *s) {
  const bernoulli_state *st = state;
  const double p = st->p, scale = 1.0 / p;
  for (size_t j = 0; j < dim; j++) out[j] = sdv_stream_uniform(s) < p ? scale * v[j] : 0.0;
}

static int bernoulli_linear(const void *state, size_t dim, double *a, double *c) {
  *a = bernoulli_omega(state, dim);
  *c = 0.0;
  return SDV_OK;
}

static const sdv_compressor_type bernoulli_type = {
    .name = "bernoulli",
    .help = "keep each coordinate w.p. p, scale by 1/p (omega = 1/p - 1); bernoulli:p=P",
    .size = bernoulli_size,
    .init = bernoulli_init,
    .omega = bernoulli_omega,
    .apply = bernoulli_apply,
    .linear = bernoulli_linear,
    .covariance = NULL,
};

const sdv_compressor_type *const sdv_compressor_bernoulli = &bernoulli_type;
