/* Symmetric alpha-stable noise law, 1 < alpha < 2, unit scale: E exp(i u T) = exp(-|u|^alpha).
 * (alpha = 2 would be N(0, 2) and alpha = 1 the Cauchy law; both are outside this example:
 * sdv ships "gaussian" and "cauchy".) Heavy tails, infinite variance, finite mean.
 *
 * Sampling: Chambers, Mallows & Stuck (JASA 71, 1976), with Phi = pi (U1 - 1/2), W = -log(1-U2):
 *   T = sin(alpha Phi) / cos(Phi)^(1/alpha) * (cos((1 - alpha) Phi) / W)^((1 - alpha)/alpha).
 * This is GSL's gsl_ran_levy(r, 1, alpha) written out with the same operations in the same
 * order, drawing from the sdv stream directly, so sample() needs no gsl_rng (the adaptor
 * sdv_stream_gsl_rng_alloc allocates, and a noise state must be relocatable). driver.c checks
 * that both give bit-identical draws.
 *
 * Distribution function, P(T > y) for y > 0 (Zolotarev; Nolan, "Numerical calculation of
 * stable densities and distribution functions", 1997, Thm 1 with beta = 0):
 *   P(T > y) = (1/pi) int_0^{pi/2} exp(-y^{alpha/(alpha-1)} V(th)) dth,
 *   p(y)     = alpha / (pi (alpha - 1) y) int_0^{pi/2} w exp(-w) dth,  w = y^{alpha/(alpha-1)} V,
 *   V(th)    = (cos th / sin(alpha th))^{alpha/(alpha-1)} cos((alpha - 1) th) / cos th,
 * integrands in [0, 1] without oscillation. Near 0 the series (convergent for alpha > 1)
 *   m(y) = 2F(y) - 1 = (2/(pi alpha)) sum_k (-1)^k Gamma((2k+1)/alpha) y^{2k+1} / (2k+1)!
 * and for large y the asymptotic expansion
 *   P(T > y) ~ (1/pi) sum_{k>=1} (-1)^{k+1} Gamma(k alpha) / k! sin(k pi alpha / 2) y^{-k alpha}.
 *
 * Evaluation (no allocation, no quadrature after init). m(y), 1 - |m(y)| and F(y):
 *   |y| < 0.5:        the series (alternating, decreasing terms: full relative accuracy, so
 *                     m keeps its digits as y -> 0);
 *   0.5 <= |y| <= 50: log P(T > y) by cubic Hermite interpolation in log y on 512 nodes whose
 *                     values and slopes (-y p(y) / P(T > y)) come from GSL adaptive
 *                     quadrature at init (gsl_integration_qag per panel, relative tolerance
 *                     1e-13, panels refined geometrically around the turn of the integrand);
 *   |y| > 50:         the asymptotic series (its neglected terms are below 1e-18 relative
 *                     there, and the exponentially small remainder is far below that).
 * Accuracy, measured against 30-digit quadrature of the same integral (mpmath): relative
 * error of 1 - |m(y)| below 2e-9 for alpha in [1.01, 1.9] (the Hermite step dominates),
 * 2e-8 at alpha = 1.99, where log P(T > y) bends sharply from Gaussian to power law; m to a
 * few ulps for |y| < 0.5. init costs 0.3-0.7 s.
 * Other functions: p(0) = Gamma(1/alpha) / (pi alpha); Var T = infinity; the mean of B draws
 * is B^(1/alpha - 1) T in law (stability), so batch_scale(B) = B^(1/alpha - 1).
 * Reference values (checked by driver.c; 30-digit quadrature): alpha = 1.5:
 *   F(2.385) = 0.92195510808707885, F(1) = 0.75634202439927046, p(0) = 0.28735275145216445.
 */
#include <math.h>
#include <stdbool.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>

#include <sdv/errors.h>

#include "mycomponents.h"

#define AS_NODES 512      /* interpolation nodes in log y */
#define AS_Y0 0.5         /* series below */
#define AS_Y1 50.0        /* asymptotic expansion above */
#define AS_SERIES 96      /* most series terms kept (alpha near 1 needs the most) */
#define AS_ASYM 24        /* most asymptotic terms kept */
#define AS_MAX_POINTS 256 /* panel ends per node */
#define AS_QUAD_REL 1e-13
#define AS_QUAD_ABS 1e-15 /* absolute tolerance of a panel, relative to the sum so far */
#define AS_QUAD_LIMIT 200 /* QAG subintervals per panel */

