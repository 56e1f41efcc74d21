/* Claim-suite family "weak" (see verify/checks.h and docs/claims/weak.md): theory §11 claims
 * 1-3 (DSGD, DCSGD and DSignSGD are weak order 1 approximations of their SDEs) and the
 * diffusion-sensitive checks of §5 (T1, T2, T4) that an order-1 test alone cannot provide.
 *
 * Three kinds of measurement:
 *   order       the weak error e(eta) = E f(x_k) - E f(X_{k eta}) on a halving eta ladder:
 *               its fitted order (harness) and its limit e(eta)/eta as eta -> 0, compared
 *               with the deterministic Euler-bias constant (§5). Exact sides: Richardson
 *               extrapolation of e/eta (remainder O(eta^3)); Monte Carlo: weighted straight
 *               line e/eta = c0 + c1 eta with the intercept's standard error.
 *               Control: an SDE with a mis-specified drift, whose error does not vanish.
 *   fluctuation the harness statistic a/L (limit of the relative error of the noise-induced
 *               part [E f - f(noise-free)]/eta). Controls: drift ODE and 2x diffusion
 *               (built in), and where affordable the SDE without the compression channel.
 *   channel     DCSGD with pure compression noise (sigma = 0): Var(x_k) against Var(X_t)
 *               and against eta omega_bar lambda^2 x0^2 t e^{-2 lambda t}/N, exactly.
 *
 * Reference value: claim 1's example, d = 1, lambda = 2, x0 = 1, t = 1, gives the limit
 * -(1/2) lambda^3 x0^2 t e^{-2 lambda t} = -4 e^-4 = -0.0732626 (check dsgd-order).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/exact.h>
#include <sdv/weak.h>

#include "checks.h"
#include "checks_spec.h"
#include "checks_util.h"

/* False-failure budget of a check: 1e-4 (so 20 seeds x 4 Monte Carlo checks fail with
 * probability < 1%), split evenly between the Monte Carlo limit test and the harness's
 * fluctuation test (the harness spends STUDY_ALPHA on its two tests, order and fluctuation,
 * by Bonferroni: 5e-5 each, z = 4.06). */
#define STUDY_ALPHA 1e-4
/* Two-sided normal critical value at level 5e-5 (the Monte Carlo limit test). */
#define Z_LIMIT 4.0556269811224

/* Accuracy of the exact references (CVODE at rtol 1e-11; the recursions to rounding), with a
 * margin of 10: the error of an exact E g relative to |E g|. */
#define EXACT_VALUE_RTOL 1e-10

static const sdv_observable obs_f = {.kind = SDV_OBS_F};

/* ---- small helpers ---- */

static void weak_setup(sdv_weak_options *wo, const double *eta, size_t neta, const double *t,
                       bool controls) {
  sdv_weak_options_default(wo);
  wo->eta = eta;
  wo->neta = neta;
  wo->times = t;
  wo->ntimes = 1;
  wo->obs = &obs_f;
  wo->nobs = 1;
  wo->controls = controls;
  wo->alpha = STUDY_ALPHA;
}

/* -(1/2) sum_j lambda_j^3 x0_j^2 t e^{-2 lambda_j t}: the Euler-bias constant of the linear
 * drift -lambda x for g = f (theory §5 and claim 1), independent of noise and compression. */
static double quadratic_limit(const double *lam, const double *x0, size_t d, double t) {
  double s = 0.0;
  for (size_t j = 0; j < d; j++)
    s += -0.5 * lam[j] * lam[j] * lam[j] * x0[j] * x0[j] * t * exp(-2.0 * lam[j] * t);
  return s;
}

/* A study's model: method on the diagonal quadratic lam[d] (lam NULL: the objective spec obj),
 * agents with scales sigma[agents], from x0[nx0] (1 or d values); laws and compressors are
 * added by the caller. */
static int weak_model(mspec *v, const sdv_method_type *method, size_t d, const double *lam,
                      const char *obj, size_t agents, const double *sigma, const double *x0,
                      size_t nx0, uint64_t seed) {
  mspec_init(v, method, d, agents, 0.1, seed); /* eta: every rung sets its own */
  mspec_sigma(v, sigma, agents);
  mspec_x0(v, x0, nx0);
  return lam ? mspec_quadratic(v, lam) : mspec_objective(v, obj);
}

/* The limit of e(eta)/eta from a study's rows (test 0; rows sorted by decreasing eta), and
 * the tolerance of a test of that limit. Exact rows on a halving ladder: the second Richardson
 * extrapolant R2 of the three smallest rungs. Its remainder is O(eta^3), so the extrapolant of
 * the three rungs above, R2', has 8 times its error and |R2 - R2'| (= 7/8 of R2''s error) is at
 * least 7 times R2's own error: the tolerance is |R2 - R2'| plus the references' rounding,
 * EXACT_VALUE_RTOL max|E g| / eta_min times the extrapolation's weight sum 5. Needs 4 rungs.
 * Otherwise the weighted line e/eta = c0 + c1 eta (weights (eta/se_e)^2, covariance inflated by
 * the reduced chi-square); the tolerance is Z_LIMIT times its intercept's standard error;
 * *se is 0 for exact rows, else that standard error. */
