/* Student-t noise law, T ~ t_nu for any real nu > 0, and its nu = 1 case "cauchy".
 *
 * Density p(t) = (1 + t^2/nu)^(-(nu+1)/2) / (sqrt(nu) B(nu/2, 1/2)), hence
 *   ell = 2 p(0) = 2 Gamma((nu+1)/2) / (sqrt(nu pi) Gamma(nu/2)),
 *   Var T = nu/(nu-2) for nu > 2 and infinite otherwise.
 * With q = |y|/sqrt(nu), x = q^2/(1+q^2) and x' = 1/(1+q^2) = 1 - x,
 *   |m(y)| = P(|T| <= |y|) = I_x(1/2, nu/2),    1 - |m(y)| = I_x'(nu/2, 1/2)
 * (I the regularized incomplete beta; Abramowitz & Stegun 26.7.1), with the closed forms
 *   nu = 1:  m = (2/pi) atan y,                      1 - |m| = (2/pi) atan(1/|y|)
 *   nu = 2:  m = y/r, r = sqrt(2 + y^2),             1 - |m| = 2/(r (r + |y|))
 *   nu = 3:  m = (2/pi)(atan(y/sqrt3) + sqrt3 y/(3 + y^2)),
 *            1 - |m| = (2/pi)(phi - sin(phi) cos(phi)), phi = atan(sqrt3/|y|)
 *   nu = 4:  m = u (3 - u^2)/2, u = y/sqrt(4 + y^2), 1 - |m| = e^2 (3 - e)/2, e = 1 - |u|
 * and, for other integer nu, the theta series of A&S 26.7.3 (odd) and 26.7.4 (even).
 * Sampling: Bailey's polar method (Math. Comp. 62, 1994), T = U1 sqrt(nu (W^(-2/nu) - 1)/W);
 * for nu = 1 the inverse CDF, T = +-cot(pi V) with V uniform on (0, 1/2).
 * Only B = 1 has the law of a scaled T, except for the Cauchy (stable: the mean of B draws is
 * again standard Cauchy), so batch_scale is 1 for nu = 1 and NAN otherwise.
 * Reference values (tests/test-noise.c; 40-digit incomplete beta from mpmath):
 *   nu = 3:   m(2.385) = 0.90282159508280899,  1 - m(40) = 3.4380680789158529e-5
 *   nu = 2.5: 1 - m(1e6) = 1.4386794381628477e-15,  ell = 0.72361744805913006
 *
 * Accuracy: |m| and 1 - |m| are each computed directly (never as 1 minus the other) on the
 * side where they are the smaller one, so both keep relative accuracy: m as y -> 0, the
 * tail as |y| -> infinity, and F(y) = (1 - |m|)/2 in the lower tail. Measured against 40
 * digits over |y| in [1e-300, 1e300]: <= 1e-15 for the closed forms, <= 7e-15 for other
 * nu <= 65; for large nu the prefactor (1 + rho^2)^-(nu/2) costs about nu/2 ulps (3e-14 at
 * nu = 300, 5e-13 at nu = 1e4). The incomplete beta is our own continued fraction with
 * 1/B precomputed: gsl_sf_beta_inc recomputes ln B on every call (2-3x slower here) and,
 * above its switch point, forms 1 - x itself, which loses the small side's digits.
 */
#include <sdv/errors.h>
#include <sdv/noise.h>

#include "core/clones.h"
#include "noise/student_t.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_sf_gamma.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Integer nu up to this use the theta series for m: it is a sum of nu/2 positive terms,
 * cheaper than the incomplete beta's continued fraction at these sizes. */
#define T_SERIES_MAX 64
/* Beyond 2^500 every form below is at its limit (m = +-1 to the last bit) while y^2 would
 * overflow; the tails that are not yet zero there are handled without squaring y. */
#define T_BIG 0x1p500

enum t_form { T_BETA = 0, T_NU1 = 1, T_NU2 = 2, T_NU3 = 3, T_NU4 = 4, T_SERIES = 5 };

typedef struct t_state {
  double nu;
  double sqrt_nu, log_sqrt_nu;
  double half_nu;    /* a = nu/2 */
  double inv_beta;   /* 1 / B(nu/2, 1/2), the normaliser of both incomplete betas */
  double bailey_exp; /* -2/nu */
  double split;      /* x below which I_x(1/2, a) is computed directly: (1/2+1)/(1/2+a+2) */
  enum t_form form;
} t_state;

