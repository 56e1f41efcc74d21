/* Claim-suite families "dsignsgd" (claims 8-11, 13, 14) and "heavy-tails" (claim 12), see
 * verify/checks.h and docs/claims/dsignsgd.md.
 *
 * DSignSGD's stationary level on a diagonal quadratic, per coordinate with curvature lambda:
 *     s0     = eta / (2 N lambda a1),        E f_inf = eta d / (4 N a1) (1 + O(eta)),
 *     s_SDE  = s0 [1 + (eta lambda / (2 N a1)) (3 a3/a1 - a2)] + O(eta^3),
 *     s_disc = s_SDE + eta^2 / (4N) + O(eta^3),
 * a1 = (1/N) sum ell_i/sigma_i = ell/sigma_H for one noise law, a2 = (1/N) sum ell_i^2/sigma_i^2,
 * a3 = (1/N) sum ell_i kappa_i/sigma_i^3, ell_nu = 2 Gamma((nu+1)/2)/(sqrt(nu pi) Gamma(nu/2)),
 * kappa_nu = (nu+1)/(6 nu) (Gaussian: sqrt(2/pi), 1/6). Source: the theory reference,
 * sections 1, 6.3, 8, 9 and claims 8-14 (derived by moment expansion there).
 *
 * Every level below is measured WITHOUT Monte Carlo where sdv has an exact reference: the
 * discrete optimizer's stationary law on its lattice and the SDE's 1-D stationary density by
 * quadrature (sdv/exact.h), the closed-form DSGD/DCSGD stationary moments, the drift ODE and
 * the noise laws' sign functions. Monte Carlo appears only in claim 12, whose point is a
 * property of samples (a running mean that does not settle), and as a second, independent
 * measurement of the heavy-tailed DSignSGD level.
 *
 * Tolerances of exact-vs-formula comparisons are stated multiples of the formula's next
 * order (e.g. eta A, A = ell lambda / sigma, for an O(eta) relative correction); they are
 * deterministic, so the false-failure rate of those comparisons is 0 for every seed.
 * Reference value (checked by dsignsgd-speedup): homogeneous Gaussian agents give
 *     s_disc / s0 - 1 = (eta A / N)(pi/8 + (N - 1)/2) + O(eta^2).
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_fit.h>
#include <gsl/gsl_roots.h>

#include <sdv/errors.h>
#include <sdv/exact.h>
#include <sdv/mc.h>
#include <sdv/model.h>
#include <sdv/noise.h>
#include <sdv/process.h>

#include "checks.h"
#include "checks_util.h"

/* ---------------------------------------------------------------------------------------
 * Shared helpers
 * ------------------------------------------------------------------------------------- */

/* Theory §1: the slope and cubic coefficient of 2F_nu - 1 at 0 (nu = INFINITY: Gaussian),
 * evaluated from their closed forms, independently of the noise code under test. */
static double t_ell(double nu) {
  if (isinf(nu)) return sqrt(2.0 / M_PI);
  return 2.0 * exp(lgamma(0.5 * (nu + 1.0)) - lgamma(0.5 * nu)) / sqrt(nu * M_PI);
}
static double t_kappa(double nu) { return isinf(nu) ? 1.0 / 6.0 : (nu + 1.0) / (6.0 * nu); }

/* The heterogeneous averages of §1 for n agents with scales sigma[i] and laws nu[i]. */
typedef struct sign_avg {
  double a1, a2, a3;
  double sigma_h; /* harmonic mean of the scales */
} sign_avg;

static sign_avg averages(size_t n, const double *sigma, const double *nu) {
  sign_avg a = {0.0, 0.0, 0.0, 0.0};
  double inv = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double l = t_ell(nu[i]), s = sigma[i];
    a.a1 += l / s;
    a.a2 += l * l / (s * s);
    a.a3 += l * t_kappa(nu[i]) / (s * s * s);
    inv += 1.0 / s;
  }
  a.a1 /= (double)n;
  a.a2 /= (double)n;
  a.a3 /= (double)n;
  a.sigma_h = (double)n / inv;
  return a;
}

/* Per-coordinate stationary second moments of §6.3: leading s0, SDE and discrete to O(eta^2). */
typedef struct sign_pred {
  double s0, s_sde, s_disc;
  double first; /* |s_disc / s0 - 1| to first order: the size of the O(eta) correction */
} sign_pred;

static sign_pred predict(const sign_avg *a, size_t n, double eta, double lam) {
  const double N = (double)n;
  sign_pred p;
  p.s0 = eta / (2.0 * N * lam * a->a1);
  p.s_sde = p.s0 * (1.0 + eta * lam / (2.0 * N * a->a1) * (3.0 * a->a3 / a->a1 - a->a2));
  p.s_disc = p.s_sde + eta * eta / (4.0 * N);
  p.first = fabs(p.s_sde / p.s0 - 1.0) + eta * eta / (4.0 * N * p.s0);
  return p;
}

static int make_model(sdv_model **m, const char *method, size_t dim, size_t agents, double eta,
                      const char *objective, const char *noise, const char *sigma,
                      const char *compressor, const char *x0, uint64_t seed) {
  sdv_model_options o;
  sdv_model_options_default(&o);
  o.method = method;
  o.dim = dim;
  o.agents = agents;
  o.eta = eta;
  o.objective = objective;
  o.noise = noise;
  o.sigma = sigma;
  o.compressor = compressor ? compressor : "identity";
  o.x0 = x0;
  o.seed = seed;
  return sdv_model_alloc(m, &o);
}

/* Exact stationary E f of a freshly built model (freed again). */
static int exact_level(sdv_side side, const char *method, size_t dim, size_t agents, double eta,
                       const char *objective, const char *noise, const char *sigma,
                       const char *compressor, const char *x0, double *level) {
  sdv_model *m = NULL;
  int rc = make_model(&m, method, dim, agents, eta, objective, noise, sigma, compressor, x0, 1);
  if (rc) return rc;
  const sdv_observable f = {.kind = SDV_OBS_F};
  rc = sdv_exact_stationary(m, side, &f, 1, level, NULL, NULL);
  sdv_model_free(m);
  return rc;
}

/* One long-format CSV for every check of this file: quantity, label, swept x, measured,
 * predicted, tolerance (absolute, on the measured scale; NAN when not a comparison). */
static void csv_header(const sdv_check_ctx *ctx) {
  fprintf(ctx->csv, "quantity,label,x,measured,predicted,tolerance\n");
}
static void csv_row(const sdv_check_ctx *ctx, const char *quantity, const char *label, double x,
                    double measured, double predicted, double tol) {
  fprintf(ctx->csv, "%s,%s,%.17g,%.17g,%.17g,%.17g\n", quantity, label, x, measured, predicted,
          tol);
}

/* Least-squares slope of log y against log x. */
static double loglog_slope(const double *x, const double *y, size_t n) {
  double lx[16], ly[16], c0, c1, v00, v01, v11, ss;
  for (size_t i = 0; i < n; i++) {
    lx[i] = log(x[i]);
    ly[i] = log(y[i]);
  }
  if (gsl_fit_linear(lx, 1, ly, 1, n, &c0, &c1, &v00, &v01, &v11, &ss)) return NAN;
  return c1;
}

static bool cancelled(const sdv_check_ctx *ctx) { return ctx->cancel && *ctx->cancel; }

#define CANCEL_CHECK(ctx)                                                   \
  do {                                                                      \
    if (cancelled(ctx)) return SDV_ERROR(SDV_EINTR, "verify: interrupted"); \
  } while (0)

/* ---------------------------------------------------------------------------------------
 * Claim 8: linear speedup in N, and the sharpened O(eta^2) gap between discrete and SDE
 * ------------------------------------------------------------------------------------- */

