/* Quick tests of the noise laws (lib/noise): CDFs and sign functions against GSL, quadrature,
 * 40-digit references and tail asymptotics; slopes ell; variances and batch scales; sample
 * moments and quantiles; determinism; every error path.
 *
 * The 40-digit references were computed with mpmath (betainc at 40 digits for t_nu, erf/erfc
 * for the Gaussian); they are independent of GSL and of lib/noise. */
#include "testutil.h"

#include <sdv/errors.h>
#include <sdv/noise.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_sf_gamma.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double NUS[] = {1, 2, 3, 4, 5, 7, 2.5, 0.7, 30};
#define NNU (sizeof NUS / sizeof NUS[0])
static const double YS[] = {1e-8, 0.37, 2.385, 40, 1e3, 1e6};
#define NY (sizeof YS / sizeof YS[0])

static sdv_noise *make(const char *spec) {
  sdv_noise *n = NULL;
  const int rc = sdv_noise_alloc(&n, spec);
  ck_assert_msg(rc == SDV_OK && n, "%s: %s", spec, sdv_last_error());
  return n;
}

static sdv_noise *make_t(double nu) {
  char spec[64];
  snprintf(spec, sizeof spec, "student-t:nu=%.17g", nu);
  return make(spec);
}

static double cdf(const sdv_noise *n, double y) { return n->type->cdf(n->state, y); }
static double tail(const sdv_noise *n, double y) { return n->type->sign_tail(n->state, y); }

/* ---- CDF against GSL ---- */

/* GSL's P is accurate to ~1e-13 in the lower tail for nu <= 30 (checked against 40 digits);
 * its Q is not (several percent off at nu = 7, y = 1e6), so the upper tail of our law is
 * compared through symmetry, 1 - F(y) = F(-y), with P(-y). Above 0, F is near 1 and is
 * compared in absolute terms. */
START_TEST(test_cdf_student_t_vs_gsl) {
  for (size_t i = 0; i < NNU; i++) {
    sdv_noise *n = make_t(NUS[i]);
    ck_assert_close(cdf(n, 0.0), 0.5, 1e-16);
    for (size_t j = 0; j < NY; j++) {
      const double y = YS[j];
      ck_assert_rel(cdf(n, -y), gsl_cdf_tdist_P(-y, NUS[i]), 1e-12);
      ck_assert_close(cdf(n, y), gsl_cdf_tdist_P(y, NUS[i]), 3.5e-16); /* 1 ulp each */
      ck_assert_rel(0.5 * tail(n, y), gsl_cdf_tdist_P(-y, NUS[i]), 1e-12);
    }
    sdv_noise_free(n);
  }
}
END_TEST

START_TEST(test_cdf_gaussian_vs_gsl) {
  sdv_noise *n = make("gaussian");
  ck_assert_close(cdf(n, 0.0), 0.5, 1e-16);
  for (size_t j = 0; j < NY; j++) {
    const double y = YS[j];
    ck_assert_rel(cdf(n, -y), gsl_cdf_ugaussian_P(-y), 1e-15);
    ck_assert_rel(0.5 * tail(n, y), gsl_cdf_ugaussian_Q(y), 1e-15);
    ck_assert_close(cdf(n, y), 1.0 - gsl_cdf_ugaussian_Q(y), 3.5e-16);
  }
  sdv_noise_free(n);
}
END_TEST

/* ---- sign functions against 40-digit references ---- */

typedef struct ref_row {
  const char *spec;
  double m037, m2385;            /* m(0.37), m(2.385) */
  double t2385, t40, t1e3, t1e6; /* 1 - |m| at 2.385, 40, 1e3, 1e6 */
} ref_row;

