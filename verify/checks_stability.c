/* Claim-suite family "stationary", claim 7 (docs/claims/stationary.md): DCSGD's stability
 * thresholds in eta. With x = eta lambda_max, the discrete second moments are stable iff
 *     x (1 + omega_bar/N) < 2,
 * the SDE's iff x omega_bar/N < 2, and the mean iff x < 2. Reference value
 * (checked here): lambda = 1, omega = 4, N = 1 puts the discrete threshold at eta = 0.4 and the
 * SDE one at eta = 0.5. The thresholds are located by bisection on sdv's exact spectral radius,
 * without using the prediction; between them (eta = 0.45) Monte Carlo of log x^2 shows the
 * discrete paths diverging while the SDE stays stationary.
 */
#include <math.h>
#include <stdio.h>

#include <sdv/errors.h>
#include <sdv/exact.h>
#include <sdv/mc.h>
#include <sdv/model.h>
#include <sdv/process.h>
#include <sdv/stats.h>

#include "checks.h"
#include "checks_quadratic.h"
#include "checks_spec.h"
#include "checks_util.h"

/* Is the side of c at learning rate eta stable? */
static int stable_at(const cfg *base, double eta, sdv_side side, bool *stable, double *growth) {
  cfg c = *base;
  c.eta = eta;
  sdv_model *m = NULL;
  int rc = cfg_model(&c, 1, 1.0, &m);
  if (rc == SDV_OK) rc = sdv_exact_stability(m, side, growth, stable);
  check_model_free(m);
  return rc;
}

/* The stability threshold of a side in eta, located without using the prediction: from
 * eta = 1e-4 the bracket doubles until the side is unstable (up to eta = 1e4), then bisection
 * to 1e-12 relative. *thr = 0 if already unstable at 1e-4, INFINITY if stable up to 1e4. */
static const double BISECT_RTOL = 1e-12; /* the bisection's relative width (the note says it) */

static int threshold(const cfg *c, sdv_side side, double *thr) {
  bool st;
  double g, lo = 1e-4, hi;
  int rc;
  if ((rc = stable_at(c, lo, side, &st, &g))) return rc;
  if (!st) {
    *thr = 0.0;
    return SDV_OK;
  }
  for (hi = 2.0 * lo;; hi *= 2.0) {
    if (hi > 1e4) {
      *thr = INFINITY;
      return SDV_OK;
    }
    if ((rc = stable_at(c, hi, side, &st, &g))) return rc;
    if (!st) break;
    lo = hi;
  }
  while (hi - lo > BISECT_RTOL * hi) {
    const double mid = 0.5 * (lo + hi);
    if ((rc = stable_at(c, mid, side, &st, &g))) return rc;
    if (st)
      lo = mid;
    else
      hi = mid;
  }
  *thr = 0.5 * (lo + hi);
  return SDV_OK;
}

static double log_x2(void *user, size_t dim, const double *x) {
  (void)user;
  (void)dim;
  return log(x[0] * x[0]);
}

/* Monte Carlo of E log x^2 at steps 400 and 1200 on the discrete side (index 0) and the SDE
 * (index 1) of c: the slope per step, its standard error (the two steps' errors taken
 * unpaired: conservative) and the number of non-finite samples. */