static int weak_limit(const sdv_weak_result *w, double *lim, double *se, double *tol) {
  const size_t n = w->nrows;
  double x[64], y[64], s[64], big = 0.0;
  bool exact = true;
  for (size_t r = 0; r < n && r < 64; r++) {
    const sdv_weak_row *row = &w->rows[r];
    x[r] = row->eta;
    y[r] = row->err / row->eta;
    s[r] = row->err_se / row->eta;
    exact = exact && row->disc.exact && row->sde.exact;
    big = fmax(big, fmax(fabs(row->disc.mean), fabs(row->sde.mean)));
  }
  if (exact) {
    if (n < 4) return SDV_ERROR(SDV_EINVAL, "weak limit: exact extrapolation needs 4 rungs");
    for (size_t r = n - 4; r + 1 < n; r++)
      if (fabs(x[r] - 2.0 * x[r + 1]) > 1e-12 * x[r])
        return SDV_ERROR(SDV_EINVAL, "weak limit: eta = %g is not twice %g", x[r], x[r + 1]);
    const double r1a = 2.0 * y[n - 2] - y[n - 3], r1b = 2.0 * y[n - 1] - y[n - 2];
    const double r1z = 2.0 * y[n - 3] - y[n - 4];
    *lim = (4.0 * r1b - r1a) / 3.0;
    const double prev = (4.0 * r1a - r1z) / 3.0;
    *se = 0.0;
    *tol = fabs(*lim - prev) + 5.0 * EXACT_VALUE_RTOL * big / x[n - 1];
    return SDV_OK;
  }
  double c0, c1, s0, s1;
  size_t dof;
  int rc = sdv_weak_linfit(x, y, s, n, &c0, &c1, &s0, &s1, &dof);
  if (rc) return rc;
  *lim = c0;
  *se = s0;
  *tol = Z_LIMIT * s0;
  return SDV_OK;
}

/* Does the measured limit agree with the prediction within the tolerance? */
static bool limit_agrees(double lim, double tol, double pred) {
  return isfinite(lim) && isfinite(tol) && fabs(lim - pred) <= tol;
}

/* Size of a disagreement in tolerances. */
static double limit_distance(double lim, double tol, double pred) { return fabs(lim - pred) / tol; }

/* ---- the order measurement, shared by claims 1, 2 and 3 ---- */

typedef struct order_spec {
  const sdv_model_spec *disc;  /* the optimizer; its own SDE is the model under test */
  const sdv_model_spec *wrong; /* the SDE with a mis-specified drift (control) */
  const char *wrong_text;      /* what is wrong with it */
  const sdv_weak_options *wo;
  size_t wrong_paths; /* Monte Carlo paths for the control (0: as wo); its error is O(1) */
  double predicted;   /* the Euler-bias constant */
  const char *prediction;
} order_spec;

/* Runs the study with the model's own SDE and with the wrong one; fills res. The check
 * passes when the harness's order fit passes and the limit agrees with the prediction; the
 * control is rejected when either test gives a verdict against it. */
static int run_order(const sdv_check_ctx *ctx, sdv_check_result *res, const order_spec *sp) {
  sdv_weak_result *w = NULL, *wc = NULL;
  double lim, se, tol, clim, cse, ctol;
  int rc = sdv_check_weak(ctx, "model", sp->disc, NULL, sp->wo, &w);
  if (rc) goto done;
  if ((rc = weak_limit(w, &lim, &se, &tol))) goto done;
  sdv_weak_options wo = *sp->wo;
  wo.controls = false;
  if (sp->wrong_paths) wo.paths = sp->wrong_paths;
  if ((rc = sdv_check_weak(ctx, "control-wrong-drift", sp->disc, sp->wrong, &wo, &wc))) goto done;
  if ((rc = weak_limit(wc, &clim, &cse, &ctol))) goto done;

  const sdv_weak_test *T = &w->tests[0], *C = &wc->tests[0];
  const bool exact = se == 0.0;
  snprintf(res->measured, sizeof res->measured,
           "weak order %.3f (%zu rungs); lim (E f(x_k) - E f(X_t))/eta as eta -> 0 (%s)", T->slope,
           w->nrows,
           exact ? "Richardson, both sides exact" : "weighted line in eta, SDE Monte Carlo");
  snprintf(res->prediction, sizeof res->prediction, "%s = %.6g", sp->prediction, sp->predicted);
  res->predicted = sp->predicted;
  res->value = lim;
  res->exact = exact;
  res->lo = exact ? lim : lim - 1.959963984540054 * se;
  res->hi = exact ? lim : lim + 1.959963984540054 * se;
  const bool order_ok = T->order_verdict == SDV_VERDICT_PASS;
  const bool lim_ok = limit_agrees(lim, tol, sp->predicted);
  res->ratio = limit_distance(lim, tol, sp->predicted);
  res->pass = order_ok && lim_ok;
  snprintf(res->control, sizeof res->control, "%s", sp->wrong_text);
  res->control_value = clim;
  /* Rejected only by a verdict against it: an order fit that FAILs (resolved and too low),
   * or a limit that disagrees; an unresolved (INCONCLUSIVE) order rejects nothing. */
  const bool c_order_fail = C->order_verdict == SDV_VERDICT_FAIL;
  const bool c_lim_ok = limit_agrees(clim, ctol, sp->predicted);
  res->control_rejected = c_order_fail || !c_lim_ok;
  /* The control is rejected by whichever test is further beyond its tolerance. */
  res->control_ratio = limit_distance(clim, ctol, sp->predicted);
  if (c_order_fail && isfinite(C->order_ratio) && C->order_ratio > res->control_ratio)
    res->control_ratio = C->order_ratio;
  if (exact)
    sdv_check_note(res,
                   "limit test: |lim - pred| <= %.3g (exact sides: the change of the second "
                   "Richardson extrapolant from the rungs above, >= 7 x its O(eta^3) remainder, "
                   "plus the references' rounding); off by %.3g tolerances",
                   tol, limit_distance(lim, tol, sp->predicted));
  else
    sdv_check_note(res,
                   "limit test: |lim - pred| <= %.2f se (false-failure rate 5e-5); "
                   "lim = %.5g +- %.2g, %.2f se from pred",
                   Z_LIMIT, lim, se, limit_distance(lim, tol, sp->predicted));
  sdv_check_note(res, "order %.3f CI [%.3f, %.3f] %s (upper bound >= 0.75, level %g)", T->slope,
                 T->slope_lo, T->slope_hi, sdv_verdict_name(T->order_verdict), sp->wo->alpha);
  sdv_check_note(res, "control: order %.3f CI [%.3f, %.3f] %s, limit %.4g (%.3g %s from pred)",
                 C->slope, C->slope_lo, C->slope_hi, sdv_verdict_name(C->order_verdict), clim,
                 limit_distance(clim, ctol, sp->predicted), "tolerances");
  if (sp->wo->controls) {
    /* The order cannot see the diffusion (§5): the same study's fluctuation statistic must
     * pass too, and the built-in wrong diffusions (ODE, x2) must be rejected. */
    bool rej = w->ncontrols > 0;
    for (size_t c = 0; c < w->ncontrols; c++) rej = rej && w->controls[c].rejected;
    res->pass = res->pass && T->fluct_resolved && T->diffusion_verdict == SDV_VERDICT_PASS;
    res->control_rejected = res->control_rejected && rej;
    sdv_check_note(res, "fluctuation a/L = %.3g [%.3g, %.3g] %s; diffusion x0 (ODE) and x2 %s",
                   T->rel, T->rel_lo, T->rel_hi, sdv_verdict_name(T->diffusion_verdict),
                   rej ? "rejected" : "NOT rejected");
    snprintf(res->control, sizeof res->control, "%s; diffusion x0 (drift ODE) and x2",
             sp->wrong_text);
  }
done:
  sdv_weak_result_free(w);
  sdv_weak_result_free(wc);
  return rc;
}

