/* Natural dithering with s levels in the l2 norm: a compressor sdv does not ship.
 *
 *   u_j = |v_j| / ||v||_2 in [0, 1],  levels L = {0} U {2^-k : k = 0..s-1},  delta = 2^(1-s),
 *   xi_j = the level just above u_j with probability (u_j - lo)/(hi - lo), else the one below,
 *   C(v)_j = ||v|| sign(v_j) xi_j,     C(0) = 0.
 * For u_j >= delta the neighbours are a_j = 2^floor(log2 u_j) and 2 a_j; below delta they are
 * 0 and delta. Source: Horvath, Ho, Horvath, Sahu, Canini, Richtarik, "Natural compression
 * for distributed deep learning" (2019), section on natural dithering.
 *
 * Unbiased: E xi_j = u_j. Coordinates are rounded independently given v, so the error
 * covariance is exactly diagonal (the optional covariance() hook):
 *   Phi_C(v)_jj = ||v||^2 (2 a_j - u_j)(u_j - a_j)   if u_j >= delta,
 *                 ||v||^2 u_j (delta - u_j)           otherwise.
 * omega: (2a - u)(u - a) <= u^2/8 and u (delta - u) <= min(u delta, delta^2/4), and
 * sum_j u_j^2 = 1, sum_j u_j <= sqrt(d), so
 *   E||C(v) - v||^2 / ||v||^2 <= 1/8 + min(delta sqrt(d), d delta^2 / 4)   (declared omega).
 * Phi is not of the linear form a Diag(v^2) - c v v^T, so linear() is NULL and DCSGD's SDE
 * takes sdv's generic sampled route. Leaving covariance() NULL as well would still work:
 * the conformance check would then estimate Phi by sampling only.
 * One uniform is drawn per coordinate whatever v is (apply depends only on v and the draws).
 * Reference values (checked by driver.c): s = 2, v = (3, -4): ||v|| = 5, u = (0.6, 0.8),
 * Phi = Diag(1.0, 1.5); s = 3, v = (1, 2.385, -7.5): Phi = Diag(0.98334037988944,
 * 0.63529729310896, 1.53120459502494); omega(d = 8, s = 3) = 0.125 + 0.125 = 0.25.
 */
#include <math.h>

#include <sdv/errors.h>

#include "mycomponents.h"

#define ND_MAX_LEVELS 64 /* delta = 2^-63: far below anything a double gradient resolves */

typedef struct nd_state {
  double delta; /* smallest nonzero level 2^(1-s) */
  size_t s;
} nd_state;

static size_t nd_size(size_t dim) { return sizeof(nd_state); }

static int nd_init(void *state, size_t dim, sdv_params *params) {
  nd_state *st = state;
  size_t s;
  int rc = sdv_params_get_size(params, "s", 3, &s);
  if (rc) return rc;
  if (s < 1 || s > ND_MAX_LEVELS)
    return SDV_ERROR(SDV_EINVAL, "natural-dithering: s = %zu must be an integer in [1, %d]", s,
                     ND_MAX_LEVELS);
  st->s = s;
  st->delta = ldexp(1.0, 1 - (int)s);
  return SDV_OK;
}

static double nd_omega(const void *state, size_t dim) {
  const nd_state *st = state;
  const double d = (double)dim, delta = st->delta;
  return 0.125 + fmin(delta * sqrt(d), d * delta * delta / 4.0);
}

static double l2norm(size_t dim, const double *v) {
  double s = 0.0;
  for (size_t j = 0; j < dim; j++) s += v[j] * v[j];
  return sqrt(s);
}

/* The two levels around u in [0, 1]: lo <= u <= hi. frexp gives the power of two exactly. */
static void neighbours(const nd_state *st, double u, double *lo, double *hi) {
  if (u < st->delta) {
    *lo = 0.0;
    *hi = st->delta;
    return;
  }
  int e;
  (void)frexp(u, &e); /* u = m 2^e, m in [1/2, 1) */
  *lo = ldexp(1.0, e - 1);
  *hi = u >= 1.0 ? *lo : 2.0 * *lo; /* u = 1 is a level itself (rounding may give 1 + ulp) */
}

static void nd_apply(void *state, size_t dim, const double *v, double *out, sdv_stream *s) {
  const nd_state *st = state;
  const double norm = l2norm(dim, v);
  for (size_t j = 0; j < dim; j++) {
    const double r = sdv_stream_uniform(s);
    if (norm == 0.0 || v[j] == 0.0) {
      out[j] = 0.0;
      continue;
    }
    double lo, hi;
    const double u = fabs(v[j]) / norm;
    neighbours(st, u, &lo, &hi);
    const double level = hi > lo && r < (u - lo) / (hi - lo) ? hi : lo;
    out[j] = copysign(norm * level, v[j]);
  }
}

static int nd_covariance(const void *state, size_t dim, const double *v, double *diag, double *beta,
                         double *uvec) {
  const nd_state *st = state;
  const double norm = l2norm(dim, v);
  for (size_t j = 0; j < dim; j++) {
    uvec[j] = 0.0;
    diag[j] = 0.0;
    if (norm == 0.0) continue;
    double lo, hi;
    const double u = fabs(v[j]) / norm;
    neighbours(st, u, &lo, &hi);
    /* Var of a two-point law on {lo, hi} with mean u: (hi - u)(u - lo). */
    diag[j] = norm * norm * (hi - u) * (u - lo);
  }
  *beta = 0.0;
  return SDV_OK;
}

static const sdv_compressor_type nd_type = {
    .name = "natural-dithering",
    .help =
        "natural dithering, levels 0 and 2^-k (k < s), l2 norm (omega = 1/8 + "
        "min(delta sqrt d, d delta^2/4), delta = 2^(1-s)); natural-dithering:s=S",
    .size = nd_size,
    .init = nd_init,
    .omega = nd_omega,
    .apply = nd_apply,
    .linear = NULL,
    .covariance = nd_covariance,
};

const sdv_compressor_type *const example_compressor_natural_dithering = &nd_type;