static int log_x2_slopes(const sdv_check_ctx *ctx, const cfg *c, const char *id, double slope[2],
                         double se[2], uint64_t nonfinite[2]) {
  const size_t st[2] = {400, 1200};
  const sdv_observable lg = {.kind = SDV_OBS_USER, .fn = log_x2, .label = "log_x2"};
  sdv_mc_options mo;
  cfg_mc_defaults(ctx, &mo, ctx->full ? 1600 : 400);
  int rc = SDV_OK;
  for (int side = 0; side < 2 && !rc; side++) {
    sdv_process_options po;
    sdv_process_options_default(&po);
    if (side == 1) {
      po.kind = SDV_PROCESS_SDE;
      po.substeps = 5; /* h = 0.09: EM is mean-square stable here for h < 0.2 */
    }
    sdv_model *m = NULL;
    sdv_mc_result *mr = NULL;
    sdv_mc_summary s0, s1;
    if (!(rc = cfg_model(c, sdv_check_seed(ctx, id, 10 + (unsigned)side), 1.0, &m)) &&
        !(rc = sdv_mc_run(&mr, m, &po, st, 2, &lg, 1, &mo)) &&
        !(rc = sdv_mc_result_get(mr, 0, 0, &s0)) && !(rc = sdv_mc_result_get(mr, 1, 0, &s1))) {
      const double dk = (double)(st[1] - st[0]);
      slope[side] = (s1.mean - s0.mean) / dk;
      se[side] = sqrt(s0.se * s0.se + s1.se * s1.se) / dk;
      nonfinite[side] = s0.nonfinite + s1.nonfinite;
    }
    sdv_mc_result_free(mr);
    check_model_free(m);
  }
  return rc;
}