/* ---- claim 1: DSGD ---- */

static int run_dsgd_order(const sdv_check_ctx *ctx, sdv_check_result *res) {
  static const double lam = 2.0, lam_wrong = 2.2, x0 = 1.0, t = 1.0;
  static const double eta[] = {0.04, 0.02, 0.01, 0.005, 0.0025};
  static const double sigma[2] = {0.7, 1.3};
  const uint64_t seed = sdv_check_seed(ctx, "dsgd-order", 0);
  mspec disc, wrong;
  int rc = weak_model(&disc, sdv_method_dsgd, 1, &lam, NULL, 2, sigma, &x0, 1, seed);
  const int rw = weak_model(&wrong, sdv_method_dsgd, 1, &lam_wrong, NULL, 2, sigma, &x0, 1, seed);
  if (!rc) rc = rw;
  sdv_weak_options wo;
  weak_setup(&wo, eta, sizeof eta / sizeof *eta, &t, false);
  char wtext[160], ptext[96];
  snprintf(wtext, sizeof wtext,
           "SDE of a mis-specified drift (lambda %g instead of %g): its error does not vanish, so "
           "order or limit must fail",
           lam_wrong, lam);
  snprintf(ptext, sizeof ptext,
           "-(1/2) lambda^3 x0^2 t e^{-2 lambda t} (lambda = %g, x0 = %g, t = %g)", lam, x0, t);
  const order_spec sp = {.disc = &disc.s,
                         .wrong = &wrong.s,
                         .wrong_text = wtext,
                         .wo = &wo,
                         .predicted = quadratic_limit(&lam, &x0, 1, t),
                         .prediction = ptext};
  if (!rc) rc = run_order(ctx, res, &sp);
  mspec_clear(&disc);
  mspec_clear(&wrong);
  return rc;
}

/* Fluctuation statistic of one study, folded into res (several studies: all must pass and
 * all controls must be rejected). L_pred is the closed-form limit of F_disc, checked to rtol. */
static void fold_fluct(sdv_check_result *res, const sdv_weak_result *w, const char *label,
                       double L_pred, double L_rtol, bool first) {
  const sdv_weak_test *T = &w->tests[0];
  bool ok = T->fluct_resolved && T->diffusion_verdict == SDV_VERDICT_PASS;
  if (isfinite(L_pred)) ok = ok && sdv_check_close(T->limit, L_pred, L_rtol);
  bool rej = w->ncontrols > 0;
  double cratio = NAN;
  for (size_t c = 0; c < w->ncontrols; c++) {
    rej = rej && w->controls[c].rejected;
    const double cr = w->controls[c].tests[0].intercept_ratio;
    if (isfinite(cr) && !(cratio <= cr)) cratio = cr;
  }
  /* measured/tol: the worst study's |a|/tol; control/tol: the weakest built-in control. */
  if (isfinite(T->intercept_ratio) && !(res->ratio >= T->intercept_ratio))
    res->ratio = T->intercept_ratio;
  if (isfinite(cratio) && !(res->control_ratio <= cratio)) res->control_ratio = cratio;
  if (first) {
    res->pass = ok;
    res->control_rejected = rej;
    res->value = T->rel;
    res->lo = T->rel_lo;
    res->hi = T->rel_hi;
    res->control_value = w->ncontrols ? w->controls[0].tests[0].rel : NAN;
  } else {
    res->pass = res->pass && ok;
    res->control_rejected = res->control_rejected && rej;
    /* Report the worst study: the one whose a/L is farthest from 0. */
    if (fabs(T->rel) > fabs(res->value)) {
      res->value = T->rel;
      res->lo = T->rel_lo;
      res->hi = T->rel_hi;
    }
  }
  sdv_check_note(res, "%s: a/L = %.3g [%.3g, %.3g] %s, L = %.5g +- %.2g", label, T->rel, T->rel_lo,
                 T->rel_hi, sdv_verdict_name(T->diffusion_verdict), T->limit, T->limit_se);
  if (isfinite(L_pred))
    sdv_check_note(res, "formula %.5g (%.2g off, tol %.2g)", L_pred, T->limit / L_pred - 1.0,
                   L_rtol);
  for (size_t c = 0; c < w->ncontrols; c++) {
    const sdv_weak_test *C = &w->controls[c].tests[0];
    const double sa = C->intercept_se;
    sdv_check_note(res, "x%g: a/L = %.3g (%s, %.0f se)", w->controls[c].diffusion_scale, C->rel,
                   w->controls[c].rejected ? "rejected" : "NOT rejected",
                   isfinite(sa) && sa > 0 ? fabs(C->intercept) / sa : INFINITY);
  }
}