static int run_speedup(const sdv_check_ctx *ctx, sdv_check_result *res) {
  enum { NN = 4, NE = 2, D = 2 };
  static const size_t NS[NN] = {1, 2, 4, 8};
  static const double ETA[NE] = {0.04, 0.02}; /* ETA[1] is the main rung */
  static const double LAM[D] = {1.5, 2.385};
  const double sigma = 1.7, nu_g = INFINITY, ell = t_ell(nu_g);
  const char *obj = "quadratic:lam=1.5,2.385";
  csv_header(ctx);

  /* s[side][n][e][j]: exact stationary E x_j^2; lev[side][n]: E f at the main rung. */
  double s[2][NN][NE][D], lev[2][NN];
  const sdv_observable obs[3] = {
      {.kind = SDV_OBS_F}, {.kind = SDV_OBS_X2, .index = 0}, {.kind = SDV_OBS_X2, .index = 1}};
  for (size_t n = 0; n < NN; n++)
    for (size_t e = 0; e < NE; e++)
      for (int side = 0; side < 2; side++) {
        CANCEL_CHECK(ctx);
        sdv_model *m = NULL;
        int rc = make_model(&m, "dsignsgd", D, NS[n], ETA[e], obj, "gaussian", "1.7", NULL,
                            "0.3,-0.2", sdv_check_seed(ctx, "dsignsgd-speedup", 0));
        if (rc) return rc;
        double v[3];
        rc =
            sdv_exact_stationary(m, side ? SDV_SIDE_SDE : SDV_SIDE_DISCRETE, obs, 3, v, NULL, NULL);
        sdv_model_free(m);
        if (rc) return rc;
        s[side][n][e][0] = v[1];
        s[side][n][e][1] = v[2];
        if (e == NE - 1) lev[side][n] = v[0];
      }

  /* (1) Levels against eta d sigma_H / (4 N ell). The O(eta) relative correction is
   * (eta A/N)(pi/8 - 1/2) for the SDE and (eta A/N)(pi/8 + (N-1)/2) for the discrete chain,
   * both at most (eta A_max)/2 in size: tolerance eta A_max, twice that bound. */
  const double eta = ETA[NE - 1], amax = ell * LAM[D - 1] / sigma, tol = eta * amax;
  bool pass = true;
  double worst = 0.0, x[NN], yd[NN], ys[NN];
  for (size_t n = 0; n < NN; n++) {
    const double pred = eta * D * sigma / (4.0 * (double)NS[n] * ell);
    for (int side = 0; side < 2; side++) {
      const double r = lev[side][n] / pred - 1.0;
      if (fabs(r) > worst) worst = fabs(r);
      pass = pass && fabs(r) <= tol;
      csv_row(ctx, side ? "level_sde" : "level_disc", "gaussian", (double)NS[n], lev[side][n], pred,
              tol * pred);
    }
    x[n] = (double)NS[n];
    yd[n] = lev[0][n];
    ys[n] = lev[1][n];
  }
  /* (2) Halving: log-log slope in N. The corrections above differ between N = 1 and 8 by
   * less than (eta A_max)/2, so the slope is -1 within tol / ln 8 < tol. */
  const double slope = loglog_slope(x, yd, NN), slope_sde = loglog_slope(x, ys, NN);
  pass = pass && fabs(slope + 1.0) <= tol && fabs(slope_sde + 1.0) <= tol;
  csv_row(ctx, "slope_in_N", "discrete", NAN, slope, -1.0, tol);
  csv_row(ctx, "slope_in_N", "sde", NAN, slope_sde, -1.0, tol);

  /* (3) Sharpened: R = (s_disc - s_SDE) / (eta^2/(4N)) = 1 + O(eta). Richardson over the two
   * rungs removes the O(eta) term; the rest is O(eta^2): tolerance (ETA[0] A_j)^2. Also the
   * first-order coefficient of the discrete chain, c = (s_disc/s0 - 1)/(eta A/N), extrapolated
   * the same way, against pi/8 + (N-1)/2 (tolerance ETA[0] A_j, conservative for an
   * extrapolated quantity) -- and against the linearised Phase-3 SDE's -1/2 (the control). */
  double worst_r = 0.0, worst_c = 0.0, ctrl_gap = INFINITY;
  bool sharp = true, ctrl = true;
  for (size_t n = 0; n < NN; n++)
    for (size_t j = 0; j < D; j++) {
      const double N = (double)NS[n], A = ell * LAM[j] / sigma;
      double R[NE], c[NE];
      for (size_t e = 0; e < NE; e++) {
        const double s0 = ETA[e] * sigma / (2.0 * N * LAM[j] * ell);
        R[e] = (s[0][n][e][j] - s[1][n][e][j]) / (ETA[e] * ETA[e] / (4.0 * N));
        c[e] = (s[0][n][e][j] / s0 - 1.0) / (ETA[e] * A / N);
      }
      const double R0 = 2.0 * R[1] - R[0], c0 = 2.0 * c[1] - c[0];
      const double tr = ETA[0] * A * ETA[0] * A, tc = ETA[0] * A;
      const double cpred = M_PI / 8.0 + (N - 1.0) / 2.0;
      char lab[32];
      snprintf(lab, sizeof lab, "lam=%g", LAM[j]);
      csv_row(ctx, "R_eta_main", lab, N, R[1], 1.0, ETA[1] * A);
      csv_row(ctx, "R_extrapolated", lab, N, R0, 1.0, tr);
      csv_row(ctx, "c_disc_extrapolated", lab, N, c0, cpred, tc);
      csv_row(ctx, "c_disc_vs_linearised", lab, N, c0, -0.5, tc);
      sharp =
          sharp && fabs(R0 - 1.0) <= tr && fabs(R[1] - 1.0) <= ETA[1] * A && fabs(c0 - cpred) <= tc;
      if (fabs(R0 - 1.0) > worst_r) worst_r = fabs(R0 - 1.0);
      if (fabs(c0 - cpred) > worst_c) worst_c = fabs(c0 - cpred);
      /* Controls: the linearised SDE's coefficient -1/2, and a level independent of N or
       * proportional to 1/sqrt(N) (slopes 0 and -1/2). */
      ctrl = ctrl && fabs(c0 + 0.5) > tc;
      if (fabs(c0 + 0.5) / tc < ctrl_gap) ctrl_gap = fabs(c0 + 0.5) / tc;
    }
  ctrl = ctrl && fabs(slope) > tol && fabs(slope + 0.5) > tol;

  res->exact = true;
  snprintf(res->measured, sizeof res->measured,
           "log-log slope of the exact discrete stationary E f in N = 1,2,4,8 (lattice; "
           "Gaussian, sigma = 1.7, d = 2, eta = %g)",
           eta);
  res->value = res->lo = res->hi = slope;
  res->predicted = -1.0;
  snprintf(res->prediction, sizeof res->prediction,
           "E f_inf = eta d sigma_H/(4 N ell) (level halves per doubling: slope -1 +- %.3g)", tol);
  res->pass = pass && sharp;
  snprintf(res->control, sizeof res->control,
           "level independent of N (slope 0) or ~1/sqrt(N) (slope -1/2); linearised SDE's "
           "O(eta) coefficient -1/2 for the discrete chain");
  res->control_value = slope;
  res->control_rejected = ctrl;
  sdv_check_note(res,
                 "levels (lattice and quadrature, N = 1..8) within %.2g%% of the formula (tol "
                 "eta A_max = %.2g%%); SDE slope %.5f",
                 100.0 * worst, 100.0 * tol, slope_sde);
  sdv_check_note(
      res,
      "sharpened: (s_disc - s_SDE)/(eta^2/4N) extrapolated to eta -> 0 within %.2g of 1; "
      "discrete O(eta) coefficient within %.2g of pi/8 + (N-1)/2, and >= %.0f tolerances "
      "from the linearised SDE's -1/2",
      worst_r, worst_c, ctrl_gap);
  sdv_check_note(res, "exact comparisons: false-failure rate 0 (deterministic)");
  return SDV_OK;
}

/* ---------------------------------------------------------------------------------------
 * Claim 9: DSignSGD level linear in sigma, DSGD/DCSGD quadratic; where they cross
 * ------------------------------------------------------------------------------------- */

enum { NS_N = 2 }; /* agents in claim 9 */
static const double NS_ETA = 0.01, NS_LAM = 1.3;

typedef struct cross_case {
  const char *label;
  const char *noise;      /* the law of both methods */
  double nu;              /* INFINITY for Gaussian */
  const char *other;      /* "dsgd" or "dcsgd" */
  const char *compressor; /* for dcsgd */
  double omega;
  int rc; /* first failing status inside the root finder */
} cross_case;

static int ns_levels(const cross_case *c, double sigma, double *sign, double *other) {
  char sg[64];
  snprintf(sg, sizeof sg, "%.17g", sigma);
  int rc = exact_level(SDV_SIDE_DISCRETE, "dsignsgd", 1, NS_N, NS_ETA, "quadratic:lam=1.3",
                       c->noise, sg, NULL, "0.1", sign);
  if (rc) return rc;
  return exact_level(SDV_SIDE_DISCRETE, c->other, 1, NS_N, NS_ETA, "quadratic:lam=1.3", c->noise,
                     sg, c->compressor, "0.1", other);
}

/* log(sign level / other level) at sigma = exp(u): decreasing, 0 at the crossing. */
static double ns_gap(double u, void *p) {
  cross_case *c = p;
  double a, b;
  int rc = ns_levels(c, exp(u), &a, &b);
  if (rc) {
    if (!c->rc) c->rc = rc;
    return NAN;
  }
  return log(a / b);
}

static int ns_crossing(cross_case *c, double lo, double hi, double *sigma_star) {
  gsl_root_fsolver *s = gsl_root_fsolver_alloc(gsl_root_fsolver_brent);
  if (!s) return SDV_ERROR(SDV_ENOMEM, "noise-scaling: out of memory (root finder)");
  gsl_function F = {ns_gap, c};
  c->rc = SDV_OK;
  int rc = gsl_root_fsolver_set(s, &F, log(lo), log(hi)), st = GSL_CONTINUE;
  for (int it = 0; !rc && st == GSL_CONTINUE && it < 60; it++) {
    rc = gsl_root_fsolver_iterate(s);
    if (rc) break;
    st =
        gsl_root_test_interval(gsl_root_fsolver_x_lower(s), gsl_root_fsolver_x_upper(s), 1e-7, 0.0);
  }
  const double u = gsl_root_fsolver_root(s);
  gsl_root_fsolver_free(s);
  if (c->rc) return c->rc;
  if (rc || st != GSL_SUCCESS)
    return SDV_ERROR(SDV_ENUMERIC, "noise-scaling: crossing of %s not bracketed in [%g, %g] (%s)",
                     c->label, lo, hi, gsl_strerror(rc ? rc : st));
  *sigma_star = exp(u);
  return SDV_OK;
}