static int run_dcsgd_stability(const sdv_check_ctx *ctx, sdv_check_result *res) {
  const char *id = "dcsgd-stability";
  static const cfg cfgs[] = {
      /* the theory's example: lambda = 1, omega = 4, N = 1 */
      {"example", COMP_BERNOULLI, 0.1, 1, 1, {1.0}, {1.0}, {0.2}, {1.0}, NULL},
      {"het", COMP_BERNOULLI, 0.1, 2, 2, {0.7, 1.6}, {1.0, 0.5}, {0.2, 0.5}, {0}, NULL},
  };
  int rc = SDV_OK;
  bool pass = true, ctl = true;
  const double tol = 1e-9;
  const double eta_mid = 0.45; /* between the example's two thresholds */
  for (size_t k = 0; k < 2; k++) {
    const cfg *c = &cfgs[k];
    const cfg_means a = cfg_averages(c);
    const double lmax = cfg_lam_max(c), N = (double)c->N;
    const double pd = 2.0 / (lmax * (1.0 + a.ob / N)), ps = 2.0 * N / (lmax * a.ob);
    const double pm = 2.0 / lmax;
    double td, ts, tm;
    if ((rc = threshold(c, SDV_SIDE_DISCRETE, &td)) || (rc = threshold(c, SDV_SIDE_SDE, &ts)) ||
        (rc = threshold(c, SDV_SIDE_NOISEFREE, &tm)))
      return rc;
    const bool ok = sdv_check_close(td, pd, tol) && sdv_check_close(ts, ps, tol) &&
                    sdv_check_close(tm, pm, tol);
    cfg_csv_row(ctx, "exact", c, "disc_second_moment_threshold", td, 0.0, pd, tol,
                sdv_check_close(td, pd, tol));
    cfg_csv_row(ctx, "exact", c, "sde_second_moment_threshold", ts, 0.0, ps, tol,
                sdv_check_close(ts, ps, tol));
    cfg_csv_row(ctx, "exact", c, "mean_threshold", tm, 0.0, pm, tol, sdv_check_close(tm, pm, tol));
    /* Control: the naive rule eta lam_max < 2 for second moments. */
    const bool rej = !sdv_check_close(td, pm, tol);
    cfg_csv_row(ctx, "control", c, "disc_threshold_vs_naive_2/lam", td, 0.0, pm, tol, !rej);
    pass = pass && ok;
    ctl = ctl && rej;
    sdv_check_note(res, "%s: disc %.10g (pred %.10g), SDE %.10g (pred %.10g), mean %.10g", c->name,
                   td, pd, ts, ps, tm);
    if (k == 0) {
      res->value = res->lo = res->hi = td;
      res->predicted = pd;
      res->control_value = pm;
      snprintf(res->measured, sizeof res->measured,
               "discrete second-moment stability threshold in eta (bisection on the exact "
               "spectral radius), lam %g, omega %g, N %zu",
               lmax, a.ob, c->N);
      snprintf(res->prediction, sizeof res->prediction,
               "eta < 2/(lam (1 + omega_bar/N)) = %.6g; SDE eta < 2N/(lam omega_bar) = %.6g", pd,
               ps);
    }
  }

  /* At eta = 0.45 (between the thresholds): exact growth factors, then Monte Carlo. */
  {
    const cfg *c = &cfgs[0];
    const double eta = eta_mid, lam = c->lam[0], p = c->par[0];
    bool sd, ss;
    double gd, gs;
    if ((rc = stable_at(c, eta, SDV_SIDE_DISCRETE, &sd, &gd)) ||
        (rc = stable_at(c, eta, SDV_SIDE_SDE, &ss, &gs)))
      return rc;
    const double w = 1.0 / p - 1.0;
    const double gd_p = (1.0 - eta * lam) * (1.0 - eta * lam) + eta * eta * w * lam * lam;
    const double gs_p = -(2.0 * lam - eta * w * lam * lam);
    const bool ok_g = !sd && ss && sdv_check_close(gd, gd_p, tol) && sdv_check_close(gs, gs_p, tol);
    char row[2][48];
    snprintf(row[0], sizeof row[0], "disc_growth_eta%g", eta);
    snprintf(row[1], sizeof row[1], "sde_growth_rate_eta%g", eta);
    cfg_csv_row(ctx, "exact", c, row[0], gd, 0.0, gd_p, tol, ok_g);
    cfg_csv_row(ctx, "exact", c, row[1], gs, 0.0, gs_p, tol, ok_g);
    pass = pass && ok_g;
    ctl = ctl && !sd; /* the naive rule calls eta_mid stable */

    /* E log x_k^2: on a discrete path, |x| is multiplied by |1 - eta lam/p| w.p. p and by 1
     * otherwise once |x| dwarfs the noise, so E log x^2 grows by 2 p log|1 - eta lam/p| per
     * step (almost every path diverges); the SDE is stationary, E log X^2 constant. */
    cfg c45 = *c;
    c45.eta = eta;
    const double z = sdv_z_critical(ALPHA / 2.0);
    const double slope_p = 2.0 * p * log(fabs(1.0 - eta * lam / p));
    double slope[2], se[2];
    uint64_t nonfinite[2];
    if ((rc = log_x2_slopes(ctx, &c45, id, slope, se, nonfinite))) return rc;
    const bool ok_d = fabs(slope[0] - slope_p) <= z * se[0] && nonfinite[0] == 0;
    const bool ok_s = fabs(slope[1]) <= z * se[1] && nonfinite[1] == 0;
    cfg_csv_row(ctx, "mc", &c45, "disc_slope_E_log_x2_per_step", slope[0], se[0], slope_p,
                z * se[0], ok_d);
    cfg_csv_row(ctx, "mc", &c45, "sde_slope_E_log_x2_per_step", slope[1], se[1], 0.0, z * se[1],
                ok_s);
    pass = pass && ok_d && ok_s;
    sdv_check_note(res,
                   "eta %g: disc growth %.6g/step, SDE rate %.4g; MC slope of E log x^2: disc "
                   "%.5f ± %.1g (pred %.5f), SDE %.2g ± %.1g (pred 0), z = %.2f",
                   eta, gd, gs, slope[0], se[0], slope_p, slope[1], se[1], z);
  }
  res->exact = true;
  res->pass = pass;
  snprintf(res->control, sizeof res->control,
           "naive second-moment threshold eta lam_max < 2 (stable at eta = %g)", eta_mid);
  res->control_rejected = ctl;
  sdv_check_note(res, "thresholds by bisection to %g, compared with rtol %g", BISECT_RTOL, tol);
  return SDV_OK;
}

const sdv_check sdv_checks_stability[] = {
    {"dcsgd-stability",
     "DCSGD second moments: disc stable iff eta lam (1+omega/N) < 2, SDE iff eta lam omega/N < 2",
     "stationary", run_dcsgd_stability},
    {NULL, NULL, NULL, NULL},
};