static const ref_row REFS[] = {
    {"cauchy", 0.22560526344400486498, 0.7472479886680350542, 0.2527520113319649458,
     0.015912179824051626637, 0.00063661956016111787775, 6.3661977236736913648e-7},
    {"student-t:nu=2", 0.25311018691104296306, 0.86015227240312545039, 0.13984772759687454961,
     0.0006244146721847406375, 9.9999850000249999563e-7, 9.999999999985e-13},
    {"student-t:nu=3", 0.26404010620594036974, 0.90282159508280899209, 0.097178404917191007906,
     0.000034380680789158528283, 2.2053076425765926966e-9, 2.205315581679229062e-18},
    {"student-t:nu=4", 0.26985982612406158843, 0.92442274404672494213, 0.075577255953275057867,
     2.3340163226012685953e-6, 5.999960000209998992e-12, 5.99999999996e-24},
    {"student-t:nu=5", 0.27346238646716031869, 0.93722497092028133362, 0.062775029079718666382,
     1.8411962171772954355e-7, 1.8980131131979714694e-14, 1.8980334490921360833e-29},
    {"student-t:nu=7", 0.27767673446965079456, 0.95147588229274185314, 0.04852411770725814686,
     1.5902179984850370469e-9, 2.6409838375211876004e-19, 2.6410413526518378574e-40},
    {"student-t:nu=2.5", 0.25955438917741319462, 0.88557934297619147601, 0.11442065702380852399,
     0.00014195634290493382913, 4.5494927896614903737e-8, 1.4386794381628476927e-15},
    {"student-t:nu=0.7", 0.20710874893788787869, 0.6703137255764920336, 0.3296862744235079664,
     0.04699673387876514903, 0.0049380043407001732113, 0.000039223968760744146045},
    {"student-t:nu=30", 0.28601816880717636432, 0.97640121561514754298, 0.023598784384852457024,
     1.3726045194406402787e-27, 2.0720034831117330769e-69, 2.0729069296087555177e-159},
};

/* Achieved (see docs/math/noise.md): <= 1e-15 relative for the closed forms, <= 7e-15 for
 * the other nu here. The tolerance leaves a margin of 4 over that. */
START_TEST(test_sign_refs) {
  const ref_row *r = &REFS[_i];
  sdv_noise *n = make(r->spec);
  const double ys[] = {2.385, 40, 1e3, 1e6}, ts[] = {r->t2385, r->t40, r->t1e3, r->t1e6};
  ck_assert_rel(sdv_noise_sign_mean(n, 0.37), r->m037, 1e-14);
  ck_assert_rel(sdv_noise_sign_mean(n, -0.37), -r->m037, 1e-14);
  ck_assert_rel(sdv_noise_sign_mean(n, 2.385), r->m2385, 1e-14);
  for (size_t j = 0; j < 4; j++) {
    ck_assert_rel(tail(n, ys[j]), ts[j], 3e-14);
    ck_assert_rel(tail(n, -ys[j]), ts[j], 3e-14);
    /* 1 - m^2 = t (2 - t) keeps the tail's digits */
    ck_assert_rel(sdv_noise_sign_var(n, ys[j]), ts[j] * (2.0 - ts[j]), 3e-14);
  }
  sdv_noise_free(n);
}
END_TEST

START_TEST(test_sign_gaussian_refs) {
  sdv_noise *n = make("gaussian");
  ck_assert_rel(sdv_noise_sign_mean(n, 2.385), 0.98292087864663600176, 1e-15);
  ck_assert_rel(sdv_noise_sign_mean(n, -2.385), -0.98292087864663600176, 1e-15);
  ck_assert_rel(tail(n, 2.385), 0.017079121353363998237, 1e-15);
  ck_assert_rel(tail(n, -20.0), 5.5072482372124673902e-89, 1e-15);
  ck_assert_rel(tail(n, 37.0), 1.1451142445049153645e-299, 1e-15);
  /* below DBL_MIN the tail is 0 (it is 7.3e-350 at y = 40, e^-500000 at y = 1e3) */
  ck_assert(tail(n, 40) == 0.0 && tail(n, 1e3) == 0.0 && sdv_noise_sign_mean(n, 1e3) == 1.0);
  sdv_noise_free(n);
}
END_TEST

/* ---- sign functions against quadrature of the density ---- */

typedef struct dens {
  double nu, lognorm;
} dens;