static const double SQRT3 = 1.7320508075688772935;

static int t_setup(t_state *st, double nu) {
  if (!(nu > 0) || !isfinite(nu))
    return SDV_ERROR(SDV_EINVAL, "student-t: nu = %g must be a finite number > 0", nu);
  /* Beyond 1e8 the incomplete-beta route loses accuracy (measured: relative error 1e-8 at
   * nu = 1e9, 1e-2 at 1e14) while t_nu is Gaussian to within 1e-7: refuse, naming the law. */
  if (nu > 1e8)
    return SDV_ERROR(SDV_EINVAL,
                     "student-t: nu = %g is above 1e8, where the law is Gaussian to 1e-7 and "
                     "sdv's t functions are not accurate: use --noise gaussian",
                     nu);
  gsl_sf_result lb;
  const int status = gsl_sf_lnbeta_e(0.5 * nu, 0.5, &lb);
  if (status != GSL_SUCCESS)
    return SDV_ERROR(SDV_EDOM, "student-t: ln B(nu/2, 1/2) failed for nu = %g (%s)", nu,
                     gsl_strerror(status));
  st->nu = nu;
  st->sqrt_nu = sqrt(nu);
  st->log_sqrt_nu = 0.5 * log(nu);
  st->half_nu = 0.5 * nu;
  st->inv_beta = exp(-lb.val);
  st->bailey_exp = -2.0 / nu;
  st->split = 1.5 / (st->half_nu + 2.5);
  if (nu == floor(nu) && nu <= 4)
    st->form = (enum t_form)nu;
  else if (nu == floor(nu) && nu <= T_SERIES_MAX)
    st->form = T_SERIES;
  else
    st->form = T_BETA;
  if (st->form != T_BETA) {
    /* 1/B(nu/2, 1/2) = Gamma((nu+1)/2) / (Gamma(nu/2) sqrt(pi)) by the recurrence
     * Gamma(z+1) = z Gamma(z) from 1/pi (nu = 1) or 1/2 (nu = 2): a few ulps, where
     * exp(-ln B) costs up to 5. */
    const int n = (int)nu;
    double v = n % 2 ? M_1_PI : 0.5;
    for (int k = 2 - n % 2; k <= n - 2; k += 2) v *= (k + 1.0) / k;
    st->inv_beta = v;
  }
  return SDV_OK;
}

static int student_t_init(void *state, sdv_params *params) {
  if (!sdv_params_has(params, "nu"))
    return SDV_ERROR(SDV_EINVAL, "student-t: parameter nu is required (student-t:nu=V, V > 0)");
  double nu;
  int rc = sdv_params_get_double(params, "nu", NAN, &nu);
  if (rc) return rc;
  return t_setup(state, nu);
}

static int cauchy_init(void *state, sdv_params *params) {
  (void)params;
  return t_setup(state, 1.0);
}

/* ---- sampling ---- */

/* +-cot(pi V): V takes 52 bits and the sign the top bit of one word, so V is exactly
 * (k + 1/2) 2^-53 in (0, 1/2) and the far tails are as fine-grained as tan allows. */
static inline double cauchy_draw(sdv_stream *s) {
  const uint64_t w = sdv_stream_u64(s);
  const double v = ((double)((w >> 11) & ((UINT64_C(1) << 52) - 1)) + 0.5) * 0x1p-53;
  const double t = 1.0 / tan(M_PI * v);
  return (w >> 63) ? -t : t;
}

/* expm1(-(2/nu) log W) instead of pow(W, -2/nu) - 1 keeps small draws (W near 1) exact. */
static inline double bailey_draw(const t_state *st, sdv_stream *s) {
  for (;;) {
    const double u1 = 2.0 * sdv_stream_uniform(s) - 1.0;
    const double u2 = 2.0 * sdv_stream_uniform(s) - 1.0;
    const double w = u1 * u1 + u2 * u2;
    if (w < 1.0 && w > 0.0) return u1 * sqrt(st->nu * expm1(st->bailey_exp * log(w)) / w);
  }
}