static int run_dsgd_diffusion(const sdv_check_ctx *ctx, sdv_check_result *res) {
  static const double lam = 2.0, t = 1.0;
  static const double sigma[] = {0.5, 0.8, 1.2, 2.0};
  static const double eta[] = {0.04, 0.02, 0.01, 0.005};
  const size_t N = sizeof sigma / sizeof *sigma;
  static const struct {
    const char *noise, *label;
    double var_factor; /* Var T: 1 (Gaussian), nu/(nu - 2) (Student-t) */
  } laws[] = {{"gaussian", "gaussian", 1.0}, {"student-t:nu=5", "student-t nu=5", 5.0 / 3.0}};
  static const double x0 = 1.0;
  double s2 = 0.0;
  for (size_t i = 0; i < N; i++) s2 += sigma[i] * sigma[i] / (double)N;
  sdv_weak_options wo;
  weak_setup(&wo, eta, sizeof eta / sizeof *eta, &t, true);
  /* L = lim [E f(x_k) - f(xbar_k)]/eta = (lambda/2) lim Var(x_k)/eta
   *   = sigma2_bar (1 - e^{-2 lambda t}) / (4N)   (theory §6.1, per coordinate);
   * the unweighted line through exact F_disc leaves an O(eta_max^2) remainder. */
  const double L_rtol = 4.0 * (lam * eta[0]) * (lam * eta[0]);
  for (size_t k = 0; k < sizeof laws / sizeof *laws; k++) {
    mspec m;
    int rc = weak_model(&m, sdv_method_dsgd, 1, &lam, NULL, N, sigma, &x0, 1,
                        sdv_check_seed(ctx, "dsgd-diffusion", (unsigned)k));
    if (!rc) rc = mspec_noise(&m, laws[k].noise);
    sdv_weak_result *w = NULL;
    if (!rc) rc = sdv_check_weak(ctx, laws[k].label, &m.s, NULL, &wo, &w);
    mspec_clear(&m);
    if (rc) return rc;
    const double L_pred = laws[k].var_factor * s2 * (1.0 - exp(-2.0 * lam * t)) / (4.0 * N);
    fold_fluct(res, w, laws[k].label, L_pred, L_rtol, k == 0);
    sdv_weak_result_free(w);
  }
  res->exact = true;
  res->predicted = 0.0;
  snprintf(res->measured, sizeof res->measured,
           "a/L: relative error of the noise-induced part [E f - f(noise-free)]/eta as "
           "eta -> 0, DSGD, N = 4 heterogeneous sigma, Gaussian and t5, exact sides");
  snprintf(res->prediction, sizeof res->prediction,
           "a/L = 0 (order-1 diffusion), and L = Var(T) sigma2_bar (1 - e^{-2 lambda t})/(4N)");
  snprintf(res->control, sizeof res->control,
           "same studies with the SDE diffusion x0 (drift ODE) and x2");
  sdv_check_note(res,
                 "exact data: |a| tested against the fit's Richardson-type remainder plus the "
                 "exact routes' propagated numerical error (docs/math/weak.md); L tol 4 "
                 "(lambda eta_max)^2");
  return SDV_OK;
}

/* ---- claim 2: DCSGD ---- */

/* d = 3, heterogeneous curvatures and starts, N = 2 agents with different sigma; exact sides
 * (linear compressors). The wrong SDE has every lambda_j scaled by 1.1. */
enum { DC_D = 3 };
static int dcsgd_order(const sdv_check_ctx *ctx, sdv_check_result *res, const char *id,
                       const char *const *compressor, size_t ncompressor, const char *what) {
  static const double lam[DC_D] = {2.0, 1.0, 0.5}, x0[DC_D] = {1.0, -0.6, 0.8}, t = 1.0;
  static const double eta[] = {0.04, 0.02, 0.01, 0.005, 0.0025}, wrong_factor = 1.1;
  const size_t d = DC_D;
  double lamw[DC_D];
  for (size_t j = 0; j < d; j++) lamw[j] = wrong_factor * lam[j];
  static const double sigma[2] = {0.9, 1.4};
  const uint64_t seed = sdv_check_seed(ctx, id, 0);
  mspec disc, wrong;
  int rc = weak_model(&disc, sdv_method_dcsgd, d, lam, NULL, 2, sigma, x0, d, seed);
  const int rw = weak_model(&wrong, sdv_method_dcsgd, d, lamw, NULL, 2, sigma, x0, d, seed);
  if (!rc) rc = rw;
  for (size_t i = 0; !rc && i < ncompressor; i++)
    if (!(rc = mspec_compressor(&disc, compressor[i])))
      rc = mspec_compressor(&wrong, compressor[i]);
  sdv_weak_options wo;
  weak_setup(&wo, eta, sizeof eta / sizeof *eta, &t, true);
  char pred[200], om[48] = "", wtext[64];
  for (size_t i = 0; !rc && i < ncompressor; i++)
    snprintf(om + strlen(om), sizeof om - strlen(om), "%s%g", i ? ", " : "",
             sdv_compressor_omega(disc.comp[i]));
  snprintf(pred, sizeof pred,
           "-(1/2) sum_j lambda_j^3 x0_j^2 t e^{-2 lambda_j t} (same as DSGD; %s, omega%s = %s)",
           what, ncompressor > 1 ? "_i" : "", om);
  snprintf(wtext, sizeof wtext, "SDE of a mis-specified drift (every lambda_j x %g)", wrong_factor);
  const order_spec sp = {.disc = &disc.s,
                         .wrong = &wrong.s,
                         .wrong_text = wtext,
                         .wo = &wo,
                         .predicted = quadratic_limit(lam, x0, d, t),
                         .prediction = pred};
  if (!rc) rc = run_order(ctx, res, &sp);
  mspec_clear(&disc);
  mspec_clear(&wrong);
  return rc;
}

static int run_dcsgd_randk_order(const sdv_check_ctx *ctx, sdv_check_result *res) {
  static const size_t k = 1;
  char spec[32], what[32];
  snprintf(spec, sizeof spec, "rand-k:k=%zu", k);
  snprintf(what, sizeof what, "rand-%zu of %d", k, DC_D);
  const char *const randk[1] = {spec};
  return dcsgd_order(ctx, res, "dcsgd-randk-order", randk, 1, what);
}

static int run_dcsgd_bernoulli_order(const sdv_check_ctx *ctx, sdv_check_result *res) {
  static const double p[2] = {0.5, 0.25};
  char spec[2][32], what[48];
  for (size_t i = 0; i < 2; i++) snprintf(spec[i], sizeof spec[i], "bernoulli:p=%g", p[i]);
  snprintf(what, sizeof what, "Bernoulli p = %g, %g", p[0], p[1]);
  const char *const bern[2] = {spec[0], spec[1]};
  return dcsgd_order(ctx, res, "dcsgd-bernoulli-order", bern, 2, what);
}