static int run_noise_scaling(const sdv_check_ctx *ctx, sdv_check_result *res) {
  enum { NG = 6, NC = 3 };
  static const double SIG[NG] = {0.35, 0.55, 0.9, 1.4, 2.2, 3.5};
  cross_case cases[NC] = {
      {"dsgd-gaussian", "gaussian", INFINITY, "dsgd", NULL, 0.0, 0},
      {"dcsgd-bernoulli-p0.5-gaussian", "gaussian", INFINITY, "dcsgd", "bernoulli:p=0.5", 1.0, 0},
      {"dsgd-t3", "student-t:nu=3", 3.0, "dsgd", NULL, 0.0, 0},
  };
  const double N = NS_N, eta = NS_ETA, lam = NS_LAM;
  csv_header(ctx);

  /* (1) Levels over the sigma grid (Gaussian), log-log slopes. DSGD/DCSGD levels are exactly
   * proportional to sigma^2 (linear recursions driven by the noise variance): tolerance 1e-9.
   * DSignSGD: level = s0 (1 + c eta ell lambda/sigma), |c| <= 1/2, so the local slope is
   * 1 - c eta ell lambda/sigma: tolerance eta ell lambda/sigma_min, twice that bound. */
  double lsign[NG], ldsgd[NG], ldcsgd[NG];
  for (size_t g = 0; g < NG; g++) {
    CANCEL_CHECK(ctx);
    int rc = ns_levels(&cases[0], SIG[g], &lsign[g], &ldsgd[g]);
    if (!rc) {
      double dummy;
      rc = ns_levels(&cases[1], SIG[g], &dummy, &ldcsgd[g]);
    }
    if (rc) return rc;
    const double ell = t_ell(INFINITY);
    csv_row(ctx, "level", "dsignsgd", SIG[g], lsign[g], eta * SIG[g] / (4.0 * N * ell), NAN);
    csv_row(ctx, "level", "dsgd", SIG[g], ldsgd[g], eta * SIG[g] * SIG[g] / (4.0 * N), NAN);
    csv_row(ctx, "level", "dcsgd", SIG[g], ldcsgd[g], eta * 2.0 * SIG[g] * SIG[g] / (4.0 * N), NAN);
  }
  const double tol_sign = eta * t_ell(INFINITY) * lam / SIG[0], tol_lin = 1e-9;
  const double sl_sign = loglog_slope(SIG, lsign, NG), sl_dsgd = loglog_slope(SIG, ldsgd, NG),
               sl_dcsgd = loglog_slope(SIG, ldcsgd, NG);
  csv_row(ctx, "slope", "dsignsgd", NAN, sl_sign, 1.0, tol_sign);
  csv_row(ctx, "slope", "dsgd", NAN, sl_dsgd, 2.0, tol_lin);
  csv_row(ctx, "slope", "dcsgd", NAN, sl_dcsgd, 2.0, tol_lin);
  bool pass = fabs(sl_sign - 1.0) <= tol_sign && fabs(sl_dsgd - 2.0) <= tol_lin &&
              fabs(sl_dcsgd - 2.0) <= tol_lin;

  /* (2) Crossings sigma* where the exact levels are equal, against
   * sigma* (1 + omega) v/sigma^2 = 1/ell_nu (v/sigma^2 = nu/(nu-2) for t_nu). log sigma* moves
   * by the difference of the two O(eta) relative corrections, DSignSGD's (from §6.3 at sigma*)
   * and eta lambda (1 + omega/N)/2 for DSGD/DCSGD: tolerance twice their sum. */
  double worst = 0.0;
  for (size_t k = 0; k < NC; k++) {
    CANCEL_CHECK(ctx);
    cross_case *c = &cases[k];
    const double vr = isinf(c->nu) ? 1.0 : c->nu / (c->nu - 2.0);
    const double pred = 1.0 / (t_ell(c->nu) * (1.0 + c->omega) * vr);
    double star = NAN;
    int rc = ns_crossing(c, SIG[0], SIG[NG - 1], &star);
    if (rc) return rc;
    const double sg[NS_N] = {pred, pred}, nu[NS_N] = {c->nu, c->nu};
    const sign_avg a = averages(NS_N, sg, nu);
    const sign_pred p = predict(&a, NS_N, eta, lam);
    const double tol = 2.0 * (p.first + eta * lam * (1.0 + c->omega / N) / 2.0);
    csv_row(ctx, "crossing_sigma", c->label, c->omega, star, pred, tol * pred);
    pass = pass && fabs(star / pred - 1.0) <= tol;
    if (fabs(star / pred - 1.0) > worst) worst = fabs(star / pred - 1.0);
    sdv_check_note(res, "%s: sigma* = %.5f vs %.5f (tol %.2g%%)", c->label, star, pred,
                   100.0 * tol);
  }

  res->exact = true;
  snprintf(res->measured, sizeof res->measured,
           "log-log slope in sigma of the exact discrete DSignSGD level (lattice; sigma = "
           "0.35..3.5, N = 2, eta = 0.01)");
  res->value = res->lo = res->hi = sl_sign;
  res->predicted = 1.0;
  snprintf(res->prediction, sizeof res->prediction,
           "DSignSGD slope 1 (+- %.3g), DSGD/DCSGD slope 2; crossing sigma (1+omega) = 1/ell",
           tol_sign);
  res->pass = pass;
  snprintf(
      res->control, sizeof res->control,
      "wrong powers: DSignSGD level quadratic in sigma (slope 2), DSGD level linear (slope 1)");
  res->control_value = sl_sign;
  res->control_rejected = fabs(sl_sign - 2.0) > tol_sign && fabs(sl_dsgd - 1.0) > tol_lin &&
                          fabs(sl_dcsgd - 1.0) > tol_lin;
  sdv_check_note(res, "slopes: DSGD %.12f, DCSGD %.12f", sl_dsgd, sl_dcsgd);
  sdv_check_note(res, "exact comparisons: false-failure rate 0 (deterministic)");
  return SDV_OK;
}

/* ---------------------------------------------------------------------------------------
 * Claim 10: heterogeneous agents -- harmonic mean for DSignSGD, arithmetic for DSGD
 * ------------------------------------------------------------------------------------- */

static int run_harmonic(const sdv_check_ctx *ctx, sdv_check_result *res) {
  enum { N = 4 };
  static const double SIG[N] = {1.0, 2.0, 4.0, 8.0};
  const double nu[N] = {INFINITY, INFINITY, INFINITY, INFINITY};
  const double eta = 0.01, lam = 1.9, ell = t_ell(INFINITY);
  const double sigma_h = 32.0 / 15.0, sigma_a = 15.0 / 4.0, sigma2 = 85.0 / 4.0;
  csv_header(ctx);
  CANCEL_CHECK(ctx);
  double ld, ls, lg;
  int rc = exact_level(SDV_SIDE_DISCRETE, "dsignsgd", 1, N, eta, "quadratic:lam=1.9", "gaussian",
                       "1,2,4,8", NULL, "0.2", &ld);
  if (!rc)
    rc = exact_level(SDV_SIDE_SDE, "dsignsgd", 1, N, eta, "quadratic:lam=1.9", "gaussian",
                     "1,2,4,8", NULL, "0.2", &ls);
  if (!rc)
    rc = exact_level(SDV_SIDE_DISCRETE, "dsgd", 1, N, eta, "quadratic:lam=1.9", "gaussian",
                     "1,2,4,8", NULL, "0.2", &lg);
  if (rc) return rc;

  /* The effective scale each level implies: sigma_eff = level 4 N ell/(eta d). */
  const double sd = ld * 4.0 * N * ell / eta, ss = ls * 4.0 * N * ell / eta;
  const double s2 = lg * 4.0 * N / eta;
  const sign_avg a = averages(N, SIG, nu);
  const sign_pred p = predict(&a, N, eta, lam);
  /* Leading order: tolerance twice the predicted O(eta) correction (relative). Sharpened
   * (s_disc, s_SDE of §6.3, O(eta^2) remainder): a quarter of that correction, which is
   * still eta lambda/(2 N a1) ~ 1/160 of it times 40 -- room for an O(1) second-order
   * coefficient. */
  const double tol = 2.0 * p.first, tol2 = 0.25 * p.first;
  const double tol_g = eta * lam; /* DSGD: 2/(2 - eta lambda) - 1 ~ eta lambda/2, twice */
  const double sharp_d = (2.0 * ld / lam) / p.s_disc - 1.0,
               sharp_s = (2.0 * ls / lam) / p.s_sde - 1.0;
  csv_row(ctx, "sigma_eff", "dsignsgd-discrete", NAN, sd, sigma_h, tol * sigma_h);
  csv_row(ctx, "sigma_eff", "dsignsgd-sde", NAN, ss, sigma_h, tol * sigma_h);
  csv_row(ctx, "sigma2_eff", "dsgd-discrete", NAN, s2, sigma2, tol_g * sigma2);
  csv_row(ctx, "sharpened_rel_error", "dsignsgd-discrete", NAN, sharp_d, 0.0, tol2);
  csv_row(ctx, "sharpened_rel_error", "dsignsgd-sde", NAN, sharp_s, 0.0, tol2);
  csv_row(ctx, "control_arithmetic_mean", "dsignsgd-discrete", NAN, sd, sigma_a, tol * sigma_a);
  csv_row(ctx, "control_mean_sigma_squared", "dsgd-discrete", NAN, s2, sigma_a * sigma_a,
          tol_g * sigma_a * sigma_a);

  res->exact = true;
  snprintf(res->measured, sizeof res->measured,
           "effective scale 4 N ell E f_inf/(eta d) of the exact discrete DSignSGD level "
           "(lattice; sigma_i = 1,2,4,8, eta = %g)",
           eta);
  res->value = res->lo = res->hi = sd;
  res->predicted = sigma_h;
  snprintf(res->prediction, sizeof res->prediction,
           "sigma_H = 32/15 = %.6f (tol %.2g%%); DSGD: sigma2_bar = 85/4 = 21.25", sigma_h,
           100.0 * tol);
  res->pass = fabs(sd / sigma_h - 1.0) <= tol && fabs(ss / sigma_h - 1.0) <= tol &&
              fabs(sharp_d) <= tol2 && fabs(sharp_s) <= tol2 && fabs(s2 / sigma2 - 1.0) <= tol_g;
  snprintf(res->control, sizeof res->control,
           "arithmetic mean of the scales 15/4 for DSignSGD; (mean sigma)^2 = 225/16 for DSGD");
  res->control_value = sd / sigma_a;
  res->control_rejected =
      fabs(sd / sigma_a - 1.0) > tol && fabs(s2 / (sigma_a * sigma_a) - 1.0) > tol_g;
  sdv_check_note(res,
                 "SDE (quadrature) sigma_eff %.6f; sharpened s_disc, s_SDE within %.2g, %.2g "
                 "relative (tol %.2g); DSGD sigma2_eff %.5f (tol %.2g%%)",
                 ss, sharp_d, sharp_s, tol2, s2, 100.0 * tol_g);
  sdv_check_note(res, "exact comparisons: false-failure rate 0 (deterministic)");
  return SDV_OK;
}