typedef struct as_state {
  double alpha;
  double p0;           /* density at 0 */
  double t0, h;        /* node k is at log y = t0 + k h */
  double g[AS_NODES];  /* log P(T > y) at the nodes */
  double dg[AS_NODES]; /* its derivative in log y */
  double c[AS_SERIES]; /* series coefficients of m, in y^(2k+1) */
  size_t nc;
  double b[AS_ASYM]; /* asymptotic coefficients, in y^(-k alpha), k = 1.. */
  size_t nb;
} as_state;

/* ---- init: quadrature at the nodes ---- */

typedef struct as_quad {
  double alpha, q; /* q = alpha / (alpha - 1) */
  double c;        /* (2 - alpha) pi / 2 */
  double log_y_q;  /* q log y */
} as_quad;

/* log V at th = pi/2 - e. The integrals run over e = pi/2 - th: the integrands change fastest
 * near th = pi/2, where cos(th) computed from th would keep only |th - pi/2| / 2^-53 digits.
 * In e, with sin(alpha th) = sin(c + alpha e) and cos((alpha - 1) th) = sin(c + (alpha-1) e),
 *   log V = q (log sin e - log sin(c + alpha e)) + log sin(c + (alpha - 1) e) - log sin e,
 * written with logarithms so that y^q V never overflows for alpha near 1. */
static double log_v(const as_quad *p, double e) {
  const double a = p->alpha, se = log(sin(e));
  return p->q * (se - log(sin(p->c + a * e))) + log(sin(p->c + (a - 1.0) * e)) - se;
}

static double tail_integrand(double e, void *params) {
  const as_quad *p = params;
  return exp(-exp(p->log_y_q + log_v(p, e)));
}

static double density_integrand(double e, void *params) {
  const as_quad *p = params;
  const double w = exp(p->log_y_q + log_v(p, e));
  return w < 800.0 ? w * exp(-w) : 0.0; /* w exp(-w) underflows; w = inf would give NaN */
}

/* The e where y^q V = 1 (V increases from 0 to +inf on (0, pi/2)): the integrands turn from
 * 1 to 0 there, so it is handed to qagp as a break point. */