/* t_nu density with its own normalisation (lgamma), independent of lib/noise. */
static double t_density(double t, void *p) {
  const dens *d = p;
  return exp(d->lognorm - 0.5 * (d->nu + 1.0) * log1p(t * t / d->nu));
}

/* m(y) = 2 int_0^y p and 1 - |m(y)| = 2 int_|y|^inf p, both positive integrands, so the
 * quadrature is accurate relative to each. GSL's requested 1e-11 sets the tolerance 1e-10. */
START_TEST(test_sign_vs_quadrature) {
  const double nu = NUS[_i];
  dens d = {nu, gsl_sf_lngamma(0.5 * (nu + 1)) - gsl_sf_lngamma(0.5 * nu) - 0.5 * log(nu * M_PI)};
  gsl_function f = {t_density, &d};
  gsl_integration_workspace *w = gsl_integration_workspace_alloc(1000);
  ck_assert_ptr_nonnull(w);
  sdv_noise *n = make_t(nu);
  const double ys[] = {0.37, 2.385, 40};
  for (size_t j = 0; j < 3; j++) {
    double v, err;
    ck_assert_int_eq(gsl_integration_qags(&f, 0, ys[j], 0, 1e-11, 1000, w, &v, &err), 0);
    ck_assert_rel(sdv_noise_sign_mean(n, ys[j]), 2 * v, 1e-10);
    ck_assert_int_eq(gsl_integration_qagiu(&f, ys[j], 0, 1e-11, 1000, w, &v, &err), 0);
    ck_assert_rel(tail(n, ys[j]), 2 * v, 1e-10);
  }
  sdv_noise_free(n);
  gsl_integration_workspace_free(w);
}
END_TEST

/* ---- tiny and huge |y| ---- */

/* m(y) = ell y (1 - kappa y^2 + O(y^4)), kappa = (nu+1)/(6 nu) (Gaussian: 1/6). At y = 1e-8
 * the cubic term is below 1e-16 relative, so m(y)/y must equal ell to rounding; at y = 1e-3
 * (1 - m/(ell y))/y^2 recovers kappa up to O(y^2) = 1e-6 relative. */
static void check_small(const sdv_noise *n, double ell_ref, double kappa) {
  const double ell = sdv_noise_ell(n);
  ck_assert_rel(ell, ell_ref, 4e-15);
  for (double y = 1e-8; y > 1e-300; y *= 1e-73) {
    ck_assert_rel(sdv_noise_sign_mean(n, y) / y, ell, 2e-15);
    ck_assert_rel(sdv_noise_sign_mean(n, -y) / y, -ell, 2e-15);
  }
  const double y = 1e-3;
  ck_assert_rel((1.0 - sdv_noise_sign_mean(n, y) / (ell * y)) / (y * y), kappa, 1e-5);
  ck_assert(sdv_noise_sign_mean(n, 0.0) == 0.0 && tail(n, 0.0) == 1.0);
}

START_TEST(test_small_y) {
  const double nu = NUS[_i];
  sdv_noise *n = make_t(nu);
  /* Gamma itself, not lgamma: the difference of two lgammas near 26 (nu = 30) loses 5e-15 */
  const double ell = 2.0 * gsl_sf_gamma(0.5 * (nu + 1)) / gsl_sf_gamma(0.5 * nu) / sqrt(nu * M_PI);
  check_small(n, ell, (nu + 1) / (6 * nu));
  sdv_noise_free(n);
}
END_TEST

START_TEST(test_small_y_gaussian) {
  sdv_noise *n = make("gaussian");
  check_small(n, sqrt(2 / M_PI), 1.0 / 6.0);
  sdv_noise_free(n);
}
END_TEST

/* For t_nu, with a = nu/2 and e = nu/y^2,
 *   1 - |m(y)| = 2 nu^(a-1) y^-nu / B(a, 1/2) (1 - e a (a + 1/2)/(a + 1) + O(a^2 e^2)),
 * about 1e-19 relative at y = 1e6 for nu <= 30; the tolerance covers lgamma's rounding.
 * Gaussian: 2 phi(y)/y (1 - 1/y^2 + 3/y^4 - 15/y^6 + 105/y^8), truncation 945/y^10 = 2e-13
 * at y = 37. */