/* ---------------------------------------------------------------------------------------
 * Claim 11: one outlier agent
 * ------------------------------------------------------------------------------------- */

/* Rate of the drift ODE's mean decay from a Phase-3 start: -log(x(t)/x0)/t at t = 1. */
static int ode_rate(size_t agents, const char *noise, const char *sigma, double lam, double x0,
                    double *rate) {
  const double eta = 0.01;
  char obj[64], xs[64];
  snprintf(obj, sizeof obj, "quadratic:lam=%.17g", lam);
  snprintf(xs, sizeof xs, "%.17g", x0);
  sdv_model *m = NULL;
  int rc = make_model(&m, "dsignsgd", 1, agents, eta, obj, noise, sigma, NULL, xs, 1);
  if (rc) return rc;
  const size_t steps[2] = {0, 100};
  double mean[2];
  rc = sdv_exact_moments(m, SDV_SIDE_ODE, steps, 2, mean, NULL, NULL, NULL);
  sdv_model_free(m);
  if (rc) return rc;
  *rate = -log(mean[1] / mean[0]) / (100.0 * eta);
  return SDV_OK;
}

static int run_outlier(const sdv_check_ctx *ctx, sdv_check_result *res) {
  enum { NO = 3, N = 4, NGOOD = 3 };
  static const double OUT[NO] = {1e2, 1e4, 1e6};
  static const double GOOD[NGOOD] = {1.0, 1.5, 2.0};
  const double eta = 0.01, lam = 1.9, ell = t_ell(INFINITY);
  const char *obj = "quadratic:lam=1.9";
  csv_header(ctx);
  double inv_good = 0.0;
  for (size_t i = 0; i < NGOOD; i++) inv_good += 1.0 / GOOD[i];
  const double limit = eta / (4.0 * ell * inv_good);
  const double gnu[NGOOD] = {INFINITY, INFINITY, INFINITY};
  const sign_avg ag = averages(NGOOD, GOOD, gnu);
  const sign_pred pg = predict(&ag, NGOOD, eta, lam);

  bool pass = true, ctrl = true;
  double worst = 0.0, lsign[NO + 1], sig2[NO], lg[NO], lc[NO];
  for (size_t k = 0; k <= NO; k++) {
    CANCEL_CHECK(ctx);
    /* k < NO: Gaussian outlier of scale OUT[k]; k == NO: Cauchy outlier of scale 1e6. */
    const double so = k < NO ? OUT[k] : 1e6;
    const char *noise = k < NO ? "gaussian" : "gaussian;gaussian;gaussian;cauchy";
    char sg[96];
    snprintf(sg, sizeof sg, "1,1.5,2,%.17g", so);
    int rc = exact_level(SDV_SIDE_DISCRETE, "dsignsgd", 1, N, eta, obj, noise, sg, NULL, "0.2",
                         &lsign[k]);
    if (rc) return rc;
    const double sa[N] = {1.0, 1.5, 2.0, so},
                 na[N] = {INFINITY, INFINITY, INFINITY, k < NO ? INFINITY : 1.0};
    const sign_avg a = averages(N, sa, na);
    const sign_pred p = predict(&a, N, eta, lam);
    const double full = eta / (4.0 * N * a.a1); /* eta d sigma_H/(4 N ell), outlier included */
    /* Leading order: tolerance twice the predicted O(eta) correction. */
    const double tol = 2.0 * p.first;
    pass = pass && fabs(lsign[k] / full - 1.0) <= tol;
    if (fabs(lsign[k] / full - 1.0) > worst) worst = fabs(lsign[k] / full - 1.0);
    csv_row(ctx, "dsignsgd_level", k < NO ? "gaussian-outlier" : "cauchy-outlier", so, lsign[k],
            full, tol * full);
    /* At 1e6 the outlier's own weight 1/sigma_o is ~5e-7 of the good agents': the level is
     * the good agents' limit eta d/(4 ell sum_good 1/sigma_i). */
    if (so >= 1e6) {
      pass = pass && fabs(lsign[k] / limit - 1.0) <= tol;
      csv_row(ctx, "dsignsgd_level_vs_limit", k < NO ? "gaussian-outlier" : "cauchy-outlier", so,
              lsign[k], limit, tol * limit);
      /* Control: the outlier counted as one more good agent (N = 4 at the good agents'
       * harmonic mean), i.e. a level 3/4 of the true one. */
      const double wrong = limit * (double)NGOOD / (double)N;
      ctrl = ctrl && fabs(lsign[k] / wrong - 1.0) > tol;
      res->control_value = lsign[k] / wrong;
    }
    if (k < NO) {
      /* DSGD and DCSGD (Bernoulli p = 1/2): exact discrete levels. */
      sig2[k] = (1.0 + 2.25 + 4.0 + so * so) / N;
      if ((rc = exact_level(SDV_SIDE_DISCRETE, "dsgd", 1, N, eta, obj, "gaussian", sg, NULL, "0.2",
                            &lg[k])) ||
          (rc = exact_level(SDV_SIDE_DISCRETE, "dcsgd", 1, N, eta, obj, "gaussian", sg,
                            "bernoulli:p=0.5", "0.2", &lc[k])))
        return rc;
      csv_row(ctx, "dsgd_level", "gaussian-outlier", so, lg[k], eta * sig2[k] / (4.0 * N),
              eta * lam * eta * sig2[k] / (4.0 * N));
      csv_row(ctx, "dcsgd_level", "gaussian-outlier", so, lc[k], eta * 2.0 * sig2[k] / (4.0 * N),
              eta * lam * 1.25 * eta * 2.0 * sig2[k] / (4.0 * N));
      pass = pass && fabs(lg[k] / (eta * sig2[k] / (4.0 * N)) - 1.0) <= eta * lam &&
             fabs(lc[k] / (eta * 2.0 * sig2[k] / (4.0 * N)) - 1.0) <= eta * lam * 1.25;
    }
  }
  /* DSGD/DCSGD grow like sigma2_bar: log-log slope 1 (exactly: linear in the variances). */
  const double gl = loglog_slope(sig2, lg, NO), gc = loglog_slope(sig2, lc, NO);
  csv_row(ctx, "slope_vs_sigma2_bar", "dsgd", NAN, gl, 1.0, 1e-9);
  csv_row(ctx, "slope_vs_sigma2_bar", "dcsgd", NAN, gc, 1.0, 1e-9);
  pass = pass && fabs(gl - 1.0) <= 1e-9 && fabs(gc - 1.0) <= 1e-9;

  /* The good agents alone (N_g = 3, same eta) reach the same level. */
  CANCEL_CHECK(ctx);
  double lgood;
  int rc = exact_level(SDV_SIDE_DISCRETE, "dsignsgd", 1, NGOOD, eta, obj, "gaussian", "1,1.5,2",
                       NULL, "0.2", &lgood);
  if (rc) return rc;
  const double tolg = 2.0 * pg.first;
  csv_row(ctx, "good_agents_alone_level", "gaussian", NAN, lgood, limit, tolg * limit);
  pass = pass && fabs(lgood / limit - 1.0) <= tolg;

  /* Phase-3 speed: drift-ODE decay rate with the outlier against the good agents alone, from
   * |Y| = 0.02 (cubic correction kappa Y^2 ~ 7e-5, and it cancels in the ratio since the
   * outlier's drift is 1e-6 of theirs): ratio N_g/N to 1e-5. */
  double r_out, r_good;
  const double x0 = 0.02 / lam;
  if ((rc = ode_rate(N, "gaussian", "1,1.5,2,1e6", lam, x0, &r_out)) ||
      (rc = ode_rate(NGOOD, "gaussian", "1,1.5,2", lam, x0, &r_good)))
    return rc;
  const double speed_ratio = r_out / r_good;
  csv_row(ctx, "phase3_rate_ratio", "outlier/good-alone", NAN, speed_ratio,
          (double)NGOOD / (double)N, 1e-5);
  csv_row(ctx, "phase3_rate", "good-alone", NAN, r_good, lam * ag.a1, 1e-3 * lam * ag.a1);
  pass = pass && fabs(speed_ratio - 0.75) <= 1e-5 && fabs(r_good / (lam * ag.a1) - 1.0) <= 1e-3;

  res->exact = true;
  snprintf(res->measured, sizeof res->measured,
           "exact discrete DSignSGD level (lattice) with one agent of scale 1e6 (Gaussian; and "
           "Cauchy), good sigma = 1,1.5,2, eta = %g",
           eta);
  res->value = res->lo = res->hi = lsign[NO - 1];
  res->predicted = limit;
  snprintf(res->prediction, sizeof res->prediction,
           "eta d/(4 ell sum_good 1/sigma_i) = %.6g (the good agents alone; tol %.2g%%)", limit,
           100.0 * 2.0 * pg.first);
  res->pass = pass;
  snprintf(res->control, sizeof res->control,
           "outlier counted as a good agent: eta d sigma_H,good/(4 N ell) with N = 4 (ratio "
           "measured/control shown)");
  res->control_rejected = ctrl;
  sdv_check_note(res,
                 "worst level deviation %.2g%%; Cauchy outlier level %.6g; good agents alone "
                 "%.6g; Phase-3 rate ratio %.7f (N_g/N = 0.75)",
                 100.0 * worst, lsign[NO], lgood, speed_ratio);
  sdv_check_note(res, "DSGD/DCSGD levels ~ sigma2_bar^%.9f, ^%.9f", gl, gc);
  sdv_check_note(res, "exact comparisons: false-failure rate 0 (deterministic)");
  return SDV_OK;
}