static double t_sample(const void *state, sdv_stream *s) {
  const t_state *st = state;
  return st->form == T_NU1 ? cauchy_draw(s) : bailey_draw(st, s);
}

static void t_sample_n(const void *state, sdv_stream *s, double *out, size_t n) {
  const t_state *st = state;
  if (st->form == T_NU1)
    for (size_t i = 0; i < n; i++) out[i] = cauchy_draw(s);
  else
    for (size_t i = 0; i < n; i++) out[i] = bailey_draw(st, s);
}

/* Coupled draws (sdv/noise.h, docs/math/coupling.md). Cauchy: |T| = cot(pi V) with
 * P(|T| > |t|) = 2V, so Z = +-Phi^-1(1 - V) with T's sign is the exact quantile coupling.
 * Bailey: the accepted point (u1, u2) of the unit disc gives T = u1 sqrt(nu (w^(-2/nu) - 1)/w)
 * and, by Marsaglia's polar method, Z = u1 sqrt(-2 log(w) / w) ~ N(0, 1) exactly; both are
 * u1/sqrt(w) times a decreasing function of w, so they share the sign and move together.
 * The values out[i] and the stream use are those of t_sample_n. */
static void t_sample_coupled(const void *state, sdv_stream *s, double *out, double *normal,
                             size_t n) {
  const t_state *st = state;
  for (size_t i = 0; i < n; i++) {
    if (st->form == T_NU1) {
      const uint64_t w = sdv_stream_u64(s);
      const double v = ((double)((w >> 11) & ((UINT64_C(1) << 52) - 1)) + 0.5) * 0x1p-53;
      const double t = 1.0 / tan(M_PI * v), z = gsl_cdf_ugaussian_Qinv(v);
      out[i] = (w >> 63) ? -t : t;
      normal[i] = (w >> 63) ? -z : z;
      continue;
    }
    for (;;) {
      const double u1 = 2.0 * sdv_stream_uniform(s) - 1.0;
      const double u2 = 2.0 * sdv_stream_uniform(s) - 1.0;
      const double w = u1 * u1 + u2 * u2;
      if (w < 1.0 && w > 0.0) {
        const double lw = log(w);
        out[i] = u1 * sqrt(st->nu * expm1(st->bailey_exp * lw) / w);
        normal[i] = u1 * sqrt(-2.0 * lw / w);
        break;
      }
    }
  }
}

/* ---- incomplete beta ---- */

/* The continued fraction of I_z(p, r) (A&S 26.5.8) by the modified Lentz method:
 *   I_z(p, r) = z^p (1-z)^r / (p B(p, r)) * 1/(1 + d1/(1 + d2/(1 + ...))),
 *   d_{2k+1} = -(p+k)(p+r+k) z / ((p+2k)(p+2k+1)),  d_{2k} = k(r-k) z / ((p+2k-1)(p+2k)).
 * It converges quickly for z < (p+1)/(p+r+2), the only z it is given (about sqrt(p + r)
 * iterations; one for tiny z). Returns NAN if it has not converged after T_CF_MAX. */