START_TEST(test_tail_asymptotics) {
  const double nu = NUS[_i], y = 1e6;
  sdv_noise *n = make_t(nu);
  const double lnb =
      gsl_sf_lngamma(0.5 * nu) + gsl_sf_lngamma(0.5) - gsl_sf_lngamma(0.5 * nu + 0.5);
  const double a = 0.5 * nu, e = nu / (y * y);
  const double asym =
      2.0 * exp((a - 1) * log(nu) - nu * log(y) - lnb) * (1 - e * a * (a + 0.5) / (a + 1));
  ck_assert_rel(tail(n, y), asym, 1e-12);
  ck_assert_rel(tail(n, -y), asym, 1e-12);
  ck_assert(tail(n, INFINITY) == 0.0 && sdv_noise_sign_mean(n, -INFINITY) == -1.0);
  ck_assert(isnan(sdv_noise_sign_mean(n, NAN)) && isnan(tail(n, NAN)) && isnan(cdf(n, NAN)));
  sdv_noise_free(n);
}
END_TEST

START_TEST(test_tail_asymptotics_gaussian) {
  sdv_noise *n = make("gaussian");
  const double y = 37, r = 1 / (y * y);
  const double asym = 2 * exp(-0.5 * y * y) / sqrt(2 * M_PI) / y *
                      (1 - r * (1 - 3 * r * (1 - 5 * r * (1 - 7 * r))));
  ck_assert_rel(tail(n, y), asym, 1e-12);
  sdv_noise_free(n);
}
END_TEST

/* Exact odd/even symmetry: m(-y) = -m(y), tail even, F(-y) + F(y) = 1. */
START_TEST(test_symmetry) {
  const char *specs[] = {"gaussian",       "cauchy",           "student-t:nu=2.5",
                         "student-t:nu=7", "student-t:nu=0.7", "student-t:nu=30"};
  for (size_t i = 0; i < 6; i++) {
    sdv_noise *n = make(specs[i]);
    for (double y = 1e-3; y < 1e4; y *= 2.385) {
      ck_assert(sdv_noise_sign_mean(n, -y) == -sdv_noise_sign_mean(n, y));
      ck_assert(tail(n, -y) == tail(n, y));
      ck_assert_close(cdf(n, -y) + cdf(n, y), 1.0, 2.3e-16);
      /* m and its tail are computed separately: they must still add up */
      ck_assert_close(sdv_noise_sign_mean(n, y) + tail(n, y), 1.0, 4.5e-16);
    }
    sdv_noise_free(n);
  }
}
END_TEST

/* ---- ell table, variance, batch scale ---- */

/* ell_nu to the table's 6 decimals (theory section 1), and the exact forms to rounding. */
START_TEST(test_ell_table) {
  static const struct {
    const char *spec;
    double table, exact;
  } rows[] = {
      {"cauchy", 0.636620, 2 / M_PI},
      {"student-t:nu=1", 0.636620, 2 / M_PI},
      {"student-t:nu=2", 0.707107, M_SQRT1_2},
      {"student-t:nu=3", 0.735105, 4 / (M_PI * 1.7320508075688772935)},
      {"student-t:nu=4", 0.750000, 0.75},
      {"student-t:nu=5", 0.759213, 0.75921337964498886},
      {"student-t:nu=6", 0.765466, 0.76546554461974316},
      {"student-t:nu=10", 0.778217, 0.7782167679320621},
      {"gaussian", 0.797885, 0.79788456080286536},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    sdv_noise *n = make(rows[i].spec);
    const double ell = sdv_noise_ell(n);
    ck_assert_msg(fabs(ell - rows[i].table) <= 5e-7, "%s: ell = %.9f, table %.6f", rows[i].spec,
                  ell, rows[i].table);
    ck_assert_rel(ell, rows[i].exact, 1e-15);
    ck_assert_rel(n->type->density0(n->state), 0.5 * rows[i].exact, 1e-15);
    sdv_noise_free(n);
  }
}
END_TEST