/* ---------------------------------------------------------------------------------------
 * Claim 13: slope and cubic coefficient of the Student-t drift; the Gaussian limit
 * ------------------------------------------------------------------------------------- */

/* Fits m(y)/y = c0 + c1 y^2 + c2 y^4 on y = 0.005 k, k = 1..10, by least squares (normal
 * equations in u = y^2 / u_max, well conditioned at this size): ell = c0, kappa = -c1/c0.
 * The omitted y^6 term moves c0 by O(u_max^3) ~ 2e-8 and c1/c0 by O(u_max^2) ~ 6e-6
 * (coefficients <= 1 for every law here); m/y itself has relative accuracy ~1e-15. */
static void fit_slope(const sdv_noise *nz, double *ell, double *kappa) {
  enum { K = 10 };
  const double umax = 0.05 * 0.05;
  double M[3][4] = {{0}};
  for (int k = 1; k <= K; k++) {
    const double y = 0.005 * k, u = y * y / umax, r = sdv_noise_sign_mean(nz, y) / y;
    const double b[3] = {1.0, u, u * u};
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 3; j++) M[i][j] += b[i] * b[j];
      M[i][3] += b[i] * r;
    }
  }
  for (int p = 0; p < 3; p++) /* Gaussian elimination; the matrix is SPD */
    for (int i = p + 1; i < 3; i++) {
      const double f = M[i][p] / M[p][p];
      for (int j = p; j < 4; j++) M[i][j] -= f * M[p][j];
    }
  double c[3];
  for (int i = 2; i >= 0; i--) {
    double s = M[i][3];
    for (int j = i + 1; j < 3; j++) s -= M[i][j] * c[j];
    c[i] = s / M[i][i];
  }
  *ell = c[0];
  *kappa = -(c[1] / umax) / c[0];
}

static int run_t_drift(const sdv_check_ctx *ctx, sdv_check_result *res) {
  enum { NNU = 8, NBIG = 4 };
  static const double NU[NNU] = {1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 10.0, INFINITY};
  static const double BIG[NBIG] = {1e2, 1e3, 1e4, 1e5};
  const double tol_ell = 1e-7, tol_kappa = 1e-4; /* relative; see fit_slope */
  csv_header(ctx);
  bool pass = true, ctrl = true;
  double worst_l = 0.0, worst_k = 0.0, ell1 = NAN;
  for (size_t k = 0; k < NNU; k++) {
    char spec[64];
    if (isinf(NU[k]))
      snprintf(spec, sizeof spec, "gaussian");
    else
      snprintf(spec, sizeof spec, "student-t:nu=%g", NU[k]);
    sdv_noise *nz = NULL;
    int rc = sdv_noise_alloc(&nz, spec);
    if (rc) return rc;
    double ell, kappa;
    fit_slope(nz, &ell, &kappa);
    sdv_noise_free(nz);
    const double pl = t_ell(NU[k]), pk = t_kappa(NU[k]);
    csv_row(ctx, "ell", spec, NU[k], ell, pl, tol_ell * pl);
    csv_row(ctx, "kappa", spec, NU[k], kappa, pk, tol_kappa * pk);
    pass = pass && fabs(ell / pl - 1.0) <= tol_ell && fabs(kappa / pk - 1.0) <= tol_kappa;
    if (fabs(ell / pl - 1.0) > worst_l) worst_l = fabs(ell / pl - 1.0);
    if (fabs(kappa / pk - 1.0) > worst_k) worst_k = fabs(kappa / pk - 1.0);
    /* Control: the Gaussian slope and cubic coefficient for every finite nu. */
    if (!isinf(NU[k]))
      ctrl = ctrl && fabs(ell / t_ell(INFINITY) - 1.0) > tol_ell &&
             fabs(kappa / t_kappa(INFINITY) - 1.0) > tol_kappa;
    if (NU[k] == 1.0) ell1 = ell;
  }

  /* Gaussian limit: sup over y in [0, 8] of |m_nu - m_Gauss| and 1 - ell_nu/ell_Gauss both
   * decay like 1/nu (the t_nu density is the Gaussian's times 1 + O(1/nu)); log-log slopes in
   * nu over 1e2..1e5 against -1, tolerance 0.05 (the O(1/nu^2) remainder at nu = 100), and
   * nu (1 - ell_nu/ell_G) -> 1/4 (Gamma-ratio expansion), within 1e-3 at nu = 1e5. */
  sdv_noise *g = NULL;
  int rc = sdv_noise_alloc(&g, "gaussian");
  if (rc) return rc;
  double sup[NBIG], dl[NBIG], lastc = NAN;
  for (size_t k = 0; k < NBIG; k++) {
    char spec[64];
    snprintf(spec, sizeof spec, "student-t:nu=%g", BIG[k]);
    sdv_noise *nz = NULL;
    if ((rc = sdv_noise_alloc(&nz, spec))) {
      sdv_noise_free(g);
      return rc;
    }
    double s = 0.0;
    for (int i = 1; i <= 800; i++) {
      const double y = 0.01 * i, dv = fabs(sdv_noise_sign_mean(nz, y) - sdv_noise_sign_mean(g, y));
      if (dv > s) s = dv;
    }
    sup[k] = s;
    dl[k] = 1.0 - sdv_noise_ell(nz) / sdv_noise_ell(g);
    lastc = BIG[k] * dl[k];
    sdv_noise_free(nz);
    csv_row(ctx, "sup_drift_gap_to_gaussian", spec, BIG[k], s, NAN, NAN);
    csv_row(ctx, "nu_times_ell_gap", spec, BIG[k], BIG[k] * dl[k], 0.25, 1e-3);
  }
  sdv_noise_free(g);
  const double s_sup = loglog_slope(BIG, sup, NBIG), s_dl = loglog_slope(BIG, dl, NBIG);
  csv_row(ctx, "gaussian_limit_slope", "sup_drift_gap", NAN, s_sup, -1.0, 0.05);
  csv_row(ctx, "gaussian_limit_slope", "ell_gap", NAN, s_dl, -1.0, 0.05);
  pass =
      pass && fabs(s_sup + 1.0) <= 0.05 && fabs(s_dl + 1.0) <= 0.05 && fabs(lastc - 0.25) <= 1e-3;

  res->exact = true;
  snprintf(res->measured, sizeof res->measured,
           "slope at 0 of the noise law's 2F_nu - 1 (polynomial fit at |y| <= 0.05), nu = 1 "
           "(Cauchy)");
  res->value = res->lo = res->hi = ell1;
  res->predicted = t_ell(1.0);
  snprintf(res->prediction, sizeof res->prediction,
           "ell_nu = 2 Gamma((nu+1)/2)/(sqrt(nu pi) Gamma(nu/2)) = 2/pi for nu = 1; kappa_nu = "
           "(nu+1)/(6 nu) (nu = 1,2,2.5,3,4,5,10,Gaussian)");
  res->pass = pass;
  snprintf(res->control, sizeof res->control,
           "Gaussian ell = sqrt(2/pi) and kappa = 1/6 for every finite nu");
  res->control_value = ell1 / t_ell(INFINITY);
  res->control_rejected = ctrl;
  sdv_check_note(res,
                 "worst relative errors: ell %.2g (tol %.0e), kappa %.2g (tol %.0e); Gaussian "
                 "limit: sup|m_nu - m_G| ~ nu^%.4f, 1 - ell_nu/ell_G ~ nu^%.4f, nu(1 - "
                 "ell_nu/ell_G) = %.5f at nu = 1e5 (-> 1/4)",
                 worst_l, tol_ell, worst_k, tol_kappa, s_sup, s_dl, lastc);
  sdv_check_note(res, "deterministic: false-failure rate 0");
  (void)ctx;
  return SDV_OK;
}