/* Var(x_k) and Var(X_t) of coordinate 0, exactly. */
static int exact_var(const sdv_model_spec *ms, double eta, size_t k, sdv_side side, double *var) {
  sdv_model_spec o = *ms;
  o.eta = eta;
  sdv_model *m = NULL;
  int rc = sdv_model_alloc_spec(&m, &o);
  if (rc) return rc;
  double mean, second;
  rc = sdv_exact_moments(m, side, &k, 1, &mean, &second, NULL, NULL);
  sdv_model_free(m);
  if (rc) return rc;
  *var = second - mean * mean;
  return SDV_OK;
}

/* Slope of log y against log eta (unweighted: the data are exact). */
static int log_slope(const double *eta, const double *y, size_t n, double *slope) {
  double lx[16], ly[16], c0, s0, s1;
  size_t dof;
  for (size_t r = 0; r < n && r < 16; r++) {
    lx[r] = log(eta[r]);
    ly[r] = log(fabs(y[r]));
  }
  return sdv_weak_linfit(lx, ly, NULL, n, &c0, slope, &s0, &s1, &dof);
}

/* T4's setting (run_dcsgd_channel): f = lam x^2/2, x0, two agents. */
static const double CH_LAM = 2.0, CH_X0 = 1.0;

/* T4's rungs and verdict (run_dcsgd_channel). */
static int channel_rungs(const sdv_check_ctx *ctx, const sdv_model_spec *disc,
                         const sdv_model_spec *ctrl, sdv_check_result *res) {
  static const double lam = CH_LAM, x0 = CH_X0, t = 1.0, omega_bar = 2.0, N = 2.0;
  static const double eta[] = {0.04, 0.02, 0.01, 0.005, 0.0025};
  const size_t n = sizeof eta / sizeof *eta;
  double r[16], rcl[16];
  bool formula_ok = true;
  double worst_f = 0.0;
  fprintf(ctx->csv,
          "eta,t,step,var_disc,var_sde,var_formula,var_sde_control,rel_err_sde,"
          "rel_err_formula,formula_tol,rel_err_control\n");
  for (size_t i = 0; i < n; i++) {
    const size_t k = (size_t)nearbyint(t / eta[i]);
    double vd, vs, vc;
    int rc = exact_var(disc, eta[i], k, SDV_SIDE_DISCRETE, &vd);
    if (!rc) rc = exact_var(disc, eta[i], k, SDV_SIDE_SDE, &vs);
    if (!rc) rc = exact_var(ctrl, eta[i], k, SDV_SIDE_SDE, &vc);
    if (rc) return rc;
    /* Leading order: Var(X_t) = x0^2 e^{-2 lambda t} (e^{eps} - 1), eps = eta omega_bar
     * lambda^2 t / N, so the formula's relative error is eps/2 + O(eps^2) <= eps. */
    const double vf = eta[i] * omega_bar * lam * lam * x0 * x0 * t * exp(-2.0 * lam * t) / N;
    const double eps = eta[i] * omega_bar * lam * lam * t / N;
    r[i] = fabs(vd - vs) / vd;
    rcl[i] = fabs(vd - vc) / vd;
    const double rf = vs / vf - 1.0;
    formula_ok = formula_ok && fabs(rf) <= eps;
    if (fabs(rf) / eps > worst_f) worst_f = fabs(rf) / eps;
    fprintf(ctx->csv, "%.17g,%.17g,%zu,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g\n", eta[i],
            t, k, vd, vs, vf, vc, r[i], rf, eps, rcl[i]);
  }
  double slope, cslope;
  int rc = log_slope(eta, r, n, &slope);
  if (!rc) rc = log_slope(eta, rcl, n, &cslope);
  if (rc) return rc;
  /* The relative error must vanish at least linearly (slope >= 0.75, the harness's order
   * tolerance) and stay within the first-order bound on the last rung. Expanding both exact
   * variances (theory §6.2) gives Var x_k / Var X_t = 1 + eta (2 lambda - lambda^2 t) + O(eta^2):
   * the bound r_max = eta lambda max(2, lambda t) covers that term whatever its sign (here
   * lambda t = 2 cancels it, so the measured error is O(eta^2) and far inside). */
  const double r_max = eta[n - 1] * lam * fmax(2.0, lam * t);
  res->exact = true;
  res->value = slope;
  res->lo = res->hi = slope;
  res->predicted = NAN;
  snprintf(res->measured, sizeof res->measured,
           "DCSGD sigma = 0 (Bernoulli, omega_bar = %g, N = %g), exact Var x_k, Var X_t and "
           "formula on %zu rungs; value: slope of log |Var x_k - Var X_t|/Var x_k vs log eta",
           omega_bar, N, n);
  snprintf(res->prediction, sizeof res->prediction,
           "slope >= 0.75, rel. error <= %g at eta = %g; Var X_t ~ eta omega_bar lambda^2 x0^2 "
           "t e^{-2 lambda t}/N within eps = eta omega_bar lambda^2 t/N",
           r_max, eta[n - 1]);
  res->pass = slope >= 0.75 && r[n - 1] <= r_max && formula_ok;
  snprintf(res->control, sizeof res->control,
           "DSGD's SDE (no omega channel: Var X_t = 0) paired with the DCSGD optimizer");
  res->control_value = cslope;
  res->control_rejected = !(cslope >= 0.75 && rcl[n - 1] <= r_max);
  res->ratio = r[n - 1] / r_max;
  res->control_ratio = rcl[n - 1] / r_max;
  sdv_check_note(res, "rel. error of Var: %.3g at eta = %g, %.3g at eta = %g; slope %.3f", r[0],
                 eta[0], r[n - 1], eta[n - 1], slope);
  sdv_check_note(res,
                 "formula: worst |Var_SDE/formula - 1| / eps = %.3f (pass <= 1; "
                 "expected about 1/2)",
                 worst_f);
  sdv_check_note(res, "control: rel. error %.3g at eta = %g, slope %.3f", rcl[n - 1], eta[n - 1],
                 cslope);
  return SDV_OK;
}