START_TEST(test_variance_and_batch) {
  sdv_noise *g = make("gaussian"), *c = make("cauchy"), *t1 = make("student-t:nu=1");
  sdv_noise *t3 = make("student-t:nu=3"), *t2 = make("student-t:nu=2");
  sdv_noise *t25 = make("student-t:nu=2.5");
  ck_assert(g->type->variance(g->state) == 1.0);
  ck_assert_rel(t3->type->variance(t3->state), 3.0, 1e-16);
  ck_assert_rel(t25->type->variance(t25->state), 5.0, 1e-15);
  ck_assert(isinf(t2->type->variance(t2->state)) && isinf(c->type->variance(c->state)));
  const size_t bs[] = {1, 4, 7, 1000};
  for (size_t i = 0; i < 4; i++) {
    ck_assert_rel(g->type->batch_scale(g->state, bs[i]), 1.0 / sqrt((double)bs[i]), 1e-16);
    /* the mean of B Cauchy draws is again standard Cauchy: batching does not help */
    ck_assert(c->type->batch_scale(c->state, bs[i]) == 1.0);
    ck_assert(t1->type->batch_scale(t1->state, bs[i]) == 1.0);
    ck_assert(isnan(t3->type->batch_scale(t3->state, bs[i])));
    ck_assert(isnan(t25->type->batch_scale(t25->state, bs[i])));
  }
  ck_assert(isnan(g->type->batch_scale(g->state, 0)));
  sdv_noise_free(g);
  sdv_noise_free(c);
  sdv_noise_free(t1);
  sdv_noise_free(t2);
  sdv_noise_free(t3);
  sdv_noise_free(t25);
}
END_TEST

/* ---- sampling ----
 * Every statistical comparison below uses k = 5 standard errors of the estimator itself
 * (two-sided normal false-failure rate 5.7e-7 per comparison; about 60 comparisons in this
 * file, so < 4e-5 for the whole file), with fixed seeds. */
#define K_SE 5.0
#define NSAMP 200000

static double *draw(const char *spec, uint64_t seed, size_t n) {
  sdv_noise *z = make(spec);
  double *x = malloc(n * sizeof *x);
  ck_assert_ptr_nonnull(x);
  sdv_stream s;
  sdv_stream_init(&s, seed, 0, SDV_PURPOSE_SAMPLING, 0);
  sdv_noise_sample_n(z, &s, x, n);
  sdv_noise_free(z);
  return x;
}

START_TEST(test_moments_gaussian) {
  double *x = draw("gaussian", 2385, NSAMP);
  double m1 = 0, m2 = 0, m4 = 0;
  for (size_t i = 0; i < NSAMP; i++) m1 += x[i];
  m1 /= NSAMP;
  for (size_t i = 0; i < NSAMP; i++) {
    const double d = (x[i] - m1) * (x[i] - m1);
    m2 += d;
    m4 += d * d;
  }
  m2 /= NSAMP;
  m4 /= NSAMP;
  /* SE of the mean sqrt(var/n); of the variance sqrt((mu4 - var^2)/n) = sqrt(2/n) here */
  ck_assert_msg(fabs(m1) <= K_SE * sqrt(1.0 / NSAMP), "mean %g", m1);
  ck_assert_msg(fabs(m2 - 1.0) <= K_SE * sqrt(2.0 / NSAMP), "var %g", m2);
  ck_assert_msg(fabs(m4 - 3.0) <= K_SE * sqrt(96.0 / NSAMP), "mu4 %g", m4); /* Var Z^4 = 96 */
  free(x);
}
END_TEST

/* t_7: Var T = 7/5, E T^4 = 3 nu^2/((nu-2)(nu-4)) = 49/5, so Var(T^2) = 49/5 - 49/25 = 196/25
 * and the SE of the mean of T^2 is sqrt(196/25/n). */