/* ---------------------------------------------------------------------------------------
 * Claim 14: DSignSGD phases (Gaussian, N = 1)
 * ------------------------------------------------------------------------------------- */

static int run_phases(const sdv_check_ctx *ctx, sdv_check_result *res) {
  const double sigma = 2.385, lam = 1.7, eta = 0.05, Y0 = 8.0;
  const double x0 = Y0 * sigma / lam, edge = 1.5 * sigma / lam;
  /* Predictions evaluated from erf (theory §8) and the stated decimals they must round to. */
  const double tail15 = erfc(1.5 / M_SQRT2), lo_speed = erf(1.5 / M_SQRT2), ell = t_ell(INFINITY);
  csv_header(ctx);
  char xs[64];
  snprintf(xs, sizeof xs, "%.17g", x0);
  sdv_model *m = NULL;
  sdv_work *w = NULL;
  double *tt = NULL, *xo = NULL, *xd = NULL;
  size_t *steps = NULL;
  int rc = make_model(&m, "dsignsgd", 1, 1, eta, "quadratic:lam=1.7", "gaussian", "2.385", NULL, xs,
                      sdv_check_seed(ctx, "phases", 0));
  if (rc) return rc;
  if ((rc = sdv_work_alloc(&w, m))) goto done;
  bool pass = true;

  /* (a) Phase 1, |Y| >= 3/2: |b + sign| = 1 - |m| <= 1 - erf(1.5/sqrt2) = 0.133614 and the
   * diffusion 1 - m^2 <= 0.249376 (max over Y in [1.5, 40], attained at 1.5). Evaluated on
   * the model's own drift. Tolerance: the stated 6 decimals. */
  double worst_tail = 0.0, worst_var = 0.0;
  for (int i = 0; i <= 385; i++) {
    const double Y = 1.5 + 0.1 * i, x = Y * sigma / lam;
    double b;
    sdv_model_drift(m, w, &x, &b);
    const double t = fabs(b + 1.0), v = sdv_noise_sign_var(m->noise[0], Y);
    if (t > worst_tail) worst_tail = t;
    if (v > worst_var) worst_var = v;
  }
  csv_row(ctx, "phase1_max_drift_gap", "Y>=1.5", 1.5, worst_tail, 0.133614, 5e-7);
  csv_row(ctx, "phase1_max_diffusion", "Y>=1.5", 1.5, worst_var, 0.249376, 5e-7);
  pass = pass && worst_tail <= tail15 * (1.0 + 1e-12) && fabs(tail15 - 0.133614) <= 5e-7 &&
         fabs(worst_var - 0.249376) <= 5e-7;

  /* (b) Phase-1 speed on the drift ODE and on the exact discrete mean (lattice), from
   * Y0 = 8 until 90% of the predicted phase length t1 ~ x0 - 1.5 sigma/lambda: every
   * chord speed in [erf(1.5/sqrt2), 1] = [0.866, 1]; the time to reach Y = 1.5 within
   * [t1, t1/0.866]. */
  enum { NT = 181 };
  steps = malloc(NT * sizeof *steps);
  tt = malloc(NT * sizeof *tt);
  xo = malloc(NT * sizeof *xo);
  xd = malloc(NT * sizeof *xd);
  if (!steps || !tt || !xo || !xd) {
    rc = SDV_ERROR(SDV_ENOMEM, "phases: out of memory");
    goto done;
  }
  const double t1 = x0 - edge;
  const size_t kmax = (size_t)(t1 / 0.866 / eta) + 20;
  for (size_t i = 0; i < NT; i++) {
    steps[i] = i * kmax / (NT - 1);
    tt[i] = (double)steps[i] * eta;
  }
  if ((rc = sdv_exact_moments(m, SDV_SIDE_ODE, steps, NT, xo, NULL, NULL, NULL)) ||
      (rc = sdv_exact_moments(m, SDV_SIDE_DISCRETE, steps, NT, xd, NULL, NULL, NULL)))
    goto done;
  double smin = INFINITY, smax = 0.0, dmin = INFINITY, dmax = 0.0, t_hit = NAN;
  for (size_t i = 0; i + 1 < NT; i++) {
    if (isnan(t_hit) && xo[i + 1] <= edge)
      t_hit = tt[i] + (tt[i + 1] - tt[i]) * (xo[i] - edge) / (xo[i] - xo[i + 1]);
    if (tt[i + 1] > 0.9 * t1) continue;
    const double so = (xo[i] - xo[i + 1]) / (tt[i + 1] - tt[i]);
    const double sd = (xd[i] - xd[i + 1]) / (tt[i + 1] - tt[i]);
    csv_row(ctx, "phase1_speed", "ode", tt[i], so, NAN, NAN);
    csv_row(ctx, "phase1_speed", "discrete-exact", tt[i], sd, NAN, NAN);
    smin = fmin(smin, so);
    smax = fmax(smax, so);
    dmin = fmin(dmin, sd);
    dmax = fmax(dmax, sd);
  }
  csv_row(ctx, "phase1_min_speed", "ode", NAN, smin, lo_speed, NAN);
  csv_row(ctx, "phase1_max_speed", "ode", NAN, smax, 1.0, NAN);
  csv_row(ctx, "phase1_min_speed", "discrete-exact", NAN, dmin, lo_speed, NAN);
  csv_row(ctx, "phase1_max_speed", "discrete-exact", NAN, dmax, 1.0, NAN);
  csv_row(ctx, "phase1_duration", "ode", NAN, t_hit, t1, NAN);
  /* Rounding of the chord differences: 1e-12 relative on the upper bound. */
  pass = pass && smin >= lo_speed && smax <= 1.0 + 1e-12 && dmin >= lo_speed &&
         dmax <= 1.0 + 1e-12 && t_hit >= t1 && t_hit <= t1 / lo_speed &&
         fabs(lo_speed - 0.866) <= 5e-4;
  /* Control: the Phase-3 linear model dx/dt = -ell lambda x/sigma predicts the time to reach
   * Y = 1.5 as log(Y0/1.5) sigma/(ell lambda), far outside [t1, t1/0.866]. */
  const double t_lin = log(Y0 / 1.5) * sigma / (ell * lam);
  csv_row(ctx, "control_linear_model_duration", "phase3-linear", NAN, t_hit, t_lin, NAN);
  const bool ctrl = !(t_lin >= t1 && t_lin <= t1 / lo_speed) && fabs(t_hit / t_lin - 1.0) > 0.5;

  /* (c) Linear overshoot ell Y / erf(Y/sqrt2) - 1 at Y = 1 and 1/2 from the model's drift:
   * 16.9% and 4.2% (within half a unit of the last stated digit). */
  double over[2];
  const double YS[2] = {1.0, 0.5}, STATED[2] = {0.169, 0.042};
  for (int k = 0; k < 2; k++) {
    const double x = YS[k] * sigma / lam;
    double b;
    sdv_model_drift(m, w, &x, &b);
    over[k] = ell * YS[k] / (-b) - 1.0;
    csv_row(ctx, "linear_overshoot", "gaussian", YS[k], over[k], STATED[k], 5e-4);
    pass = pass && fabs(over[k] - STATED[k]) <= 5e-4;
  }

  /* (d) Sandwich: for 0 < |Y| <= Yc, (m(Yc)/Yc) |Y| <= |m(Y)| <= ell |Y| (concavity), on a grid
   * of 400 points for Yc = 1/2, 1, 3/2; secant at 1/2 = 0.765850. Also the Phase-2 affine
   * secant 0.367392|Y| + 0.315297 with max error 0.0142 on [1, 3/2]. */
  size_t viol = 0;
  const double YC[3] = {0.5, 1.0, 1.5};
  for (int c = 0; c < 3; c++) {
    const double sec = sdv_noise_sign_mean(m->noise[0], YC[c]) / YC[c];
    if (c == 0) csv_row(ctx, "secant_slope", "Y0=0.5", 0.5, sec, 0.765850, 5e-7);
    if (c == 0) pass = pass && fabs(sec - 0.765850) <= 5e-7;
    for (int i = 1; i <= 400; i++) {
      const double Y = YC[c] * i / 400.0, mv = sdv_noise_sign_mean(m->noise[0], Y);
      if (mv < sec * Y * (1.0 - 1e-14) || mv > ell * Y * (1.0 + 1e-14)) viol++;
    }
  }
  double p2 = 0.0;
  for (int i = 0; i <= 500; i++) {
    const double Y = 1.0 + 0.001 * i;
    p2 = fmax(p2, fabs(sdv_noise_sign_mean(m->noise[0], Y) - (0.367392 * Y + 0.315297)));
  }
  csv_row(ctx, "sandwich_violations", "Y0=0.5|1|1.5", NAN, (double)viol, 0.0, 0.0);
  csv_row(ctx, "phase2_secant_max_error", "1..1.5", NAN, p2, 0.0142, 5e-5);
  pass = pass && viol == 0 && fabs(p2 - 0.0142) <= 5e-5;

  res->exact = true;
  snprintf(res->measured, sizeof res->measured,
           "slowest Phase-1 speed of |x| on the drift ODE from Y0 = 8 (sigma = 2.385, lambda = "
           "1.7); also on the exact discrete mean");
  res->value = res->lo = res->hi = smin;
  res->predicted = NAN;
  snprintf(res->prediction, sizeof res->prediction,
           "speed in [erf(1.5/sqrt2), 1] = [%.6f, 1]; drift gap <= %.6f; overshoot 16.9%%, 4.2%%",
           lo_speed, tail15);
  res->pass = pass;
  snprintf(res->control, sizeof res->control,
           "Phase-3 linear model: time to reach Y = 1.5 is log(Y0/1.5) sigma/(ell lambda) = %.4g",
           t_lin);
  res->control_value = t_lin;
  res->control_rejected = ctrl;
  sdv_check_note(res,
                 "ODE speed [%.6f, %.6f], discrete mean speed [%.6f, %.6f]; Y = 1.5 reached at t "
                 "= %.4f (pred [%.4f, %.4f]); drift gap max %.6f, diffusion max %.6f; overshoot "
                 "%.4f%%, %.4f%%; sandwich violations %zu; Phase-2 secant error %.5f",
                 smin, smax, dmin, dmax, t_hit, t1, t1 / lo_speed, worst_tail, worst_var,
                 100.0 * over[0], 100.0 * over[1], viol, p2);
  sdv_check_note(res, "deterministic: false-failure rate 0");
  rc = SDV_OK;
done:
  free(steps);
  free(tt);
  free(xo);
  free(xd);
  sdv_work_free(w);
  sdv_model_free(m);
  return rc;
}