#define T_CF_MAX 2000
static double beta_cf(double p, double r, double z) {
  const double tiny = 0x1p-1000;
  double d = 1.0 - (p + r) * z / (p + 1.0);
  if (fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double c = 1.0, h = d;
  for (int k = 1; k <= T_CF_MAX; k++) {
    for (int odd = 0; odd < 2; odd++) {
      const double aa = odd ? -(p + k) * (p + r + k) * z / ((p + 2 * k) * (p + 2 * k + 1))
                            : k * (r - k) * z / ((p + 2 * k - 1) * (p + 2 * k));
      d = 1.0 + aa * d;
      if (fabs(d) < tiny) d = tiny;
      c = 1.0 + aa / c;
      if (fabs(c) < tiny) c = tiny;
      d = 1.0 / d;
      h *= d * c;
      if (odd && fabs(d * c - 1.0) < 0x1p-53) return h;
    }
  }
  return NAN;
}

/* I_z(p, r) for z = rho^2/(1 + rho^2) below the switch point (p+1)/(p+r+2); upper says
 * whether rho is sqrt(nu)/|y| (tail side) or |y|/sqrt(nu). The prefactor z^p (1-z)^r is
 * rho^(2p) (1 + rho^2)^-(p+r) for rho <= 1, formed from rho rather than from log z (an exp
 * of a logarithm of size L loses L ulps: 690 near y = 1e-300), and z^p (1 + rho^2)^-r for
 * rho > 1, where rho^(2p) could overflow. Logarithms of y come in only when rho is too
 * small for pow. Should the fraction not converge (nu in the millions), GSL takes over. */
static double beta_lower(const t_state *st, double p, double r, double rho, double ay, bool upper) {
  const double rho2 = rho * rho;
  const double z = rho2 / (1.0 + rho2);
  double pre;
  if (rho > 1.0)
    pre = pow(z, p) * exp(-r * log1p(rho2));
  else {
    double zp;
    if (p == 0.5)
      zp = rho;
    else if (rho > 0x1p-900)
      zp = pow(rho, 2.0 * p);
    else
      zp = exp(2.0 * p * (upper ? st->log_sqrt_nu - log(ay) : log(ay) - st->log_sqrt_nu));
    pre = zp * exp(-(p + r) * log1p(rho2));
  }
  if (pre == 0.0) return 0.0;
  const double cf = beta_cf(p, r, z);
  if (!isnan(cf)) return pre * st->inv_beta / p * cf;
  gsl_sf_result res;
  const int status = gsl_sf_beta_inc_e(p, r, z, &res);
  if (status == GSL_EUNDRFLW) return 0.0;
  return status == GSL_SUCCESS ? res.val : NAN;
}

/* |m| = I_x(1/2, a) and tail = 1 - |m| for ay = |y| finite: the one that is small is
 * computed directly, the other as its complement. */
static void beta_pair(const t_state *st, double ay, double *mabs, double *tail) {
  const double a = st->half_nu;
  const double q = ay / st->sqrt_nu;
  if (ay == 0) {
    *mabs = 0.0;
    *tail = 1.0;
  } else if (q * q < st->split / (1.0 - st->split)) { /* x = q^2/(1+q^2) < split */
    *mabs = beta_lower(st, 0.5, a, q, ay, false);
    *tail = 1.0 - *mabs;
  } else {
    *tail = beta_lower(st, a, 0.5, st->sqrt_nu / ay, ay, true);
    *mabs = 1.0 - *tail;
  }
  /* Both are probabilities: keep round-off from leaving [0, 1]. */
  *mabs = fmin(1.0, fmax(0.0, *mabs));
  *tail = fmin(1.0, fmax(0.0, *tail));
}

/* ---- closed forms and the theta series ---- */

/* sum_{k} of the bracketed series in A&S 26.7.3/4, then A = P(|T| <= ay) for integer nu. */
static double theta_series(const t_state *st, double ay) {
  if (ay > T_BIG) return 1.0;
  const double r = sqrt(st->nu + ay * ay);
  const double c = st->sqrt_nu / r, s = ay / r, c2 = c * c;
  const int nu = (int)st->nu;
  double term, sum;
  if (nu % 2) {
    term = sum = c;
    for (int k = 1; 2 * k + 1 <= nu - 2; k++) {
      term *= c2 * (2.0 * k) / (2.0 * k + 1.0);
      sum += term;
    }
    return M_2_PI * (atan2(ay, st->sqrt_nu) + s * sum);
  }
  term = sum = 1.0;
  for (int k = 1; 2 * k <= nu - 2; k++) {
    term *= c2 * (2.0 * k - 1.0) / (2.0 * k);
    sum += term;
  }
  return s * sum;
}

/* (2/pi)(phi - sin(phi) cos(phi)) = (2/pi) sum_{k>=1} (-1)^(k+1) 4^k phi^(2k+1)/(2k+1)!.
 * The series replaces the cancelling difference for phi < 1/2 (loss at 1/2: 3 bits). */
static double nu3_tail(double ay) {
  const double phi = atan2(SQRT3, ay);
  if (phi >= 0.5) return M_2_PI * (phi - 0.5 * sin(2.0 * phi));
  const double f = 4.0 * phi * phi;
  double term = phi * f / 6.0, sum = term; /* k = 1: 4 phi^3 / 3! */
  for (int k = 2; k <= 12; k++) {
    term *= -f / ((2.0 * k) * (2.0 * k + 1.0));
    sum += term;
  }
  return M_2_PI * sum;
}

/* ---- nu = 3 without libm: the kernel of the DSignSGD shortcuts ----
 *
 * With s = |y|/sqrt3 and r = min(s, 1/s) in [0, 1], t = r^2, both sign functions are
 * polynomials in atan(r) and r/(1 + t) = sin cos of that angle (see nu3_tail):
 *   s <= 1:  |m| = (2/pi) A(r),   A = atan r + r/(1 + t),
 *   s >  1:  1 - |m| = (2/pi) G(r),  G = atan r - r/(1 + t) = (2/3) r^3 - (4/5) r^5 + ...
 * G cancels to r^3 as r -> 0. Writing atan r = r + r^3 P(t), P(t) = (atan sqrt t - sqrt t)
 * / t^(3/2) (P(0) = -1/3, P(1) = pi/4 - 1), it is G = r^3 (P(t) + 1/(1 + t)), a sum of two
 * terms of which P + 1/(1+t) >= 0.285 keeps every digit: no series, no cancellation.
 * P is a degree-20 polynomial in t (21 coefficients, T3_P[k] multiplies t^k), our own fit:
 * the Chebyshev interpolant of P on [0, 1] in 60-digit mpmath (docs/math/noise.md has the
 * script), rounded to double. Its error is 5e-18; evaluated in double by Horner the maximum
 * absolute error is 7.4e-17 (20001 points; the rounding of the last steps near -1/3). The
 * coefficients stay below 1/3 in magnitude (the singularity nearest to [0, 1] is at t = -1),
 * so Horner loses nothing to cancellation.
 * The other side of each pair: where |m| <= 1/2 the tail is 1 - |m| (no loss), and on the
 * near side with |m| > 1/2 (s up to 1) the tail is (2/pi)((pi/4 - atan r) + (pi/4 - r/(1+t)))
 * with pi/4 in two parts: both brackets are >= 0 there, so the sum does not cancel. On the far
 * side |m| = 1 - tail with tail <= 0.18.
 * Accuracy, measured on 1e7 points log-uniform in |y| in [1e-30, 1e30] and on [0.1, 10]
 * against long double atanl (with the series of G below r = 1/4, where atanl - r/(1+t) would
 * cancel): relative error of m <= 5.8e-16 and of 1 - |m| <= 1.1e-15 (5 and 10 units of
 * 2^-53; the worst is the far side near s = 2, where 1 - |m| ~ r^3 triples the rounding of
 * r). Where 1 - |m| < DBL_MIN (|y| > 1e102) it is subnormal and only absolutely accurate.
 * Branch-free (both sides are computed, selects pick one) with one division for r and one
 * for 1/(1 + t): the batch loop below vectorises. IEEE + - * / only, no contraction (ISO C
 * mode, no FMA clone), so every clone and the scalar call give the same bits. */
static const double T3_P[21] = {
    -0.3333333333333333,     0.19999999999999554,  -0.14285714285648404,   0.11111111107234799,
    -0.09090908969557403,    0.07692305354678655,  -0.06666636435777692,   0.05882074956371294,
    -0.05261265735709454,    0.04752086773576656,  -0.04308119655330471,   0.03872640214042632,
    -0.033750132001619734,   0.027567942297344678, -0.020238706986393514,  0.012756172907694298,
    -0.006575683344151699,   0.002622977891906089, -0.0007518472526973822, 0.0001368724853148122,
    -1.1832505417555692e-05,
};
static const double T3_PIO4 = 0x1.921fb54442d18p-1;     /* pi/4 rounded */
static const double T3_PIO4_LO = 0x1.1a62633145c07p-55; /* pi/4 - T3_PIO4 */

/* c ? x : y from the bits of both. With c ? x : y the compiler moves the computation of the
 * unused value into a branch, and under IEEE exception semantics (GCC's default
 * -ftrapping-math) it may not turn a branch with floating-point operations back into a
 * select, so the loop would not vectorise; here both values are used, and nothing moves. */
static inline double t_select(bool c, double x, double y) {
  uint64_t bx, by;
  memcpy(&bx, &x, sizeof bx);
  memcpy(&by, &y, sizeof by);
  const uint64_t mask = (uint64_t)0 - (uint64_t)c, b = (bx & mask) | (by & ~mask);
  double v;
  memcpy(&v, &b, sizeof v);
  return v;
}

/* |m(y)| and 1 - |m(y)| for nu = 3, any y: +-inf gives (1, 0), NaN gives NaN in both. */
static inline void nu3_kernel(double y, double *mabs, double *tail) {
  const double ay = fabs(y);
  const bool far = ay > SQRT3;
  const double r = (far ? SQRT3 : ay) / (far ? ay : SQRT3);
  const double t = r * r;
  /* Horner, written out: a loop of 20 is not unrolled by GCC, and then not vectorised. */
  double p = T3_P[20] * t + T3_P[19];
  p = p * t + T3_P[18];
  p = p * t + T3_P[17];
  p = p * t + T3_P[16];
  p = p * t + T3_P[15];
  p = p * t + T3_P[14];
  p = p * t + T3_P[13];
  p = p * t + T3_P[12];
  p = p * t + T3_P[11];
  p = p * t + T3_P[10];
  p = p * t + T3_P[9];
  p = p * t + T3_P[8];
  p = p * t + T3_P[7];
  p = p * t + T3_P[6];
  p = p * t + T3_P[5];
  p = p * t + T3_P[4];
  p = p * t + T3_P[3];
  p = p * t + T3_P[2];
  p = p * t + T3_P[1];
  p = p * t + T3_P[0];
  const double sc = 1.0 / (1.0 + t); /* r sc = sin cos of the angle atan r */
  const double a = M_2_PI * ((r + r * (t * p)) + r * sc);
  const double g = M_2_PI * ((r * t) * (p + sc));
  const double c =
      M_2_PI * ((((T3_PIO4 - r) - r * (t * p)) + (T3_PIO4 - r * sc)) + 2.0 * T3_PIO4_LO);
  *mabs = t_select(far, 1.0 - g, a);
  *tail = t_select(far, g, t_select(a <= 0.5, 1.0 - a, c));
}

static double t_mean_abs(const t_state *st, double ay);

static double t_tail_abs(const t_state *st, double ay) {
  double e, r, mabs, tail;
  /* Near 0 the tail is near 1 and 1 - |m| is exact to rounding (and exactly 1 at 0). */
  if (ay < 1.0 && st->form != T_BETA) return 1.0 - t_mean_abs(st, ay);
  switch (st->form) {
  case T_NU1:
    return M_2_PI * atan2(1.0, ay);
  case T_NU2:
    if (ay > T_BIG) return 1.0 / ay / ay;
    r = sqrt(2.0 + ay * ay);
    return 2.0 / (r * (r + ay));
  case T_NU3:
    return nu3_tail(ay);
  case T_NU4:
    if (ay > T_BIG) return 0.0; /* 6/y^4 < 2^-1997 */
    r = sqrt(4.0 + ay * ay);
    e = 4.0 / (r * (r + ay));
    return 0.5 * e * e * (3.0 - e);
  default:
    beta_pair(st, ay, &mabs, &tail);
    return tail;
  }
}

static double t_sign_tail(const void *state, double y) {
  if (isnan(y)) return y;
  const double ay = fabs(y);
  return ay == INFINITY ? 0.0 : t_tail_abs(state, ay);
}

/* |m| = P(|T| <= ay) for finite ay >= 0. */
static double t_mean_abs(const t_state *st, double ay) {
  double u, mabs, tail;
  switch (st->form) {
  case T_NU1:
    return M_2_PI * atan(ay);
  case T_NU2:
    return ay > T_BIG ? 1.0 : ay / sqrt(2.0 + ay * ay);
  case T_NU3:
    /* ay^2 may overflow: the second term then is 0, below one ulp of the first. */
    return M_2_PI * (atan(ay / SQRT3) + SQRT3 * ay / (3.0 + ay * ay));
  case T_NU4:
    if (ay > T_BIG) return 1.0;
    u = ay / sqrt(4.0 + ay * ay);
    return 0.5 * u * (3.0 - u * u);
  case T_SERIES:
    return theta_series(st, ay);
  default:
    beta_pair(st, ay, &mabs, &tail);
    return mabs;
  }
}

static double t_sign_mean(const void *state, double y) {
  const double ay = fabs(y);
  if (!(ay < INFINITY)) return isnan(y) ? y : copysign(1.0, y);
  /* |m| < 1 exactly, but a sum of positive terms near 1 (the theta series) can round above 1
   * (nu = 30, y = 40 gave 1 + 2^-52; found by the fuzz invariant): clamp. */
  return copysign(fmin(1.0, t_mean_abs(state, ay)), y);
}

/* F(y) = (1 - |m|)/2 below 0 and 1 - (1 - |m|)/2 above: the lower tail is relative-exact,
 * the upper one exact to rounding of a number near 1. (GSL's gsl_cdf_tdist_Q is off by up to
 * several percent far out, e.g. nu = 7 at y = 1e6, so it is not used.) */
static double t_cdf(const void *state, double y) {
  const double h = 0.5 * t_sign_tail(state, y);
  return y < 0 ? h : 1.0 - h;
}

static double t_density0(const void *state) {
  const t_state *st = state;
  return st->inv_beta / st->sqrt_nu;
}

static double t_variance(const void *state) {
  const t_state *st = state;
  return st->nu > 2 ? st->nu / (st->nu - 2.0) : INFINITY;
}

static double t_batch_scale(const void *state, size_t batch) {
  const t_state *st = state;
  return batch && st->nu == 1.0 ? 1.0 : NAN;
}

static bool t_sign_pairs(const void *state, const double *y, size_t n, double *m, double *tail);

static const sdv_noise_type student_t_type = {
    .name = "student-t",
    .help =
        "T ~ t_nu (0 < nu <= 1e8, required): sigma is a scale; variance nu/(nu-2) only for nu > 2",
    .size = sizeof(t_state),
    .init = student_t_init,
    .sample = t_sample,
    .sample_n = t_sample_n,
    .cdf = t_cdf,
    .sign_mean = t_sign_mean,
    .sign_tail = t_sign_tail,
    .density0 = t_density0,
    .variance = t_variance,
    .batch_scale = t_batch_scale,
    .sample_coupled = t_sample_coupled,
    .sign_pairs = t_sign_pairs,
};

static const sdv_noise_type cauchy_type = {
    .name = "cauchy",
    .help = "T ~ Cauchy = t_1: no mean, no variance; batching does not reduce it",
    .size = sizeof(t_state),
    .init = cauchy_init,
    .sample = t_sample,
    .sample_n = t_sample_n,
    .cdf = t_cdf,
    .sign_mean = t_sign_mean,
    .sign_tail = t_sign_tail,
    .density0 = t_density0,
    .variance = t_variance,
    .batch_scale = t_batch_scale,
    .sample_coupled = t_sample_coupled,
    .sign_pairs = t_sign_pairs,
};

const sdv_noise_type *const sdv_noise_student_t = &student_t_type;
const sdv_noise_type *const sdv_noise_cauchy = &cauchy_type;

/* The batch loop in two builds chosen at load time (lib/core/clones.h): x86-64's baseline
 * SSE2 and AVX2, four doubles a lane, with the same bits. */
SDV_CLONES
static void nu3_pairs(const double *restrict y, size_t n, double *restrict m,
                      double *restrict tail) {
  for (size_t j = 0; j < n; j++) {
    double mabs;
    nu3_kernel(y[j], &mabs, &tail[j]);
    m[j] = copysign(mabs, y[j]);
  }
}

static const t_state *nu3_state(const sdv_noise *law) {
  if (law->type != &student_t_type && law->type != &cauchy_type) return NULL;
  const t_state *st = law->state;
  return st->form == T_NU3 ? st : NULL;
}

bool sdv_student_t_sign_pair(const sdv_noise *law, double y, double *m, double *tail) {
  if (!nu3_state(law) || !(fabs(y) < INFINITY)) return false;
  double mabs;
  nu3_kernel(y, &mabs, tail);
  *m = copysign(mabs, y);
  return true;
}

bool sdv_student_t_sign_pairs(const sdv_noise *law, const double *y, size_t n, double *m,
                              double *tail) {
  if (!nu3_state(law)) return false;
  nu3_pairs(y, n, m, tail);
  return true;
}

/* The type's sign_pairs hook: the nu = 3 kernel, none for other nu. */
static bool t_sign_pairs(const void *state, const double *y, size_t n, double *m, double *tail) {
  const t_state *st = state;
  if (st->form != T_NU3) return false;
  nu3_pairs(y, n, m, tail);
  return true;
}