START_TEST(test_moments_t7) {
  double *x = draw("student-t:nu=7", 7001, NSAMP);
  double m1 = 0, m2 = 0;
  for (size_t i = 0; i < NSAMP; i++) {
    m1 += x[i];
    m2 += x[i] * x[i];
  }
  m1 /= NSAMP;
  m2 /= NSAMP;
  ck_assert_msg(fabs(m1) <= K_SE * sqrt(1.4 / NSAMP), "mean %g", m1);
  ck_assert_msg(fabs(m2 - 1.4) <= K_SE * sqrt(196.0 / 25.0 / NSAMP), "E T^2 %g", m2);
  free(x);
}
END_TEST

/* Empirical CDF at fixed points against the law's own cdf: the count below y is
 * Binomial(n, F(y)), SE sqrt(F (1-F)/n). Covers Bailey's method for non-integer nu, both
 * below and above 1, and the inverse-CDF Cauchy sampler. */
START_TEST(test_sample_cdf) {
  const char *specs[] = {"student-t:nu=2.5", "student-t:nu=0.7", "student-t:nu=30", "cauchy",
                         "gaussian"};
  const double pts[] = {-2.385, -0.37, 0.0, 0.37, 2.385, 40.0};
  const char *spec = specs[_i];
  double *x = draw(spec, 100 + (uint64_t)_i, NSAMP);
  sdv_noise *n = make(spec);
  for (size_t j = 0; j < 6; j++) {
    size_t below = 0;
    for (size_t i = 0; i < NSAMP; i++) below += x[i] <= pts[j];
    const double F = cdf(n, pts[j]), se = sqrt(F * (1 - F) / NSAMP);
    ck_assert_msg(fabs((double)below / NSAMP - F) <= K_SE * se + 0.5 / NSAMP,
                  "%s: P(T <= %g) = %g, law %g (se %g)", spec, pts[j], (double)below / NSAMP, F,
                  se);
  }
  sdv_noise_free(n);
  free(x);
}
END_TEST

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sample quartiles of n Cauchy draws: the p-quantile estimate has SE sqrt(p(1-p)/n)/f(q_p),
 * f(0) = 1/pi, f(+-1) = 1/(2 pi). */
START_TEST(test_cauchy_quartiles) {
  const size_t n = 100001;
  double *x = draw(_i ? "student-t:nu=1" : "cauchy", 4242 + (uint64_t)_i, n);
  qsort(x, n, sizeof *x, cmp_double);
  const double q1 = x[n / 4], med = x[n / 2], q3 = x[3 * n / 4];
  const double se_med = sqrt(0.25 / n) * M_PI, se_q = sqrt(0.1875 / n) * 2 * M_PI;
  ck_assert_msg(fabs(med) <= K_SE * se_med, "median %g (se %g)", med, se_med);
  ck_assert_msg(fabs(q1 + 1) <= K_SE * se_q, "q1 %g (se %g)", q1, se_q);
  ck_assert_msg(fabs(q3 - 1) <= K_SE * se_q, "q3 %g (se %g)", q3, se_q);
  free(x);
}
END_TEST

/* Same stream key -> same draws; sample_n gives the same values as repeated sample; a
 * different key gives different draws; Cauchy and student-t:nu=1 share their sampler. */
START_TEST(test_determinism) {
  const char *specs[] = {"gaussian", "cauchy", "student-t:nu=2.5", "student-t:nu=4"};
  enum { M = 257 };
  for (size_t i = 0; i < 4; i++) {
    sdv_noise *n = make(specs[i]);
    double a[M], b[M], c[M];
    sdv_stream s;
    sdv_stream_init(&s, 11, 3, SDV_PURPOSE_NOISE, 2);
    sdv_noise_sample_n(n, &s, a, M);
    sdv_stream_init(&s, 11, 3, SDV_PURPOSE_NOISE, 2);
    for (size_t j = 0; j < M; j++) b[j] = sdv_noise_sample(n, &s);
    sdv_stream_init(&s, 11, 4, SDV_PURPOSE_NOISE, 2);
    sdv_noise_sample_n(n, &s, c, M);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    size_t same = 0;
    for (size_t j = 0; j < M; j++) {
      same += a[j] == c[j];
      ck_assert(isfinite(a[j]));
    }
    ck_assert_uint_eq(same, 0);
    sdv_noise_free(n);
  }
  double *x = draw("cauchy", 9, 100), *y = draw("student-t:nu=1", 9, 100);
  ck_assert(memcmp(x, y, 100 * sizeof *x) == 0);
  free(x);
  free(y);
}
END_TEST