/* ---------------------------------------------------------------------------------------
 * Claim 12: heavy tails, nu <= 2
 * ------------------------------------------------------------------------------------- */

/* Nested Monte Carlo sample sizes (path i is the same path in every run) and groups. */
enum { HT_NM = 4, HT_GROUPS = 64, HT_FLAG_FROM = 1 };
static const size_t HT_M[HT_NM] = {2048, 8192, 32768, 131072};
/* DSGD/DCSGD setting: d = 1, N = 2, lambda = 1, eta = 0.2, x0 = 0.5, observed at k = 20. */
static const double HT_ETA = 0.2, HT_LAM = 1.0, HT_X0 = 0.5;
enum { HT_K = 20 };

static double ht_inside(void *user, size_t dim, const double *x) {
  (void)dim;
  return fabs(x[0]) <= *(const double *)user ? 1.0 : 0.0;
}

typedef struct ht_case {
  const char *label, *method, *noise, *compressor;
  bool heavy; /* nu <= 2: E f infinite */
  /* measured */
  bool flag[HT_NM];
  double mean[HT_NM], mom[HT_NM], stat[HT_NM], inside[HT_NM], inside_se[HT_NM];
} ht_case;

/* Runs the nested samples of one case: f and, when q is not NULL, the indicator |x| <= *q. */
static int ht_run(const sdv_check_ctx *ctx, ht_case *c, unsigned key, const double *q,
                  size_t scale) {
  char obj[64], xs[32];
  snprintf(obj, sizeof obj, "quadratic:lam=%.17g", HT_LAM);
  snprintf(xs, sizeof xs, "%.17g", HT_X0);
  sdv_model *m = NULL;
  int rc = make_model(&m, c->method, 1, 2, HT_ETA, obj, c->noise, "1", c->compressor, xs,
                      sdv_check_seed(ctx, "heavy-tails", key));
  if (rc) return rc;
  sdv_process_options po;
  sdv_process_options_default(&po);
  po.kind = SDV_PROCESS_DISCRETE;
  const size_t steps[2] = {0, HT_K};
  sdv_observable obs[2] = {
      {.kind = SDV_OBS_F},
      {.kind = SDV_OBS_USER, .fn = ht_inside, .user = (void *)q, .label = "inside"}};
  for (size_t s = 0; s < HT_NM && !rc; s++) {
    sdv_mc_options o;
    sdv_mc_options_default(&o);
    o.paths = HT_M[s] * scale;
    o.groups = HT_GROUPS;
    o.threads = (int)ctx->threads;
    o.cancel = ctx->cancel;
    sdv_mc_result *r = NULL;
    if ((rc = sdv_mc_run(&r, m, &po, steps, 2, obs, q ? 2 : 1, &o))) break;
    sdv_mc_summary sf, si;
    rc = sdv_mc_result_get(r, 1, 0, &sf);
    if (!rc && q) rc = sdv_mc_result_get(r, 1, 1, &si);
    sdv_mc_result_free(r);
    if (rc) break;
    c->flag[s] = sf.unstable;
    c->mean[s] = sf.mean;
    c->mom[s] = sf.mom;
    c->stat[s] = sf.tail_stat;
    c->inside[s] = q ? si.mean : NAN;
    c->inside_se[s] = q ? si.se : NAN;
  }
  sdv_model_free(m);
  return rc;
}

/* Median of |x| for x ~ Cauchy(mu, gamma): P(|x| <= q) = 1/2, by bisection. */
static double cauchy_abs_median(double mu, double gamma) {
  double lo = 0.0, hi = fabs(mu) + 1e3 * gamma;
  for (int it = 0; it < 200; it++) {
    const double q = 0.5 * (lo + hi);
    const double p = (atan((q - mu) / gamma) + atan((q + mu) / gamma)) / M_PI;
    if (p < 0.5)
      lo = q;
    else
      hi = q;
  }
  return 0.5 * (lo + hi);
}