/* T4: pure compression noise. With sigma = 0 every bit of variance comes from compressing
 * the signal, the omega (d_j f)^2 channel of the diffusion, invisible at leading order in
 * stationary E f. */
static int run_dcsgd_channel(const sdv_check_ctx *ctx, sdv_check_result *res) {
  static const double sigma[2] = {0.0, 0.0};
  mspec dv;
  int rc = weak_model(&dv, sdv_method_dcsgd, 1, &CH_LAM, NULL, 2, sigma, &CH_X0, 1,
                      sdv_check_seed(ctx, "dcsgd-channel", 0));
  /* omega_i = 1, 3: omega_bar = 2 */
  if (!rc && !(rc = mspec_compressor(&dv, "bernoulli:p=0.5")))
    rc = mspec_compressor(&dv, "bernoulli:p=0.25");
  const sdv_model_spec disc = dv.s;
  sdv_model_spec ctrl = disc; /* DSGD's SDE: the same drift, no compression channel */
  ctrl.method = sdv_method_dsgd;
  ctrl.compressor = NULL;
  ctrl.ncompressor = 0;
  if (!rc) rc = channel_rungs(ctx, &disc, &ctrl, res);
  mspec_clear(&dv);
  return rc;
}

/* QSGD and natural compression: no closed forms, both sides Monte Carlo (the SDE on the
 * generic sampled route). x0 = 0 makes the noise-induced part all of E f, so its relative
 * Monte Carlo error is sqrt(2/d)/sqrt(paths) whatever eta is (at x0 != 0 the mean's
 * fluctuations swamp it). Euler-Maruyama: on the sampled route Richardson's replicas get
 * independent increments (5x the variance), and the O(h) integrator bias is linear in eta,
 * so the line fit of the statistic absorbs it. */
/* nochan_required: whether the no-channel SDE must be rejected too (it always runs and is
 * reported); where the channel is too small for this study to resolve, the moments family
 * (onestep-dcsgd-nonlinear) tests it against an exact reference instead. */
static int dcsgd_mc(const sdv_check_ctx *ctx, sdv_check_result *res, const char *id,
                    const char *compressor, const char *what, size_t paths, size_t ctrl_paths,
                    bool nochan_required) {
  /* Four rungs: the reduced chi-square that inflates the line fit's interval has 2 degrees
   * of freedom, so an unlucky draw cannot widen it enough to hide the controls. */
  static const double eta[] = {0.2, 0.15, 0.1, 0.05}, t = 1.2;
  static const double sigma[2] = {0.8, 1.3}, x0 = 0.0;
  /* Small curvatures: the line fit's O((eta lambda)^2) remainder biases a/L; on the exact
   * Bernoulli analogue of this setting (p = 0.925, same ladder) it is -0.0015, against a
   * standard error of 0.007 (quick) and 0.0035 (--full). The range is the objective's own
   * spec (evenly spaced, as sdv list documents). */
  mspec dv;
  int rc = weak_model(&dv, sdv_method_dcsgd, 4, NULL, "quadratic:lam=0.3..0.6", 2, sigma, &x0, 1,
                      sdv_check_seed(ctx, id, 0));
  if (!rc) rc = mspec_compressor(&dv, compressor);
  const sdv_model_spec disc = dv.s;
  sdv_model_spec nochan = disc; /* DSGD's SDE: same drift and noise, no compression */
  nochan.method = sdv_method_dsgd;
  nochan.compressor = NULL;
  nochan.ncompressor = 0;
  sdv_weak_options wo;
  weak_setup(&wo, eta, sizeof eta / sizeof *eta, &t, true);
  wo.paths = ctx->full ? 4 * paths : paths;
  wo.integrator = sdv_integrator_euler;
  wo.substeps = 2;
  /* The built-in controls (ODE, x2) are off by 1 and -3 in a/L: a separate, smaller study
   * rejects them by tens of standard errors, so the large one need not pay for them. */
  const bool split = ctrl_paths < paths;
  wo.controls = !split;
  sdv_weak_result *w = NULL, *wc = NULL, *wb = NULL;
  if (rc || (rc = sdv_check_weak(ctx, "model", &disc, NULL, &wo, &w))) goto done;
  fold_fluct(res, w, what, NAN, 0, true);
  if (split) {
    sdv_weak_options wob = wo;
    wob.controls = true;
    wob.paths = ctx->full ? 4 * ctrl_paths : ctrl_paths;
    if ((rc = sdv_check_weak(ctx, "builtin-controls", &disc, NULL, &wob, &wb))) goto done;
    bool rej = wb->ncontrols > 0;
    for (size_t c = 0; c < wb->ncontrols; c++) {
      const sdv_weak_test *C = &wb->controls[c].tests[0];
      rej = rej && wb->controls[c].rejected;
      if (isfinite(C->intercept_ratio) && !(res->control_ratio <= C->intercept_ratio))
        res->control_ratio = C->intercept_ratio;
      sdv_check_note(res, "x%g (%zu paths): a/L = %.3g (%s, %.1f se)",
                     wb->controls[c].diffusion_scale, wob.paths, C->rel,
                     wb->controls[c].rejected ? "rejected" : "NOT rejected",
                     fabs(C->intercept) / C->intercept_se);
    }
    res->control_rejected = rej;
  }
  {
    sdv_weak_options woc = wo;
    woc.controls = false;
    /* Same discrete options and seed: identical optimizer estimates, a sharper contrast. */
    if ((rc = sdv_check_weak(ctx, "control-no-channel", &disc, &nochan, &woc, &wc))) goto done;
    const sdv_weak_test *C = &wc->tests[0];
    const bool rej = C->fluct_resolved && C->diffusion_verdict == SDV_VERDICT_FAIL;
    if (nochan_required) {
      res->control_rejected = res->control_rejected && rej;
      if (isfinite(C->intercept_ratio) && !(res->control_ratio <= C->intercept_ratio))
        res->control_ratio = C->intercept_ratio;
    }
    sdv_check_note(res, "no-channel SDE (DSGD's): a/L = %.3g [%.3g, %.3g] (%s, %.1f se%s)", C->rel,
                   C->rel_lo, C->rel_hi, rej ? "rejected" : "NOT rejected",
                   fabs(C->intercept) / C->intercept_se,
                   nochan_required ? ""
                                   : "; reported, not required: onestep-dcsgd-nonlinear tests "
                                     "this channel against an exact reference");
  }
  res->exact = false;
  res->predicted = 0.0;
  snprintf(res->measured, sizeof res->measured,
           "a/L: relative error of the noise-induced part E f/eta (x0 = 0), DCSGD %s, d = 4, "
           "N = 2, both sides Monte Carlo (%zu paths), eta = 0.2, 0.15, 0.1, 0.05, t = 1.2",
           what, wo.paths);
  snprintf(res->prediction, sizeof res->prediction,
           "a/L = 0: the SDE's diffusion (with E Phi_C(grad f + Z)) reproduces the optimizer's "
           "fluctuations to O(eta)");
  snprintf(res->control, sizeof res->control,
           nochan_required ? "SDE diffusion x0 (drift ODE) and x2; DSGD's SDE (no compression "
                             "channel)"
                           : "SDE diffusion x0 (drift ODE) and x2 (DSGD's SDE reported)");
  sdv_check_note(res,
                 "test: |a| <= z se(a) at level %g/2 (Bonferroni over order and "
                 "fluctuation), WLS interval inflated by the reduced chi-square",
                 wo.alpha);
done:
  sdv_weak_result_free(w);
  sdv_weak_result_free(wc);
  sdv_weak_result_free(wb);
  mspec_clear(&dv);
  return rc;
}