/* ---- errors and the registry ---- */

static void expect_einval(const char *spec, const char *needle, const char *needle2) {
  sdv_noise *n = (sdv_noise *)&n; /* must be overwritten with NULL */
  const int rc = sdv_noise_alloc(&n, spec);
  ck_assert_msg(rc == SDV_EINVAL, "'%s': status %d", spec ? spec : "(null)", rc);
  ck_assert_ptr_null(n);
  ck_assert_msg(strstr(sdv_last_error(), needle), "'%s': message '%s' lacks '%s'",
                spec ? spec : "(null)", sdv_last_error(), needle);
  if (needle2)
    ck_assert_msg(strstr(sdv_last_error(), needle2), "'%s': message '%s' lacks '%s'", spec,
                  sdv_last_error(), needle2);
}

START_TEST(test_errors) {
  expect_einval("student-t:nu=0", "nu", "0");
  expect_einval("student-t:nu=-1", "nu", "-1");
  expect_einval("student-t:nu=-2.385", "nu", "-2.385");
  expect_einval("student-t:nu=nan", "nu", "nan");
  expect_einval("student-t:nu=inf", "nu", "inf");
  expect_einval("student-t:nu=abc", "nu", "abc");
  expect_einval("student-t", "nu", "required");
  expect_einval("student-t:mu=3", "nu", NULL);
  expect_einval("student-t:nu=3:mu=3", "mu", NULL);
  expect_einval("cauchy:nu=1", "nu", NULL);
  expect_einval("gaussian:sigma=2", "sigma", NULL);
  expect_einval("laplace", "laplace", "known: gaussian, student-t, cauchy");
  expect_einval("", "empty", NULL);
  expect_einval(NULL, "empty", NULL);
  sdv_noise *n = NULL;
  ck_assert_int_eq(sdv_noise_alloc_type(&n, NULL, NULL), SDV_EINVAL);
  ck_assert_int_eq(sdv_noise_alloc_type(&n, sdv_noise_student_t, "nu=-1"), SDV_EINVAL);
  ck_assert_ptr_null(n);
  ck_assert(strstr(sdv_last_error(), "nu") && strstr(sdv_last_error(), "-1"));
  ck_assert_int_eq(sdv_noise_alloc_type(&n, sdv_noise_student_t, "nu=2.385"), SDV_OK);
  ck_assert_rel(n->type->variance(n->state), 2.385 / 0.385, 1e-15);
  sdv_noise_free(n);
  sdv_noise_free(NULL);
}
END_TEST

/* A user law (uniform on [-sqrt3, sqrt3], no sample_n: the library loops over sample). */
static double u_sample(const void *st, sdv_stream *s) {
  (void)st;
  return sqrt(3.0) * (2 * sdv_stream_uniform(s) - 1);
}
static double u_cdf(const void *st, double y) {
  (void)st;
  return fmin(1, fmax(0, 0.5 + y / (2 * sqrt(3.0))));
}
static double u_mean(const void *st, double y) { return 2 * u_cdf(st, y) - 1; }
static double u_tail(const void *st, double y) { return 1 - fabs(u_mean(st, y)); }
static double u_p0(const void *st) {
  (void)st;
  return 1 / (2 * sqrt(3.0));
}
static double u_var(const void *st) {
  (void)st;
  return 1;
}
static double u_batch(const void *st, size_t b) {
  (void)st;
  (void)b;
  return NAN;
}

