/* QSGD / random dithering with s levels (l2 norm):
 *   r_j = s |v_j| / ||v||,  l_j = floor(r_j),  q_j = r_j - l_j,
 *   C(v)_j = ||v|| sign(v_j) (l_j + b_j) / s,   b_j ~ Bernoulli(q_j) independent,
 * and C(0) = 0.
 *
 * Source: Alistarh et al., "QSGD", NeurIPS 2017; theory §3 (table and "QSGD"). Each
 * coordinate is rounded independently and E b_j = q_j, so C is unbiased and Phi is exactly
 * diagonal:  Phi_C(v) = (||v||^2 / s^2) Diag(q_j (1 - q_j))  (the covariance() hook).
 * Phi is not linear in v v^T (it depends on v through ||v|| and the fractional parts q_j).
 * Declared omega = min(d/s^2, sqrt(d)/s), the standard valid bound.
 * One uniform is drawn per coordinate whatever v is.
 * Reference values (tests): s = 2, v = (3, -4): ||v|| = 5, r = (1.2, 1.6), q = (0.2, 0.6),
 * Phi = Diag(1.0, 1.5); omega(d = 2, s = 2) = 0.5.
 */
#include <sdv/compressor.h>
#include <sdv/errors.h>

#include <math.h>
#include <string.h>

typedef struct qsgd_state {
  double s; /* number of levels, an integer >= 1 */
} qsgd_state;

static size_t qsgd_size(size_t dim) { return sizeof(qsgd_state); }

static int qsgd_init(void *state, size_t dim, sdv_params *params) {
  qsgd_state *st = state;
  if (!sdv_params_has(params, "s"))
    return SDV_ERROR(SDV_EINVAL, "qsgd: parameter 's' is required (an integer >= 1)");
  size_t s;
  int rc = sdv_params_get_size(params, "s", 0, &s);
  if (rc) return rc;
  if (s < 1) return SDV_ERROR(SDV_EINVAL, "qsgd: s = %zu must be an integer >= 1", s);
  st->s = (double)s;
  return SDV_OK;
}

static double qsgd_omega(const void *state, size_t dim) {
  const qsgd_state *st = state;
  const double d = (double)dim, s = st->s;
  return fmin(d / (s * s), sqrt(d) / s);
}

static double norm2(const double *v, size_t dim) {
  double n2 = 0.0;
  for (size_t j = 0; j < dim; j++) n2 += v[j] * v[j];
  return sqrt(n2);
}

static void qsgd_apply(void *state, size_t dim, const double *v, double *out, sdv_stream *s) {
  const qsgd_state *st = state;
  const double levels = st->s, norm = norm2(v, dim);
  if (norm == 0.0) {
    memset(out, 0, dim * sizeof *out);
    return;
  }
  const double unit = norm / levels;
  for (size_t j = 0; j < dim; j++) {
    const double r = levels * fabs(v[j]) / norm;
    const double l = floor(r);
    const double b = sdv_stream_uniform(s) < r - l ? 1.0 : 0.0;
    out[j] = copysign(unit * (l + b), v[j]);
  }
}

static int qsgd_covariance(const void *state, size_t dim, const double *v, double *diag,
                           double *beta, double *u) {
  const qsgd_state *st = state;
  const double levels = st->s, norm = norm2(v, dim);
  const double unit2 = (norm / levels) * (norm / levels);
  for (size_t j = 0; j < dim; j++) {
    const double r = norm > 0.0 ? levels * fabs(v[j]) / norm : 0.0;
    const double q = r - floor(r);
    diag[j] = unit2 * q * (1.0 - q);
    u[j] = 0.0;
  }
  *beta = 0.0;
  return SDV_OK;
}

static const sdv_compressor_type qsgd_type = {
    .name = "qsgd",
    .help = "random dithering with s levels, l2 norm (omega = min(d/s^2, sqrt(d)/s)); qsgd:s=S",
    .size = qsgd_size,
    .init = qsgd_init,
    .omega = qsgd_omega,
    .apply = qsgd_apply,
    .linear = NULL,
    .covariance = qsgd_covariance,
};

const sdv_compressor_type *const sdv_compressor_qsgd = &qsgd_type;