static int run_dcsgd_qsgd(const sdv_check_ctx *ctx, sdv_check_result *res) {
  /* The channel adds about 70% to the noise variance (d = 4, s = 1): a/L = 0.41 for DSGD's
   * SDE, resolved at 30 standard errors with 6000 paths. */
  return dcsgd_mc(ctx, res, "dcsgd-qsgd", "qsgd:s=1", "QSGD s = 1", 6000, 6000, true);
}

static int run_dcsgd_natural(const sdv_check_ctx *ctx, sdv_check_result *res) {
  /* Natural compression adds at most omega = 1/8 (8.2% for Gaussian noise) to the noise
   * variance, so DSGD's SDE gives a/L = 1 - 1/1.082 = 0.076. With the harness's curvature term
   * on four Monte Carlo rungs, 32000 paths put that at only 3-5 standard errors (it was
   * rejected in 18 of 20 calibration seeds): the no-channel control is reported here and
   * required in onestep-dcsgd-nonlinear, whose exact reference of E Phi_C(g + Z) rejects even a
   * 10% error of the whole diffusion variance. */
  return dcsgd_mc(ctx, res, "dcsgd-natural", "natural", "natural compression", 32000, 4000, false);
}

/* ---- claim 3: DSignSGD ---- */

/* Euler-bias constant lim [f(xbar_k) - f(x(t))]/eta of the model's mean drift (theory §5),
 * from the exact noise-free recursion and drift ODE at eta = t/1000 and t/2000, Richardson
 * extrapolated (remainder O(eta^2), about 1e-6 relative). */
static int euler_bias(const sdv_model_spec *base, double t, double *out) {
  double B[2];
  for (size_t k = 0; k < 2; k++) {
    sdv_model_spec o = *base;
    const size_t steps = 1000 * (k + 1);
    o.eta = t / (double)steps;
    sdv_model *m = NULL;
    double gn, go;
    int rc = sdv_model_alloc_spec(&m, &o);
    if (!rc) rc = sdv_exact_eval(m, SDV_SIDE_NOISEFREE, &steps, 1, &obs_f, 1, &gn, NULL, NULL);
    if (!rc) rc = sdv_exact_eval(m, SDV_SIDE_ODE, &steps, 1, &obs_f, 1, &go, NULL, NULL);
    sdv_model_free(m);
    if (rc) return rc;
    B[k] = (gn - go) / o.eta;
  }
  *out = 2.0 * B[1] - B[0];
  return SDV_OK;
}

/* Two studies. Order: x0 = (2, -1.5), Phase 2-3 where the Euler bias is largest relative to
 * the Monte Carlo noise; discrete side exact (lattice), SDE Monte Carlo (Richardson). Control:
 * the SDE built with the other noise law (a wrong drift 2F - 1). Fluctuation: x0 = 0, where
 * E f is all noise-induced; controls ODE and x2. */