START_TEST(test_registry) {
  const sdv_noise_type *list[8];
  ck_assert_uint_eq(sdv_noise_types(list, 8), 3);
  ck_assert_ptr_eq(list[0], sdv_noise_gaussian);
  ck_assert_ptr_eq(sdv_noise_type_from_name("student-t"), sdv_noise_student_t);
  ck_assert_ptr_eq(sdv_noise_type_from_name("cauchy"), sdv_noise_cauchy);
  ck_assert_ptr_null(sdv_noise_type_from_name("laplace"));
  static const sdv_noise_type uni = {.name = "uniform",
                                     .sample = u_sample,
                                     .cdf = u_cdf,
                                     .sign_mean = u_mean,
                                     .sign_tail = u_tail,
                                     .density0 = u_p0,
                                     .variance = u_var,
                                     .batch_scale = u_batch};
  static const sdv_noise_type bad = {.name = "broken", .sample = u_sample};
  static const sdv_noise_type dup = {.name = "gaussian",
                                     .sample = u_sample,
                                     .cdf = u_cdf,
                                     .sign_mean = u_mean,
                                     .sign_tail = u_tail,
                                     .density0 = u_p0,
                                     .variance = u_var,
                                     .batch_scale = u_batch};
  ck_assert_int_eq(sdv_noise_register(&bad), SDV_EINVAL);
  ck_assert(strstr(sdv_last_error(), "cdf"));
  ck_assert_int_eq(sdv_noise_register(&dup), SDV_EINVAL);
  ck_assert_int_eq(sdv_noise_register(&uni), SDV_OK);
  ck_assert_uint_eq(sdv_noise_types(list, 8), 4);
  sdv_noise *n = make("uniform");
  double a[5], b[5];
  sdv_stream s;
  sdv_stream_init(&s, 1, 2, SDV_PURPOSE_NOISE, 0);
  sdv_noise_sample_n(n, &s, a, 5);
  sdv_stream_init(&s, 1, 2, SDV_PURPOSE_NOISE, 0);
  for (size_t i = 0; i < 5; i++) b[i] = sdv_noise_sample(n, &s);
  ck_assert(memcmp(a, b, sizeof a) == 0);
  ck_assert_rel(sdv_noise_ell(n), 1 / sqrt(3.0), 1e-15);
  ck_assert_close(sdv_noise_sign_var(n, 0.5), 1 - pow(0.5 / sqrt(3.0), 2), 1e-15);
  sdv_noise_free(n);
  expect_einval("uniform:a=1", "a", NULL);
}
END_TEST

static Suite *noise_suite(void) {
  Suite *s = suite_create("noise");
  TCase *tc;
#define ADD(name, fn)      \
  tc = tcase_create(name); \
  tcase_add_test(tc, fn);  \
  suite_add_tcase(s, tc)
#define ADD_LOOP(name, fn, n)               \
  tc = tcase_create(name);                  \
  tcase_add_loop_test(tc, fn, 0, (int)(n)); \
  suite_add_tcase(s, tc)
  ADD("cdf_student_t", test_cdf_student_t_vs_gsl);
  ADD("cdf_gaussian", test_cdf_gaussian_vs_gsl);
  ADD_LOOP("sign_refs", test_sign_refs, sizeof REFS / sizeof REFS[0]);
  ADD("sign_gaussian", test_sign_gaussian_refs);
  ADD_LOOP("sign_quadrature", test_sign_vs_quadrature, NNU);
  ADD_LOOP("small_y", test_small_y, NNU);
  ADD("small_y_gaussian", test_small_y_gaussian);
  ADD_LOOP("tail_asymptotics", test_tail_asymptotics, NNU);
  ADD("tail_asymptotics_gaussian", test_tail_asymptotics_gaussian);
  ADD("symmetry", test_symmetry);
  ADD("ell_table", test_ell_table);
  ADD("variance_batch", test_variance_and_batch);
  ADD("moments_gaussian", test_moments_gaussian);
  ADD("moments_t7", test_moments_t7);
  ADD_LOOP("sample_cdf", test_sample_cdf, 5);
  ADD_LOOP("cauchy_quartiles", test_cauchy_quartiles, 2);
  ADD("determinism", test_determinism);
  ADD("errors", test_errors);
  ADD("registry", test_registry);
  return s;
}

int main(void) { return sdv_test_run(noise_suite()); }