static int run_heavy_tails(const sdv_check_ctx *ctx, sdv_check_result *res) {
  enum { NC = 5 };
  ht_case cs[NC] = {
      {.label = "dsgd-cauchy", .method = "dsgd", .noise = "cauchy", .heavy = true},
      {.label = "dcsgd-cauchy",
       .method = "dcsgd",
       .noise = "cauchy",
       .compressor = "bernoulli:p=0.5",
       .heavy = true},
      {.label = "dsgd-t1.5", .method = "dsgd", .noise = "student-t:nu=1.5", .heavy = true},
      {.label = "dcsgd-t1.5",
       .method = "dcsgd",
       .noise = "student-t:nu=1.5",
       .compressor = "bernoulli:p=0.5",
       .heavy = true},
      {.label = "dsgd-gaussian", .method = "dsgd", .noise = "gaussian", .heavy = false},
  };
  const size_t scale = ctx->full ? 4 : 1;
  csv_header(ctx);
  /* DSGD with Cauchy noise on a quadratic is affine in Cauchy draws, so x_k is exactly
   * Cauchy(q^k x0, sigma (1 - q^k)/lambda), q = 1 - eta lambda (the agents' mean of Cauchy(1)
   * draws is Cauchy(1)): the median of f = lambda x^2/2 is known exactly. */
  const double qk = pow(1.0 - HT_ETA * HT_LAM, HT_K);
  const double qmed = cauchy_abs_median(qk * HT_X0, (1.0 - qk) / HT_LAM);
  bool pass = true, ctrl = true;
  double min_growth = INFINITY, min_stat = INFINITY, max_spec_stat = 0.0, spec_growth = NAN;
  double worst_med = 0.0;
  for (size_t k = 0; k < NC; k++) {
    CANCEL_CHECK(ctx);
    ht_case *c = &cs[k];
    int rc = ht_run(ctx, c, (unsigned)k, k == 0 ? &qmed : NULL, scale);
    if (rc) return rc;
    /* Growth of the median of 64 group means between 2048 and 131072 paths: a finite mean
     * gives ratio -> 1 (Gaussian: 1 +- 0.04), E f = infinity with tail index nu/2 gives
     * 64^(2/nu - 1) asymptotically (64 for Cauchy, 4 for nu = 1.5). Decision rule: grows iff
     * ratio > 1.5. Flag: the engine's sqrt(n) max v^2/sum v^2 > 5, required (heavy) or
     * forbidden (Gaussian) at the sizes >= HT_FLAG_FROM: at 2048 paths a Gaussian sample
     * still flags with probability ~7e-4 (one |x| > 5.1 sd) and nu = 1.5 misses it with
     * probability ~1e-4; at 8192 both are < 2e-5. The 2048 value is reported. */
    const double growth = c->mom[HT_NM - 1] / c->mom[0];
    bool all = true, none = true;
    for (size_t s = 0; s < HT_NM; s++) {
      if (s >= HT_FLAG_FROM) {
        all = all && c->flag[s];
        none = none && !c->flag[s];
      }
      csv_row(ctx, "running_mean", c->label, (double)(HT_M[s] * scale), c->mean[s], NAN, NAN);
      csv_row(ctx, "median_of_means", c->label, (double)(HT_M[s] * scale), c->mom[s], NAN, NAN);
      csv_row(ctx, "tail_stat", c->label, (double)(HT_M[s] * scale), c->stat[s], 5.0, NAN);
      if (c->heavy && s >= HT_FLAG_FROM) min_stat = fmin(min_stat, c->stat[s]);
      if (!c->heavy && s >= HT_FLAG_FROM) max_spec_stat = fmax(max_spec_stat, c->stat[s]);
      if (k == 0) {
        /* Median test: P(|x_k| <= q_med) = 1/2 within 4.5 binomial standard errors at every
         * size (two-sided 6.8e-6 each). */
        const double se = sqrt(0.25 / (double)(HT_M[s] * scale));
        csv_row(ctx, "P(f<=exact_median)", c->label, (double)(HT_M[s] * scale), c->inside[s], 0.5,
                4.5 * se);
        pass = pass && fabs(c->inside[s] - 0.5) <= 4.5 * se;
        worst_med = fmax(worst_med, fabs(c->inside[s] - 0.5) / se);
      }
    }
    csv_row(ctx, "mom_growth_ratio", c->label, NAN, growth, c->heavy ? NAN : 1.0, NAN);
    if (c->heavy) {
      pass = pass && all && growth > 1.5;
      /* Control: a finite-mean model (E f < inf) predicts a settling mean: no flag, ratio ~ 1. */
      ctrl = ctrl && all && growth > 1.5;
      min_growth = fmin(min_growth, growth);
    } else {
      pass = pass && none && fabs(growth - 1.0) <= 0.5;
      spec_growth = growth;
    }
    sdv_check_note(res, "%s: flag %s, MoM x%.3g", c->label,
                   all    ? "on"
                   : none ? "off"
                          : "mixed",
                   growth);
  }

  /* nu = 3: E f is finite for DSGD (nu > 2) and its level uses the variance 3 sigma^2: the SDE's
   * exact stationary E f is 3 eta d sigma2_bar/(4N), the optimizer's that times 2/(2 - eta
   * lambda) (theory §6.1, §9.1). Both exact (linear solves): tolerance 1e-9 relative. Control
   * inside the same comparison: the scale taken as a standard deviation (level / 3). */
  double t3_worst = 0.0;
  {
    const double eta3 = 0.05, lam3 = 1.0, sb2 = (1.0 + 2.385 * 2.385) / 2.0;
    const double pred_sde = 3.0 * eta3 * sb2 / (4.0 * 2.0);
    const double pred_disc = pred_sde * 2.0 / (2.0 - eta3 * lam3);
    for (int side = 0; side < 2; side++) {
      CANCEL_CHECK(ctx);
      double lev;
      int rc = exact_level(side ? SDV_SIDE_SDE : SDV_SIDE_DISCRETE, "dsgd", 1, 2, eta3,
                           "quadratic:lam=1", "student-t:nu=3", "1,2.385", NULL, "0.2", &lev);
      if (rc) return rc;
      const double pred = side ? pred_sde : pred_disc;
      csv_row(ctx, "dsgd_t3_level_exact", side ? "sde" : "discrete", 3.0, lev, pred, 1e-9 * pred);
      pass = pass && fabs(lev / pred - 1.0) <= 1e-9;
      ctrl = ctrl && fabs(lev / (pred / 3.0) - 1.0) > 1e-9;
      t3_worst = fmax(t3_worst, fabs(lev / pred - 1.0) / 1e-9);
    }
    sdv_check_note(res, "DSGD t3 level 3 eta d sigma2_bar/(4N) (SDE; x 2/(2 - eta lambda) "
                        "discrete): %.3g tol",
                   t3_worst);
  }

  /* DSignSGD: finite level, exact (lattice) and Monte Carlo. N = 2, sigma = (1, 2.385),
   * lambda = 1, eta = 0.05. Exact vs formula: tolerance twice the predicted O(eta) term. */
  const double eta = 0.05, sg[2] = {1.0, 2.385};
  const double nus[2] = {1.0, 1.5};
  const char *spec[2] = {"cauchy", "student-t:nu=1.5"};
  double level_c = NAN, pred_c = NAN, tol_c = NAN;
  for (int v = 0; v < 2; v++) {
    CANCEL_CHECK(ctx);
    double lev;
    int rc = exact_level(SDV_SIDE_DISCRETE, "dsignsgd", 1, 2, eta, "quadratic:lam=1", spec[v],
                         "1,2.385", NULL, "0.2", &lev);
    if (rc) return rc;
    const double nu2[2] = {nus[v], nus[v]};
    const sign_avg a = averages(2, sg, nu2);
    const sign_pred p = predict(&a, 2, eta, 1.0);
    const double pred = eta * a.sigma_h / (4.0 * 2.0 * t_ell(nus[v])), tol = 2.0 * p.first;
    csv_row(ctx, "dsignsgd_level_exact", spec[v], nus[v], lev, pred, tol * pred);
    pass = pass && fabs(lev / pred - 1.0) <= tol;
    if (v == 0) {
      level_c = lev;
      pred_c = pred;
      tol_c = tol;
      /* Cauchy: pred is eta d sigma_H pi/(8N); compare the two forms. */
      pass = pass && fabs(pred / (eta * a.sigma_h * M_PI / 16.0) - 1.0) <= 1e-14;
    }
  }
  /* Monte Carlo of the Cauchy DSignSGD at k = 300 steps from x0 = 0.2 (the second moment
   * relaxes by exp(-2 eta lambda a1 k) ~ 1e-6), against the exact lattice E f at the same k
   * (4.5 se, two-sided 6.8e-6: f is bounded by |x_k| <= x0 + k eta, so the CLT applies) and
   * against the formula (4.5 se plus the formula's tolerance). The flag must stay off. */
  CANCEL_CHECK(ctx);
  sdv_model *m = NULL;
  int rc = make_model(&m, "dsignsgd", 1, 2, eta, "quadratic:lam=1", "cauchy", "1,2.385", NULL,
                      "0.2", sdv_check_seed(ctx, "heavy-tails", 100));
  if (rc) return rc;
  const size_t steps[2] = {0, 300};
  const sdv_observable f = {.kind = SDV_OBS_F};
  double ex[2];
  rc = sdv_exact_eval(m, SDV_SIDE_DISCRETE, steps, 2, &f, 1, ex, NULL, NULL);
  sdv_process_options po;
  sdv_process_options_default(&po);
  sdv_mc_options o;
  sdv_mc_options_default(&o);
  o.paths = 16384 * scale;
  o.threads = (int)ctx->threads;
  o.cancel = ctx->cancel;
  sdv_mc_result *r = NULL;
  sdv_mc_summary su;
  if (!rc) rc = sdv_mc_run(&r, m, &po, steps, 2, &f, 1, &o);
  if (!rc) rc = sdv_mc_result_get(r, 1, 0, &su);
  sdv_mc_result_free(r);
  sdv_model_free(m);
  if (rc) return rc;
  const double z = 4.5;
  csv_row(ctx, "dsignsgd_level_mc_vs_exact_k300", "cauchy", 300, su.mean, ex[1], z * su.se);
  csv_row(ctx, "dsignsgd_level_mc_vs_formula", "cauchy", 300, su.mean, pred_c,
          z * su.se + tol_c * pred_c);
  const bool mc_ok = fabs(su.mean - ex[1]) <= z * su.se &&
                     fabs(su.mean - pred_c) <= z * su.se + tol_c * pred_c && !su.unstable;
  pass = pass && mc_ok;

  res->exact = false;
  snprintf(res->measured, sizeof res->measured,
           "DSignSGD (Cauchy, N = 2, sigma = 1, 2.385, eta = 0.05) level by Monte Carlo, 16384 "
           "paths at k = 300");
  res->value = su.mean;
  res->lo = su.mean - z * su.se;
  res->hi = su.mean + z * su.se;
  res->predicted = pred_c;
  snprintf(res->prediction, sizeof res->prediction,
           "eta d sigma_H pi/(8N) = %.6g (exact lattice %.6g); DSGD/DCSGD nu <= 2: E f = inf",
           pred_c, level_c);
  res->pass = pass;
  snprintf(res->control, sizeof res->control,
           "finite E f for DSGD/DCSGD with nu = 1, 1.5: mean would settle (no heavy-tail flag, "
           "median-of-means ratio ~ 1 over 64x more paths); value = smallest ratio seen");
  res->control_value = min_growth;
  res->control_rejected = ctrl;
  sdv_check_note(res,
                 "min tail stat %.3g (>5), min MoM growth %.3g (>1.5); Gaussian: max stat %.2g, "
                 "ratio %.3f; Cauchy median off by %.2f se; DSignSGD MC vs exact(k=300) %.6g; "
                 "flag %s",
                 min_stat, min_growth, max_spec_stat, spec_growth, worst_med, ex[1],
                 su.unstable ? "ON" : "off");
  sdv_check_note(res, "false-failure < 1e-3 (z = 4.5 tests 4e-5; flag/growth rules: see docs)");
  return SDV_OK;
}

const sdv_check sdv_checks_dsignsgd[] = {
    {"dsignsgd-speedup",
     "DSignSGD level eta d sigma_H/(4 N ell) halves when N doubles; s_disc - s_SDE = eta^2/(4N)",
     "dsignsgd", run_speedup},
    {"noise-scaling",
     "DSignSGD level linear in sigma, DSGD/DCSGD quadratic; crossing at sigma (1+omega) = 1/ell",
     "dsignsgd", run_noise_scaling},
    {"harmonic-mean",
     "heterogeneous sigma_i: DSignSGD level uses the harmonic mean, DSGD the mean variance",
     "dsignsgd", run_harmonic},
    {"outlier-agent",
     "an agent with huge noise: DSignSGD keeps the good agents' level, DSGD/DCSGD grow with it",
     "dsignsgd", run_outlier},
    {"heavy-tails",
     "nu <= 2: DSGD/DCSGD E f infinite (mean does not settle), DSignSGD level finite",
     "heavy-tails", run_heavy_tails},
    {"t-drift-slope",
     "2F_nu - 1 = ell_nu y (1 - kappa_nu y^2 + ...); Gaussian recovered as nu -> infinity",
     "dsignsgd", run_t_drift},
    {"phases", "DSignSGD phases (Gaussian, N = 1): SignGD-like, affine, linear", "dsignsgd",
     run_phases},
    {NULL, NULL, NULL, NULL},
};