static int dsignsgd(const sdv_check_ctx *ctx, sdv_check_result *res, const char *id,
                    const char *noise, const char *wrong_noise, const char *what) {
  /* The fluctuation ladder has 5 rungs because its ODE control is deterministic (x0 = 0 stays
   * 0) against an exact lattice: the harness then treats that study as exact and bounds its
   * intercept by the fit's remainder estimate (docs/math/weak.md), which needs enough rungs to
   * be small. Its line fit has an O(eta^2) remainder: a Fokker-Planck solution of the SDE against
   * the lattice gives a/L = -0.0038 on this ladder (-0.0072 on 0.3 ... 0.05), a quarter of the
   * quick tier's standard error. The order ladder is in the asymptotic regime: the same
   * Fokker-Planck solution gives e/eta = -0.2128, -0.2073, -0.2054, -0.2046 (Gaussian) and
   * -0.2005, -0.1977, -0.1969, -0.1966 (t3), a straight line in eta to 1e-3. */
  static const double eta[] = {0.4, 0.2, 0.1, 0.05}, eta_fl[] = {0.2, 0.15, 0.1, 0.075, 0.05},
                      t = 1.2;
  static const double lam[2] = {1.0, 1.5}, sigma[3] = {0.6, 1.0, 1.8}, x0[2] = {2.0, -1.5};
  static const double x0_fl = 0.0;
  const uint64_t seed = sdv_check_seed(ctx, id, 0);
  mspec disc, wrong;
  int rc = weak_model(&disc, sdv_method_dsignsgd, 2, lam, NULL, 3, sigma, x0, 2, seed);
  const int rw = weak_model(&wrong, sdv_method_dsignsgd, 2, lam, NULL, 3, sigma, x0, 2, seed);
  if (!rc) rc = rw;
  if (!rc && !(rc = mspec_noise(&disc, noise))) rc = mspec_noise(&wrong, wrong_noise);
  sdv_weak_options wo;
  weak_setup(&wo, eta, sizeof eta / sizeof *eta, &t, false);
  wo.paths = ctx->full ? 128000 : 32000;
  wo.substeps = 2;
  double pred;
  sdv_weak_result *wf = NULL;
  if (rc || (rc = euler_bias(&disc.s, t, &pred))) goto done;
  char wtext[200], ptext[200];
  snprintf(wtext, sizeof wtext, "SDE with the drift of the wrong noise law (%s)", wrong_noise);
  snprintf(ptext, sizeof ptext,
           "Euler-bias constant lim [f(xbar_k) - f(x(t))]/eta of the drift -mbar (%s)", what);
  const order_spec sp = {.disc = &disc.s,
                         .wrong = &wrong.s,
                         .wrong_text = wtext,
                         .wo = &wo,
                         .wrong_paths = wo.paths / 4,
                         .predicted = pred,
                         .prediction = ptext};
  if ((rc = run_order(ctx, res, &sp))) goto done;
  sdv_model_spec fl = disc.s;
  fl.x0 = &x0_fl;
  fl.nx0 = 1;
  fl.seed = sdv_check_seed(ctx, id, 1);
  sdv_weak_options wof = wo;
  wof.controls = true;
  wof.eta = eta_fl;
  wof.neta = sizeof eta_fl / sizeof *eta_fl;
  wof.paths = ctx->full ? 16000 : 4000;
  if ((rc = sdv_check_weak(ctx, "fluctuation-x0=0", &fl, NULL, &wof, &wf))) goto done;
  const sdv_weak_test *T = &wf->tests[0];
  bool rej = wf->ncontrols > 0;
  for (size_t c = 0; c < wf->ncontrols; c++) rej = rej && wf->controls[c].rejected;
  res->pass = res->pass && T->fluct_resolved && T->diffusion_verdict == SDV_VERDICT_PASS;
  res->control_rejected = res->control_rejected && rej;
  sdv_check_note(res, "fluctuation at x0 = 0: a/L = %.3g [%.3g, %.3g] %s", T->rel, T->rel_lo,
                 T->rel_hi, sdv_verdict_name(T->diffusion_verdict));
  for (size_t c = 0; c < wf->ncontrols; c++) {
    const sdv_weak_test *C = &wf->controls[c].tests[0];
    sdv_check_note(res, "x%g: a/L = %.3g (%s, %.1f se)", wf->controls[c].diffusion_scale, C->rel,
                   wf->controls[c].rejected ? "rejected" : "NOT rejected",
                   fabs(C->intercept) / C->intercept_se);
  }
  snprintf(res->control, sizeof res->control, "%s; at x0 = 0 diffusion x0 (drift ODE) and x2",
           wtext);
done:
  sdv_weak_result_free(wf);
  mspec_clear(&disc);
  mspec_clear(&wrong);
  return rc;
}

static int run_dsignsgd_order_gauss(const sdv_check_ctx *ctx, sdv_check_result *res) {
  return dsignsgd(ctx, res, "dsignsgd-order-gauss", "gaussian", "student-t:nu=3",
                  "Gaussian, erf drift");
}

static int run_dsignsgd_order_t3(const sdv_check_ctx *ctx, sdv_check_result *res) {
  return dsignsgd(ctx, res, "dsignsgd-order-t3", "student-t:nu=3", "gaussian",
                  "Student-t nu = 3, 2F_3 - 1 drift");
}

const sdv_check sdv_checks_weak[] = {
    {"dsgd-order",
     "DSGD is weak order 1; (E f(x_k) - E f(X_t))/eta -> -(1/2) sum lambda^3 x0^2 t "
     "e^{-2 lambda t}, independent of the noise",
     "weak", run_dsgd_order},
    {"dsgd-diffusion",
     "the DSGD diffusion reproduces the noise-induced part of E f to O(eta^2) "
     "(Gaussian and t5, heterogeneous agents)",
     "weak", run_dsgd_diffusion},
    {"dcsgd-randk-order",
     "DCSGD (rand-k) is weak order 1 with DSGD's limit constant, and its "
     "diffusion matches the fluctuations",
     "weak", run_dcsgd_randk_order},
    {"dcsgd-bernoulli-order",
     "DCSGD (Bernoulli, heterogeneous omega) is weak order 1 with "
     "DSGD's limit constant, and its diffusion matches the fluctuations",
     "weak", run_dcsgd_bernoulli_order},
    {"dcsgd-channel",
     "pure compression noise: Var(X_t) ~ eta omega_bar lambda^2 x0^2 t "
     "e^{-2 lambda t}/N matches Var(x_k); no omega channel gives 0",
     "weak", run_dcsgd_channel},
    {"dcsgd-qsgd",
     "the DCSGD SDE with QSGD reproduces the optimizer's fluctuations (sampled "
     "diffusion); DSGD's SDE does not",
     "weak", run_dcsgd_qsgd},
    {"dcsgd-natural",
     "the DCSGD SDE with natural compression reproduces the optimizer's "
     "fluctuations (sampled diffusion)",
     "weak", run_dcsgd_natural},
    {"dsignsgd-order-gauss",
     "DSignSGD (Gaussian noise, erf drift) is weak order 1 with the "
     "Euler-bias limit; its diffusion matches the fluctuations",
     "weak", run_dsignsgd_order_gauss},
    {"dsignsgd-order-t3",
     "DSignSGD (Student-t nu = 3, 2F_3 - 1 drift) is weak order 1 with the "
     "Euler-bias limit; its diffusion matches the fluctuations",
     "weak", run_dsignsgd_order_t3},
    {NULL, NULL, NULL, NULL},
};