static double turning_point(const as_quad *p) {
  double lo = 0.0, hi = M_PI_2;
  for (int i = 0; i < 200 && lo < hi; i++) {
    const double mid = 0.5 * (lo + hi);
    if (mid == lo || mid == hi) break;
    if (p->log_y_q + log_v(p, mid) < 0.0)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

/* Break points for qagp: e* and e* -+ w 2^k (k = 0, 1, ...) inside (0, pi/2), with w the
 * width of the turn (1 / |d log(y^q V)/de| at e*). The integrands are flat (1 or 0) except
 * within a few w of e*, and w can be 1e-7 of the interval (alpha near 2, where e* is tiny, or
 * alpha near 1, where q is large): without these points the first Gauss-Kronrod rule can see
 * only zeros and report a converged 0. Returns the count (at most max). */
static size_t break_points(const as_quad *p, double e_star, double *pts, size_t max) {
  const double h = 1e-6 * fmin(e_star, M_PI_2 - e_star);
  const double slope = fabs(log_v(p, e_star + h) - log_v(p, e_star - h)) / (2.0 * h);
  const double w = isfinite(slope) && slope > 0.0 ? 1.0 / slope : 1e-3;
  size_t n = 0;
  pts[n++] = 0.0;
  int kmax = 0;
  while (e_star - ldexp(w, kmax) > 0.0) kmax++;
  for (int k = kmax; k-- > 0 && n < max / 2;) pts[n++] = e_star - ldexp(w, k);
  pts[n++] = e_star;
  for (int k = 0; e_star + ldexp(w, k) < M_PI_2 && n < max - 1; k++)
    pts[n++] = e_star + ldexp(w, k);
  pts[n++] = M_PI_2;
  return n;
}

/* Sum of the integrals over the panels [pts[i], pts[i+1]], each by adaptive Gauss-Kronrod
 * (QAG, 61 points) without extrapolation: the integrands are smooth on every panel, and the
 * QAGS-type extrapolation of qagp reported spurious round-off failures on them. A panel may
 * stop at GSL_EROUND when its error estimate is already below AS_QUAD_ABS of the total so far
 * (an integrand that is nearly 0 there cannot be resolved to relative accuracy, nor needs to). */
static int quad(gsl_integration_workspace *ws, double (*f)(double, void *), as_quad *p,
                const double *pts, size_t npts, double *out) {
  gsl_function fn = {.function = f, .params = p};
  double sum = 0.0;
  for (size_t i = 0; i + 1 < npts; i++) {
    double r, err;
    const int status = gsl_integration_qag(&fn, pts[i], pts[i + 1], AS_QUAD_ABS * sum, AS_QUAD_REL,
                                           AS_QUAD_LIMIT, GSL_INTEG_GAUSS61, ws, &r, &err);
    if (status != GSL_SUCCESS && !(status == GSL_EROUND && err <= AS_QUAD_ABS * (sum + r)))
      return SDV_ERROR(SDV_ENUMERIC,
                       "alpha-stable: quadrature failed for alpha = %g on [%g, %g] (%s)", p->alpha,
                       pts[i], pts[i + 1], gsl_strerror(status));
    sum += r;
  }
  *out = sum;
  return SDV_OK;
}

static int build_table(as_state *st) {
  const double a = st->alpha;
  gsl_integration_workspace *ws = gsl_integration_workspace_alloc(AS_QUAD_LIMIT);
  if (!ws) return SDV_ERROR(SDV_ENOMEM, "alpha-stable: out of memory");
  int rc = SDV_OK;
  as_quad p = {.alpha = a, .q = a / (a - 1.0), .c = (2.0 - a) * M_PI_2};
  st->t0 = log(AS_Y0);
  st->h = (log(AS_Y1) - st->t0) / (AS_NODES - 1);
  for (size_t k = 0; k < AS_NODES; k++) {
    const double t = st->t0 + (double)k * st->h, y = exp(t);
    p.log_y_q = p.q * t;
    double pts[AS_MAX_POINTS];
    const size_t npts = break_points(&p, turning_point(&p), pts, AS_MAX_POINTS);
    double it, id;
    if ((rc = quad(ws, tail_integrand, &p, pts, npts, &it))) goto fail;
    if ((rc = quad(ws, density_integrand, &p, pts, npts, &id))) goto fail;
    const double tail = it / M_PI;
    const double dens = a / (M_PI * (a - 1.0) * y) * id;
    if (!(tail > 0.0) || !(dens > 0.0)) {
      rc = SDV_ERROR(SDV_ENUMERIC, "alpha-stable: alpha = %g: P(T > %g) = %g is not positive", a, y,
                     tail);
      goto fail;
    }
    st->g[k] = log(tail);
    st->dg[k] = -y * dens / tail;
  }
fail:
  gsl_integration_workspace_free(ws);
  return rc;
}

static void build_series(as_state *st) {
  const double a = st->alpha;
  /* Keep terms until they cannot matter at y = AS_Y0: |c_k| y^(2k) < 1e-18 |c_0|. */
  st->nc = 0;
  const double c0 = 2.0 / (M_PI * a) * tgamma(1.0 / a);
  for (size_t k = 0; k < AS_SERIES; k++) {
    const double n = 2.0 * (double)k + 1.0;
    const double ck = 2.0 / (M_PI * a) * exp(lgamma(n / a) - lgamma(n + 1.0));
    st->c[k] = (k % 2) ? -ck : ck;
    st->nc = k + 1;
    if (ck * pow(AS_Y0, n - 1.0) < 1e-18 * c0) break;
  }
  st->nb = 0;
  for (size_t k = 1; k <= AS_ASYM; k++) {
    const double kd = (double)k;
    const double env = exp(lgamma(kd * a) - lgamma(kd + 1.0)) / M_PI;
    const double bk = env * sin(kd * M_PI * a / 2.0);
    st->b[k - 1] = (k % 2) ? bk : -bk;
    st->nb = k;
    /* The stop test uses the envelope: sin(k pi alpha / 2) can vanish for one k only. */
    if (env * pow(AS_Y1, -(kd - 1.0) * a) < 1e-18 * st->b[0]) break;
  }
}

static int as_init(void *state, sdv_params *params) {
  as_state *st = state;
  if (!sdv_params_has(params, "alpha"))
    return SDV_ERROR(SDV_EINVAL, "alpha-stable: parameter alpha is required (1 < alpha < 2)");
  double a;
  int rc = sdv_params_get_double(params, "alpha", NAN, &a);
  if (rc) return rc;
  if (!(a > 1.0 && a < 2.0))
    return SDV_ERROR(SDV_EINVAL, "alpha-stable: alpha = %g must be in (1, 2)", a);
  st->alpha = a;
  st->p0 = tgamma(1.0 / a) / (M_PI * a);
  build_series(st);
  return build_table(st);
}

/* ---- evaluation ---- */

/* |m(y)| for 0 <= y < AS_Y0 by the series, Horner in y^2. */
static double series_m(const as_state *st, double y) {
  const double y2 = y * y;
  double s = 0.0;
  for (size_t k = st->nc; k-- > 0;) s = s * y2 + st->c[k];
  return s * y;
}

/* P(T > y) for y >= AS_Y0. */
static double upper_tail(const as_state *st, double y) {
  if (y > AS_Y1) {
    const double r = pow(y, -st->alpha);
    double s = 0.0;
    for (size_t k = st->nb; k-- > 0;) s = s * r + st->b[k];
    return s * r;
  }
  const double x = (log(y) - st->t0) / st->h;
  size_t i = x <= 0.0 ? 0 : (size_t)x;
  if (i > AS_NODES - 2) i = AS_NODES - 2;
  const double s = x - (double)i, s2 = s * s, s3 = s2 * s;
  const double g = (2 * s3 - 3 * s2 + 1) * st->g[i] + (s3 - 2 * s2 + s) * st->h * st->dg[i] +
                   (-2 * s3 + 3 * s2) * st->g[i + 1] + (s3 - s2) * st->h * st->dg[i + 1];
  return exp(g);
}

/* |m| and 1 - |m| for ay = |y|, each computed on the side where it is accurate. */
static void pair(const as_state *st, double ay, double *mabs, double *tail) {
  if (ay < AS_Y0) {
    *mabs = series_m(st, ay);
    *tail = 1.0 - *mabs;
  } else {
    *tail = 2.0 * upper_tail(st, ay);
    *mabs = 1.0 - *tail;
  }
}

static double as_sample(const void *state, sdv_stream *s) {
  const as_state *st = state;
  const double a = st->alpha;
  /* gsl_ran_levy: u from uniform_pos, then an Exp(1) draw -log1p(-U). */
  const double u = M_PI * (sdv_stream_uniform(s) - 0.5);
  const double v = -log1p(-sdv_stream_uniform(s));
  const double t = sin(a * u) / pow(cos(u), 1 / a);
  const double w = pow(cos((1 - a) * u) / v, (1 - a) / a);
  return t * w;
}

static double as_cdf(const void *state, double y) {
  if (isnan(y)) return NAN;
  double mabs, tail;
  pair(state, fabs(y), &mabs, &tail);
  /* F(y) = 1/2 + m/2 for y >= 0; the lower tail (1 - |m|)/2 keeps its digits. */
  return y >= 0.0 ? 0.5 + 0.5 * mabs : 0.5 * tail;
}

static double as_sign_mean(const void *state, double y) {
  if (isnan(y)) return NAN;
  double mabs, tail;
  pair(state, fabs(y), &mabs, &tail);
  return copysign(mabs, y);
}

static double as_sign_tail(const void *state, double y) {
  if (isnan(y)) return NAN;
  double mabs, tail;
  pair(state, fabs(y), &mabs, &tail);
  return tail;
}

static double as_density0(const void *state) { return ((const as_state *)state)->p0; }

static double as_variance(const void *state) { return INFINITY; }

static double as_batch_scale(const void *state, size_t batch) {
  const as_state *st = state;
  return pow((double)batch, 1.0 / st->alpha - 1.0);
}

static const sdv_noise_type as_type = {
    .name = "alpha-stable",
    .help =
        "symmetric alpha-stable, E exp(iuT) = exp(-|u|^alpha), 1 < alpha < 2 (infinite "
        "variance); batch B scales it by B^(1/alpha - 1); alpha-stable:alpha=A",
    .size = sizeof(as_state),
    .init = as_init,
    .sample = as_sample,
    .sample_n = NULL,
    .cdf = as_cdf,
    .sign_mean = as_sign_mean,
    .sign_tail = as_sign_tail,
    .density0 = as_density0,
    .variance = as_variance,
    .batch_scale = as_batch_scale,
};

const sdv_noise_type *const example_noise_alpha_stable = &as_type;
