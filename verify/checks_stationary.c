/* Claim-suite family "stationary" (see verify/checks.h; docs/claims/stationary.md): stationary
 * levels, relaxation rates, stability thresholds and second-moment structure of DSGD and
 * DCSGD on quadratics (theory claims 4, 5, 6, 7 and 16).
 *
 * Per coordinate (diagonal H, lambda = lambda_j, s = E x_j^2, x = eta lambda,
 * Q = sigma2_bar + omegasigma2_bar; DSGD is omega = 0):
 *   disc  s_{k+1} = rho s_k + eta^2 Q/N,   rho = (1 - x)^2 + x^2 omega_bar/N,
 *         s_inf = eta Q / (N lambda (2 - x (1 + omega_bar/N)))
 *   SDE   s' = -a s + eta Q/N,             a = 2 lambda - eta omega_bar lambda^2/N,
 *         s_inf = eta Q / (N lambda (2 - x omega_bar/N))
 * E f_inf = 0.5 sum_j lambda_j s_j; the leading level is eta d Q/(4N) (theory §6.1-6.2).
 * Reference value (checked by dcsgd-stability): lambda = 1, omega = 4, N = 1 puts the
 * discrete second-moment threshold at eta = 0.4 and the SDE one at eta = 0.5.
 *
 * Each check evaluates these formulas itself and compares them with (a) sdv's exact
 * references (recursions and moment equations, no sampling) and (b) Monte Carlo of the
 * optimizer, with the estimator's own standard error. Every statistical test of a check shares
 * the check's false-failure budget ALPHA (Bonferroni), so a correct check fails with
 * probability <= ALPHA up to the normal approximation.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/exact.h>
#include <sdv/mc.h>
#include <sdv/model.h>
#include <sdv/process.h>
#include <sdv/stats.h>

#include "checks.h"
#include "checks_util.h"

#define MAXD 8
#define MAXN 4
/* Family-wise false-failure rate of one check's Monte Carlo tests. */
#define ALPHA 1e-5
/* Exact value vs closed form: both are exact, so only round-off separates them. */
#define RTOL_EXACT 1e-9

typedef enum comp_kind { COMP_NONE, COMP_BERNOULLI, COMP_RANDK } comp_kind;

/* A DSGD/DCSGD configuration on a quadratic; predictions are computed from these numbers,
 * and the model is built from the same numbers. */
typedef struct cfg {
  const char *name;
  comp_kind comp;
  double eta;
  size_t d, N;
  double lam[MAXD];      /* diagonal H (ignored when objective is set) */
  double sigma[MAXN];    /* Gaussian per-agent standard deviations, B = 1 */
  double par[MAXN];      /* Bernoulli p or rand-k k, per agent */
  double x0[MAXD];       /* start; all zero means x0 = 1 */
  const char *objective; /* overrides the diagonal quadratic (dense H) */
} cfg;

typedef struct cfg_means {
  double s2, os2, ob; /* sigma2_bar, omegasigma2_bar, omega_bar */
  double beta;        /* rand-k rank-one coefficient (1/N^2) sum_i omega_i/(d-1) */
} cfg_means;

static double cfg_omega(const cfg *c, size_t i) {
  switch (c->comp) {
  case COMP_BERNOULLI:
    return 1.0 / c->par[i] - 1.0;
  case COMP_RANDK:
    return (double)c->d / c->par[i] - 1.0;
  case COMP_NONE:
    break;
  }
  return 0.0;
}

static cfg_means cfg_averages(const cfg *c) {
  cfg_means a = {0};
  const double n = (double)c->N;
  for (size_t i = 0; i < c->N; i++) {
    const double v = c->sigma[i] * c->sigma[i], w = cfg_omega(c, i);
    a.s2 += v / n;
    a.os2 += w * v / n;
    a.ob += w / n;
    if (c->comp == COMP_RANDK && c->d > 1) a.beta += w / ((double)c->d - 1.0) / (n * n);
  }
  return a;
}

static double cfg_lam_min(const cfg *c) {
  double l = INFINITY;
  for (size_t j = 0; j < c->d; j++) l = fmin(l, c->lam[j]);
  return l;
}

static double cfg_lam_max(const cfg *c) {
  double l = 0.0;
  for (size_t j = 0; j < c->d; j++) l = fmax(l, c->lam[j]);
  return l;
}

static void join(char *buf, size_t len, const double *v, size_t n) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && used < len; i++) {
    int w = snprintf(buf + used, len - used, "%s%.17g", i ? "," : "", v[i]);
    if (w < 0) return;
    used += (size_t)w;
  }
}

/* Builds the model of c (its DCSGD/DSGD method follows comp) with the given diffusion scale. */
static int cfg_model(const cfg *c, uint64_t seed, double dscale, sdv_model **m) {
  char obj[512], sig[256], comp[512], x0[512];
  sdv_model_options o;
  sdv_model_options_default(&o);
  o.method = c->comp == COMP_NONE ? "dsgd" : "dcsgd";
  o.dim = c->d;
  o.agents = c->N;
  o.eta = c->eta;
  o.seed = seed;
  o.diffusion_scale = dscale;
  if (c->objective) {
    o.objective = c->objective;
  } else {
    int w = snprintf(obj, sizeof obj, "quadratic:lam=");
    join(obj + w, sizeof obj - (size_t)w, c->lam, c->d);
    o.objective = obj;
  }
  join(sig, sizeof sig, c->sigma, c->N);
  o.sigma = sig;
  if (c->comp != COMP_NONE) {
    size_t used = 0;
    for (size_t i = 0; i < c->N && used < sizeof comp; i++) {
      int w = c->comp == COMP_BERNOULLI ? snprintf(comp + used, sizeof comp - used,
                                                   "%sbernoulli:p=%.17g", i ? ";" : "", c->par[i])
                                        : snprintf(comp + used, sizeof comp - used,
                                                   "%srand-k:k=%.0f", i ? ";" : "", c->par[i]);
      if (w < 0) break;
      used += (size_t)w;
    }
    o.compressor = comp;
  }
  if (c->x0[0] != 0.0) {
    join(x0, sizeof x0, c->x0, c->d);
    o.x0 = x0;
  }
  return sdv_model_alloc(m, &o);
}

/* Closed-form stationary E f on a diagonal quadratic: the discrete optimizer, the SDE, and
 * the leading order eta d Q/(4N). */
static double level_disc(const cfg *c) {
  const cfg_means a = cfg_averages(c);
  double s = 0.0;
  for (size_t j = 0; j < c->d; j++)
    s += c->eta * (a.s2 + a.os2) /
         (2.0 * (double)c->N * (2.0 - c->eta * c->lam[j] * (1.0 + a.ob / (double)c->N)));
  return s;
}

static double level_sde(const cfg *c) {
  const cfg_means a = cfg_averages(c);
  double s = 0.0;
  for (size_t j = 0; j < c->d; j++)
    s += c->eta * (a.s2 + a.os2) /
         (2.0 * (double)c->N * (2.0 - c->eta * c->lam[j] * a.ob / (double)c->N));
  return s;
}

static double level_lead(const cfg *c) {
  const cfg_means a = cfg_averages(c);
  return c->eta * (double)c->d * (a.s2 + a.os2) / (4.0 * (double)c->N);
}

/* First-order expansion of level/lead - 1 (mean over j of x_j/2) and a bound on the
 * remainder: per coordinate 2/(2-x) = 1 + x/2 + x^2/(2(2-x)) <= 1 + x/2 + x^2 for x <= 1.5. */
static void expansion(const cfg *c, bool disc, double *first, double *remainder) {
  const cfg_means a = cfg_averages(c);
  const double g = disc ? 1.0 + a.ob / (double)c->N : a.ob / (double)c->N;
  *first = 0.0;
  *remainder = 0.0;
  for (size_t j = 0; j < c->d; j++) {
    const double x = c->eta * c->lam[j] * g;
    *first += 0.5 * x / (double)c->d;
    *remainder = fmax(*remainder, x * x);
  }
}

static int exact_f(const sdv_model *m, sdv_side side, double *v) {
  const sdv_observable f = {.kind = SDV_OBS_F};
  return sdv_exact_stationary(m, side, &f, 1, v, NULL, NULL);
}

/* One CSV row; the header is written on first use. */
static void csv_row(const sdv_check_ctx *ctx, const char *part, const cfg *c, const char *quantity,
                    double measured, double se, double predicted, double tolerance, bool pass) {
  if (ftell(ctx->csv) == 0)
    fprintf(ctx->csv, "part,config,eta,d,N,quantity,measured,se,predicted,tolerance,pass\n");
  if (c)
    fprintf(ctx->csv, "%s,%s,%.17g,%zu,%zu,", part, c->name, c->eta, c->d, c->N);
  else
    fprintf(ctx->csv, "%s,,,,,", part);
  fprintf(ctx->csv, "%s,%.17g,%.17g,%.17g,%.17g,%d\n", quantity, measured, se, predicted, tolerance,
          pass);
}

/* Stationary E f of the discrete optimizer by a time average of one long path: burn-in of
 * 20/(eta lambda_min) steps (the mean decays like (1 - eta lambda_min)^k, the second moment
 * faster), then `blocks` blocks of 50/(eta lambda_min) steps each; the standard error is the
 * batch-means one (block means are nearly independent: the lag-one correlation of block
 * means is about tau/length <= 1/25, which understates the variance by a few percent). */
static int time_average(const sdv_check_ctx *ctx, const sdv_model *m, const cfg *c, size_t blocks,
                        double *mean, double *se, size_t *steps) {
  const double relax = 1.0 / (c->eta * cfg_lam_min(c));
  const size_t burn = (size_t)ceil(20.0 * relax), len = (size_t)ceil(50.0 * relax);
  const sdv_observable f = {.kind = SDV_OBS_F};
  sdv_process_options po;
  sdv_process_options_default(&po);
  sdv_process *p = NULL;
  int rc = sdv_process_alloc(&p, m, &po);
  if (rc) return rc;
  sdv_process_start(p, 0);
  if ((rc = sdv_process_advance(p, burn))) goto done;
  sdv_acc acc;
  sdv_acc_reset(&acc);
  for (size_t b = 0; b < blocks; b++) {
    if (ctx->cancel && *ctx->cancel) {
      rc = SDV_ERROR(SDV_EINTR, "stationary: interrupted");
      goto done;
    }
    double sum = 0.0;
    for (size_t k = 0; k < len; k++) {
      if ((rc = sdv_process_advance(p, 1))) goto done;
      sum += sdv_process_observe(p, &f);
    }
    sdv_acc_add(&acc, sum / (double)len);
  }
  *mean = sdv_acc_mean(&acc);
  *se = sdv_acc_se(&acc);
  *steps = burn + blocks * len;
  if (!isfinite(*mean) || !isfinite(*se))
    rc = SDV_ERROR(SDV_ENUMERIC, "stationary: time average of %s is not finite", c->name);
done:
  sdv_process_free(p);
  return rc;
}

static void mc_defaults(const sdv_check_ctx *ctx, sdv_mc_options *mo, size_t paths) {
  sdv_mc_options_default(mo);
  mo->paths = paths;
  mo->threads = (int)ctx->threads;
  mo->cancel = ctx->cancel;
}

/* ------------------------------------------------------------------------------------------ */
/* Claim 4: DSGD stationary level. */

static const cfg dsgd_cfgs[] = {
    {"A", COMP_NONE, 0.1, 3, 2, {0.5, 1.25, 2.0}, {1.3, 0.7}, {0}, {0}, NULL},
    {"A/4", COMP_NONE, 0.025, 3, 2, {0.5, 1.25, 2.0}, {1.3, 0.7}, {0}, {0}, NULL},
    {"B", COMP_NONE, 0.05, 5, 4, {0.4, 0.8, 1.2, 1.6, 2.0}, {0.5, 1.0, 1.5, 2.385}, {0}, {0}, NULL},
    {"C", COMP_NONE, 0.2, 1, 1, {1.5}, {2.385}, {0}, {0}, NULL},
};
#define N_DSGD (sizeof dsgd_cfgs / sizeof *dsgd_cfgs)

static int run_dsgd_level(const sdv_check_ctx *ctx, sdv_check_result *res) {
  const char *id = "dsgd-level";
  int rc = SDV_OK;
  sdv_model *m = NULL;
  bool pass = true, ctl_n = true, ctl_eta2 = true;
  double disc0 = NAN, sde0 = NAN;
  for (size_t k = 0; k < N_DSGD; k++) {
    const cfg *c = &dsgd_cfgs[k];
    const cfg_means a = cfg_averages(c);
    double disc, sde;
    if ((rc = cfg_model(c, sdv_check_seed(ctx, id, (unsigned)k), 1.0, &m))) goto fail;
    if ((rc = exact_f(m, SDV_SIDE_DISCRETE, &disc)) || (rc = exact_f(m, SDV_SIDE_SDE, &sde)))
      goto fail;
    sdv_model_free(m);
    m = NULL;
    const double pd = level_disc(c), ps = level_lead(c);
    double first, rem;
    expansion(c, true, &first, &rem);
    const bool ok_d = sdv_check_close(disc, pd, RTOL_EXACT);
    const bool ok_s = sdv_check_close(sde, ps, RTOL_EXACT);
    const double gap = disc / ps - 1.0;
    const bool ok_gap = fabs(gap - first) <= rem;
    csv_row(ctx, "exact", c, "Ef_disc_vs_formula", disc, 0.0, pd, RTOL_EXACT, ok_d);
    csv_row(ctx, "exact", c, "Ef_sde_vs_eta_d_s2/(4N)", sde, 0.0, ps, RTOL_EXACT, ok_s);
    csv_row(ctx, "exact", c, "gap_disc/sde-1_vs_mean(eta_lam)/2", gap, 0.0, first, rem, ok_gap);
    pass = pass && ok_d && ok_s && ok_gap;
    /* Controls: the same gap test against a level without 1/N (only where N > 1 tells them
     * apart) and one quadratic in eta. */
    const double no_n = c->eta * (double)c->d * a.s2 / 4.0;
    const double eta2 = c->eta * c->eta * (double)c->d * a.s2 / (4.0 * (double)c->N);
    const bool rej_n = fabs(disc / no_n - 1.0 - first) > rem;
    const bool rej_e = fabs(disc / eta2 - 1.0 - first) > rem;
    csv_row(ctx, "control", c, "Ef_disc_vs_no_1/N", disc, 0.0, no_n, rem, !rej_n);
    csv_row(ctx, "control", c, "Ef_disc_vs_eta^2", disc, 0.0, eta2, rem, !rej_e);
    if (c->N > 1) ctl_n = ctl_n && rej_n;
    ctl_eta2 = ctl_eta2 && rej_e;
    if (k == 0) {
      disc0 = disc;
      sde0 = sde;
      res->predicted = pd;
      res->control_value = no_n;
    }
  }

  /* Monte Carlo of the optimizer: configs C (large gap) and A. */
  const size_t blocks = ctx->full ? 1600 : 400;
  const size_t mc_idx[2] = {3, 0};
  const double z = sdv_z_critical(ALPHA / 2.0);
  double min_sde_z = INFINITY;
  for (size_t r = 0; r < 2; r++) {
    const cfg *c = &dsgd_cfgs[mc_idx[r]];
    double mean, se;
    size_t steps;
    if ((rc = cfg_model(c, sdv_check_seed(ctx, id, 100 + (unsigned)r), 1.0, &m))) goto fail;
    if ((rc = time_average(ctx, m, c, blocks, &mean, &se, &steps))) goto fail;
    sdv_model_free(m);
    m = NULL;
    const double pd = level_disc(c), ps = level_lead(c);
    const bool ok = fabs(mean - pd) <= z * se;
    csv_row(ctx, "mc", c, "Ef_time_average_vs_disc_formula", mean, se, pd, z * se, ok);
    csv_row(ctx, "mc", c, "Ef_time_average_vs_sde_level", mean, se, ps, z * se,
            fabs(mean - ps) <= z * se);
    pass = pass && ok;
    min_sde_z = fmin(min_sde_z, fabs(mean - ps) / se);
    sdv_check_note(res, "MC %s: %.6g ± %.2g (%zu steps) vs disc %.6g, SDE %.6g (%.1f se off)",
                   c->name, mean, se, steps, pd, ps, fabs(mean - ps) / se);
  }

  const cfg *c0 = &dsgd_cfgs[0];
  snprintf(res->measured, sizeof res->measured,
           "stationary E f of DSGD, config A (eta %g, d %zu, N %zu): exact recursion", c0->eta,
           c0->d, c0->N);
  snprintf(res->prediction, sizeof res->prediction,
           "sum_j eta s2/(2N(2-eta lam_j)) = %.6g; SDE eta d s2/(4N) = %.6g, gap ~ eta lam/2",
           res->predicted, sde0);
  res->value = res->lo = res->hi = disc0;
  res->exact = true;
  res->pass = pass;
  snprintf(res->control, sizeof res->control,
           "level without 1/N (eta d s2/4) and level quadratic in eta");
  res->control_rejected = ctl_n && ctl_eta2;
  sdv_check_note(res,
                 "exact vs formula rtol %g; gap test |disc/SDE-1 - mean(eta lam)/2| <= "
                 "max(eta lam)^2 (remainder bound); MC z = %.2f (alpha %g over 2 tests, "
                 "batch means); MC rejects the SDE level at >= %.1f se in config C/A",
                 RTOL_EXACT, z, ALPHA, min_sde_z);
  return SDV_OK;
fail:
  sdv_model_free(m);
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Claim 5: DCSGD stationary level. */

static const cfg dcsgd_cfgs[] = {
    /* homogeneous Bernoulli, omega = 1.5 */
    {"bern-hom",
     COMP_BERNOULLI,
     0.05,
     4,
     2,
     {0.5, 1.0, 1.5, 2.0},
     {1.2, 1.2},
     {0.4, 0.4},
     {0},
     NULL},
    /* heterogeneous rand-k, omega = (2, 1, 0) */
    {"randk-het",
     COMP_RANDK,
     0.04,
     6,
     3,
     {0.5, 0.7, 0.9, 1.1, 1.3, 1.5},
     {0.8, 1.5, 2.385},
     {2, 3, 6},
     {0},
     NULL},
    /* heterogeneous Bernoulli, omega = (3, 1) */
    {"bern-het", COMP_BERNOULLI, 0.1, 2, 2, {1.0, 2.0}, {1.0, 2.0}, {0.25, 0.5}, {0}, NULL},
};
#define N_DCSGD (sizeof dcsgd_cfgs / sizeof *dcsgd_cfgs)

static int run_dcsgd_level(const sdv_check_ctx *ctx, sdv_check_result *res) {
  const char *id = "dcsgd-level";
  int rc = SDV_OK;
  sdv_model *m = NULL;
  bool pass = true, ctl = true;
  for (size_t k = 0; k < N_DCSGD; k++) {
    const cfg *c = &dcsgd_cfgs[k];
    const cfg_means a = cfg_averages(c);
    double disc, sde;
    if ((rc = cfg_model(c, sdv_check_seed(ctx, id, (unsigned)k), 1.0, &m))) goto fail;
    if ((rc = exact_f(m, SDV_SIDE_DISCRETE, &disc)) || (rc = exact_f(m, SDV_SIDE_SDE, &sde)))
      goto fail;
    sdv_model_free(m);
    m = NULL;
    const double pd = level_disc(c), ps = level_sde(c), lead = level_lead(c);
    double fd, rd, fs, rs;
    expansion(c, true, &fd, &rd);
    expansion(c, false, &fs, &rs);
    const bool ok_d = sdv_check_close(disc, pd, RTOL_EXACT);
    const bool ok_s = sdv_check_close(sde, ps, RTOL_EXACT);
    const bool ok_ed = fabs(disc / lead - 1.0 - fd) <= rd;
    const bool ok_es = fabs(sde / lead - 1.0 - fs) <= rs;
    csv_row(ctx, "exact", c, "Ef_disc_vs_formula", disc, 0.0, pd, RTOL_EXACT, ok_d);
    csv_row(ctx, "exact", c, "Ef_sde_vs_formula", sde, 0.0, ps, RTOL_EXACT, ok_s);
    csv_row(ctx, "exact", c, "disc/lead-1_vs_expansion", disc / lead - 1.0, 0.0, fd, rd, ok_ed);
    csv_row(ctx, "exact", c, "sde/lead-1_vs_expansion", sde / lead - 1.0, 0.0, fs, rs, ok_es);
    pass = pass && ok_d && ok_s && ok_ed && ok_es;
    /* Control: DSGD's level (no compression channel), same expansion test. */
    const double dsgd = c->eta * (double)c->d * a.s2 / (4.0 * (double)c->N);
    const bool rej = fabs(disc / dsgd - 1.0 - fd) > rd && fabs(sde / dsgd - 1.0 - fs) > rs;
    csv_row(ctx, "control", c, "Ef_vs_dsgd_level", disc, 0.0, dsgd, rd, !rej);
    ctl = ctl && rej;
    if (k == 0) {
      /* Homogeneous agents: the SDE level is (1 + omega) x DSGD's SDE level, up to the same
       * first-order factor. */
      cfg plain = *c;
      plain.comp = COMP_NONE;
      double ref;
      if ((rc = cfg_model(&plain, sdv_check_seed(ctx, id, 50), 1.0, &m))) goto fail;
      if ((rc = exact_f(m, SDV_SIDE_SDE, &ref))) goto fail;
      sdv_model_free(m);
      m = NULL;
      const double ratio = sde / ref, want = 1.0 + cfg_omega(c, 0);
      const bool ok_r = fabs(ratio / want - 1.0 - fs) <= rs;
      csv_row(ctx, "exact", c, "sde_level_ratio_dcsgd/dsgd", ratio, 0.0, want, rs, ok_r);
      pass = pass && ok_r;
      sdv_check_note(res, "homogeneous: SDE level ratio DCSGD/DSGD %.6g vs 1+omega = %g", ratio,
                     want);
      res->value = res->lo = res->hi = disc;
      res->predicted = lead;
      res->control_value = dsgd;
      snprintf(res->measured, sizeof res->measured,
               "stationary E f of DCSGD (%s, omega %g), exact recursion", c->name, cfg_omega(c, 0));
      snprintf(res->prediction, sizeof res->prediction,
               "eta d (s2 + os2)/(4N) = %.6g (1 + mean eta lam (1+omega/N)/2); exact disc %.6g",
               lead, pd);
    }
  }

  /* Monte Carlo of the optimizer (heterogeneous configs). */
  const size_t blocks = ctx->full ? 1600 : 400;
  const size_t mc_idx[2] = {2, 1};
  const double z = sdv_z_critical(ALPHA / 2.0);
  double min_ctl = INFINITY;
  for (size_t r = 0; r < 2; r++) {
    const cfg *c = &dcsgd_cfgs[mc_idx[r]];
    const cfg_means a = cfg_averages(c);
    double mean, se;
    size_t steps;
    if ((rc = cfg_model(c, sdv_check_seed(ctx, id, 100 + (unsigned)r), 1.0, &m))) goto fail;
    if ((rc = time_average(ctx, m, c, blocks, &mean, &se, &steps))) goto fail;
    sdv_model_free(m);
    m = NULL;
    const double pd = level_disc(c);
    const double dsgd = c->eta * (double)c->d * a.s2 / (4.0 * (double)c->N);
    const bool ok = fabs(mean - pd) <= z * se;
    const double zc = fabs(mean - dsgd) / se;
    csv_row(ctx, "mc", c, "Ef_time_average_vs_disc_formula", mean, se, pd, z * se, ok);
    csv_row(ctx, "mc", c, "Ef_time_average_vs_dsgd_level", mean, se, dsgd, z * se, zc <= z);
    pass = pass && ok;
    ctl = ctl && zc > z;
    min_ctl = fmin(min_ctl, zc);
    sdv_check_note(res, "MC %s: %.6g ± %.2g (%zu steps) vs disc %.6g", c->name, mean, se, steps,
                   pd);
  }
  res->exact = true;
  res->pass = pass;
  snprintf(res->control, sizeof res->control,
           "DSGD level eta d s2/(4N) (no compression channel, no (1+omega))");
  res->control_rejected = ctl;
  sdv_check_note(res,
                 "exact vs formula rtol %g; expansions |level/lead-1 - first order| <= "
                 "max(x)^2; MC z = %.2f (alpha %g over 2 tests, batch means); MC rejects the "
                 "DSGD level at >= %.0f se",
                 RTOL_EXACT, z, ALPHA, min_ctl);
  return SDV_OK;
fail:
  sdv_model_free(m);
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Claim 6: DCSGD relaxation rate of E x_j^2. */

static int run_dcsgd_rate(const sdv_check_ctx *ctx, sdv_check_result *res) {
  const char *id = "dcsgd-rate";
  /* Exact trajectories, with noise: s(t) - s_inf decays exactly geometrically. */
  static const cfg ce = {"rate",       COMP_BERNOULLI, 0.1,        2,           2,
                         {1.0, 2.385}, {1.0, 0.6},     {0.2, 0.5}, {1.7, -2.2}, NULL};
  /* Monte Carlo without noise (s_inf = 0, E x_k^2 = rho^k x0^2). */
  static const cfg cm = {"rate-mc", COMP_BERNOULLI, 0.2,        1,     2,
                         {1.0},     {0.0, 0.0},     {0.2, 0.5}, {1.0}, NULL};
  int rc = SDV_OK;
  sdv_model *m = NULL;
  sdv_mc_result *mr = NULL;
  bool pass = true, ctl = true;
  const cfg_means a = cfg_averages(&ce);
  const double N = (double)ce.N;
  if ((rc = cfg_model(&ce, sdv_check_seed(ctx, id, 0), 1.0, &m))) goto fail;
  const size_t steps[2] = {5, 25};
  for (size_t j = 0; j < ce.d; j++) {
    const double lam = ce.lam[j];
    const sdv_observable x2 = {.kind = SDV_OBS_X2, .index = j};
    double vd[2], vs[2], infd, infs;
    if ((rc = sdv_exact_eval(m, SDV_SIDE_DISCRETE, steps, 2, &x2, 1, vd, NULL, NULL)) ||
        (rc = sdv_exact_eval(m, SDV_SIDE_SDE, steps, 2, &x2, 1, vs, NULL, NULL)) ||
        (rc = sdv_exact_stationary(m, SDV_SIDE_DISCRETE, &x2, 1, &infd, NULL, NULL)) ||
        (rc = sdv_exact_stationary(m, SDV_SIDE_SDE, &x2, 1, &infs, NULL, NULL)))
      goto fail;
    const double dk = (double)(steps[1] - steps[0]);
    const double rho = pow((vd[1] - infd) / (vd[0] - infd), 1.0 / dk);
    const double rate = -log((vs[1] - infs) / (vs[0] - infs)) / (ce.eta * dk);
    const double x = ce.eta * lam;
    const double rho_p = (1.0 - x) * (1.0 - x) + x * x * a.ob / N;
    const double a_p = 2.0 * lam - ce.eta * a.ob * lam * lam / N;
    /* Round-off in s - s_inf, amplified by 1/(dk (s - s_inf)): 1e-7 is ample. */
    const double tol = 1e-7;
    const bool ok = sdv_check_close(rho, rho_p, tol) && sdv_check_close(rate, a_p, tol);
    const bool rej =
        !sdv_check_close(rho, (1.0 - x) * (1.0 - x), tol) && !sdv_check_close(rate, 2.0 * lam, tol);
    char q[64];
    snprintf(q, sizeof q, "disc_rho_x%zu", j + 1);
    csv_row(ctx, "exact", &ce, q, rho, 0.0, rho_p, tol, ok);
    snprintf(q, sizeof q, "sde_rate_x%zu", j + 1);
    csv_row(ctx, "exact", &ce, q, rate, 0.0, a_p, tol, ok);
    snprintf(q, sizeof q, "control_dsgd_rate_x%zu", j + 1);
    csv_row(ctx, "control", &ce, q, rate, 0.0, 2.0 * lam, tol, !rej);
    pass = pass && ok;
    ctl = ctl && rej;
    if (j == 0) {
      res->value = res->lo = res->hi = rate;
      res->predicted = a_p;
      res->control_value = 2.0 * lam;
      snprintf(res->measured, sizeof res->measured,
               "SDE relaxation rate of E x_1^2 (log-slope of s - s_inf, exact moment ODE)");
      snprintf(res->prediction, sizeof res->prediction,
               "a = 2 lam - eta omega_bar lam^2/N = %.6g (lam %g, eta %g, omega_bar %g, N %zu)",
               a_p, lam, ce.eta, a.ob, ce.N);
    }
    sdv_check_note(res, "x%zu: disc rho %.8g (pred %.8g), SDE a %.8g (pred %.8g)", j + 1, rho,
                   rho_p, rate, a_p);
  }
  sdv_model_free(m);
  m = NULL;

  /* Monte Carlo of the optimizer: -log(E x_K^2 / x0^2)/K against -log rho. */
  {
    const cfg_means b = cfg_averages(&cm);
    const size_t K = 10;
    const size_t mc_steps[2] = {0, K};
    const sdv_observable x2 = {.kind = SDV_OBS_X2, .index = 0};
    sdv_mc_options mo;
    mc_defaults(ctx, &mo, ctx->full ? 160000 : 40000);
    sdv_process_options po;
    sdv_process_options_default(&po);
    if ((rc = cfg_model(&cm, sdv_check_seed(ctx, id, 1), 1.0, &m))) goto fail;
    if ((rc = sdv_mc_run(&mr, m, &po, mc_steps, 2, &x2, 1, &mo))) goto fail;
    sdv_mc_summary s0, s1;
    if ((rc = sdv_mc_result_get(mr, 0, 0, &s0)) || (rc = sdv_mc_result_get(mr, 1, 0, &s1)))
      goto fail;
    const double x = cm.eta * cm.lam[0];
    const double lr = log(s1.mean / s0.mean) / (double)K; /* s0 is x0^2 exactly */
    const double se = s1.se / (s1.mean * (double)K);      /* delta method */
    const double lr_p = log((1.0 - x) * (1.0 - x) + x * x * b.ob / (double)cm.N);
    const double lr_c = log((1.0 - x) * (1.0 - x));
    const double z = sdv_z_critical(ALPHA);
    const bool ok = fabs(lr - lr_p) <= z * se && s1.nonfinite == 0;
    const double zc = fabs(lr - lr_c) / se;
    csv_row(ctx, "mc", &cm, "log_rho_per_step", lr, se, lr_p, z * se, ok);
    csv_row(ctx, "control", &cm, "log_rho_per_step_vs_dsgd", lr, se, lr_c, z * se, zc <= z);
    pass = pass && ok;
    ctl = ctl && zc > z;
    sdv_check_note(res,
                   "MC (sigma = 0, %zu paths, K = %zu): log rho %.5f ± %.2g vs %.5f; DSGD "
                   "%.5f rejected at %.0f se (z = %.2f, alpha %g)",
                   mo.paths, K, lr, se, lr_p, lr_c, zc, z, ALPHA);
  }
  res->exact = true;
  res->pass = pass;
  snprintf(res->control, sizeof res->control, "DSGD's rate 2 lam (disc factor (1 - eta lam)^2)");
  res->control_rejected = ctl;
  sdv_check_note(res, "exact rates vs formulas rtol 1e-7");
  sdv_mc_result_free(mr);
  sdv_model_free(m);
  return SDV_OK;
fail:
  sdv_mc_result_free(mr);
  sdv_model_free(m);
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Claim 7: DCSGD stability thresholds. */

/* Is the side of c at learning rate eta stable? */
static int stable_at(const cfg *base, double eta, sdv_side side, bool *stable, double *growth) {
  cfg c = *base;
  c.eta = eta;
  sdv_model *m = NULL;
  int rc = cfg_model(&c, 1, 1.0, &m);
  if (rc == SDV_OK) rc = sdv_exact_stability(m, side, growth, stable);
  sdv_model_free(m);
  return rc;
}

/* The stability threshold of a side in eta, located without using the prediction: from
 * eta = 1e-4 the bracket doubles until the side is unstable (up to eta = 1e4), then bisection
 * to 1e-12 relative. *thr = 0 if already unstable at 1e-4, INFINITY if stable up to 1e4. */
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
  while (hi - lo > 1e-12 * hi) {
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

static int run_dcsgd_stability(const sdv_check_ctx *ctx, sdv_check_result *res) {
  const char *id = "dcsgd-stability";
  static const cfg cfgs[] = {
      /* the theory's example: lambda = 1, omega = 4, N = 1 */
      {"example", COMP_BERNOULLI, 0.1, 1, 1, {1.0}, {1.0}, {0.2}, {1.0}, NULL},
      {"het", COMP_BERNOULLI, 0.1, 2, 2, {0.7, 1.6}, {1.0, 0.5}, {0.2, 0.5}, {0}, NULL},
  };
  int rc = SDV_OK;
  sdv_model *m = NULL;
  sdv_mc_result *mr = NULL;
  bool pass = true, ctl = true;
  const double tol = 1e-9;
  for (size_t k = 0; k < 2; k++) {
    const cfg *c = &cfgs[k];
    const cfg_means a = cfg_averages(c);
    const double lmax = cfg_lam_max(c), N = (double)c->N;
    const double pd = 2.0 / (lmax * (1.0 + a.ob / N)), ps = 2.0 * N / (lmax * a.ob);
    const double pm = 2.0 / lmax;
    double td, ts, tm;
    if ((rc = threshold(c, SDV_SIDE_DISCRETE, &td)) || (rc = threshold(c, SDV_SIDE_SDE, &ts)) ||
        (rc = threshold(c, SDV_SIDE_NOISEFREE, &tm)))
      goto fail;
    const bool ok = sdv_check_close(td, pd, tol) && sdv_check_close(ts, ps, tol) &&
                    sdv_check_close(tm, pm, tol);
    csv_row(ctx, "exact", c, "disc_second_moment_threshold", td, 0.0, pd, tol,
            sdv_check_close(td, pd, tol));
    csv_row(ctx, "exact", c, "sde_second_moment_threshold", ts, 0.0, ps, tol,
            sdv_check_close(ts, ps, tol));
    csv_row(ctx, "exact", c, "mean_threshold", tm, 0.0, pm, tol, sdv_check_close(tm, pm, tol));
    /* Control: the naive rule eta lam_max < 2 for second moments. */
    const bool rej = !sdv_check_close(td, pm, tol);
    csv_row(ctx, "control", c, "disc_threshold_vs_naive_2/lam", td, 0.0, pm, tol, !rej);
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
               "spectral radius), lam 1, omega 4, N 1");
      snprintf(res->prediction, sizeof res->prediction,
               "eta < 2/(lam (1 + omega_bar/N)) = %.6g; SDE eta < 2N/(lam omega_bar) = %.6g", pd,
               ps);
    }
  }

  /* At eta = 0.45 (between the thresholds): exact growth factors, then Monte Carlo. */
  {
    const cfg *c = &cfgs[0];
    const double eta = 0.45, lam = c->lam[0], p = c->par[0];
    bool sd, ss;
    double gd, gs;
    if ((rc = stable_at(c, eta, SDV_SIDE_DISCRETE, &sd, &gd)) ||
        (rc = stable_at(c, eta, SDV_SIDE_SDE, &ss, &gs)))
      goto fail;
    const double w = 1.0 / p - 1.0;
    const double gd_p = (1.0 - eta * lam) * (1.0 - eta * lam) + eta * eta * w * lam * lam;
    const double gs_p = -(2.0 * lam - eta * w * lam * lam);
    const bool ok_g = !sd && ss && sdv_check_close(gd, gd_p, tol) && sdv_check_close(gs, gs_p, tol);
    csv_row(ctx, "exact", c, "disc_growth_eta0.45", gd, 0.0, gd_p, tol, ok_g);
    csv_row(ctx, "exact", c, "sde_growth_rate_eta0.45", gs, 0.0, gs_p, tol, ok_g);
    pass = pass && ok_g;
    ctl = ctl && !sd; /* the naive rule calls eta = 0.45 stable */

    /* E log x_k^2: on a discrete path, |x| is multiplied by |1 - eta lam/p| w.p. p and by 1
     * otherwise once |x| dwarfs the noise, so E log x^2 grows by 2 p log|1 - eta lam/p| per
     * step (almost every path diverges); the SDE is stationary, E log X^2 constant. */
    cfg c45 = *c;
    c45.eta = eta;
    const size_t st[2] = {400, 1200};
    const sdv_observable lg = {.kind = SDV_OBS_USER, .fn = log_x2, .label = "log_x2"};
    sdv_mc_options mo;
    mc_defaults(ctx, &mo, ctx->full ? 1600 : 400);
    const double z = sdv_z_critical(ALPHA / 2.0);
    const double slope_p = 2.0 * p * log(fabs(1.0 - eta * lam / p));
    double slope[2], se[2];
    uint64_t nonfinite[2];
    for (int side = 0; side < 2; side++) {
      sdv_process_options po;
      sdv_process_options_default(&po);
      if (side == 1) {
        po.kind = SDV_PROCESS_SDE;
        po.substeps = 5; /* h = 0.09: EM is mean-square stable here for h < 0.2 */
      }
      if ((rc = cfg_model(&c45, sdv_check_seed(ctx, id, 10 + (unsigned)side), 1.0, &m))) goto fail;
      if ((rc = sdv_mc_run(&mr, m, &po, st, 2, &lg, 1, &mo))) goto fail;
      sdv_mc_summary s0, s1;
      if ((rc = sdv_mc_result_get(mr, 0, 0, &s0)) || (rc = sdv_mc_result_get(mr, 1, 0, &s1)))
        goto fail;
      const double dk = (double)(st[1] - st[0]);
      slope[side] = (s1.mean - s0.mean) / dk;
      se[side] = sqrt(s0.se * s0.se + s1.se * s1.se) / dk; /* unpaired: conservative */
      nonfinite[side] = s0.nonfinite + s1.nonfinite;
      sdv_mc_result_free(mr);
      mr = NULL;
      sdv_model_free(m);
      m = NULL;
    }
    const bool ok_d = fabs(slope[0] - slope_p) <= z * se[0] && nonfinite[0] == 0;
    const bool ok_s = fabs(slope[1]) <= z * se[1] && nonfinite[1] == 0;
    csv_row(ctx, "mc", &c45, "disc_slope_E_log_x2_per_step", slope[0], se[0], slope_p, z * se[0],
            ok_d);
    csv_row(ctx, "mc", &c45, "sde_slope_E_log_x2_per_step", slope[1], se[1], 0.0, z * se[1], ok_s);
    pass = pass && ok_d && ok_s;
    sdv_check_note(res,
                   "eta 0.45: disc growth %.6g/step, SDE rate %.4g; MC slope of E log x^2: disc "
                   "%.5f ± %.1g (pred %.5f), SDE %.2g ± %.1g (pred 0), z = %.2f",
                   gd, gs, slope[0], se[0], slope_p, slope[1], se[1], z);
  }
  res->exact = true;
  res->pass = pass;
  snprintf(res->control, sizeof res->control,
           "naive second-moment threshold eta lam_max < 2 (stable at eta = 0.45)");
  res->control_rejected = ctl;
  sdv_check_note(res, "thresholds by bisection to 1e-12, compared with rtol %g", tol);
  return SDV_OK;
fail:
  sdv_mc_result_free(mr);
  sdv_model_free(m);
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Claim 16: rand-k cross-covariances, dense-H second moments, rand-k off-diagonal effect. */

typedef struct pair {
  size_t j, l;
} pair;

static double product(void *user, size_t dim, const double *x) {
  const pair *p = user;
  (void)dim;
  return x[p->j] * x[p->l];
}

static int run_randk_cross(const sdv_check_ctx *ctx, sdv_check_result *res) {
  const char *id = "randk-cross";
  static const cfg ck = {"rand-k", COMP_RANDK,         0.1, 3, 1, {1.0, 1.5, 0.7}, {0.5},
                         {1},      {2.385, -1.7, 1.3}, NULL};
  cfg cb = ck; /* Bernoulli with the same omega (p = k/d): same diagonal, no cross terms */
  cb.name = "bernoulli";
  cb.comp = COMP_BERNOULLI;
  cb.par[0] = 1.0 / 3.0;
  const size_t K = 10, d = ck.d;
  const cfg_means a = cfg_averages(&ck);
  pair pairs[3] = {{0, 1}, {0, 2}, {1, 2}};
  sdv_observable obs[3];
  for (size_t q = 0; q < 3; q++)
    obs[q] =
        (sdv_observable){.kind = SDV_OBS_USER, .fn = product, .user = &pairs[q], .label = "xjxl"};
  int rc = SDV_OK;
  sdv_model *m = NULL;
  sdv_mc_result *mr = NULL;
  bool pass = true, ctl = true;
  double mean[MAXD], second[MAXD * MAXD];
  double mk[MAXD]; /* exact means (1 - eta lam)^K x0, the same for both compressors */
  for (size_t j = 0; j < d; j++) mk[j] = pow(1.0 - ck.eta * ck.lam[j], (double)K) * ck.x0[j];

  /* Exact, both sides, against the closed forms. */
  const double t = (double)K * ck.eta;
  double cov_disc[3], cov_sde[3];
  for (int side = 0; side < 2; side++) {
    const sdv_side sd = side ? SDV_SIDE_SDE : SDV_SIDE_DISCRETE;
    for (int which = 0; which < 2; which++) {
      const cfg *c = which ? &cb : &ck;
      if ((rc = cfg_model(c, sdv_check_seed(ctx, id, 0), 1.0, &m))) goto fail;
      if ((rc = sdv_exact_moments(m, sd, &K, 1, mean, second, NULL, NULL))) goto fail;
      sdv_model_free(m);
      m = NULL;
      for (size_t q = 0; q < 3; q++) {
        const size_t j = pairs[q].j, l = pairs[q].l;
        const double lj = ck.lam[j], ll = ck.lam[l];
        const double mj = side ? exp(-lj * t) * ck.x0[j] : mk[j];
        const double ml = side ? exp(-ll * t) * ck.x0[l] : mk[l];
        const double cov = second[j * d + l] - mean[j] * mean[l];
        double pred = 0.0; /* Bernoulli: no cross terms */
        if (!which)
          pred =
              side ? ck.x0[j] * ck.x0[l] * exp(-(lj + ll + ck.eta * a.beta * lj * ll) * t) - mj * ml
                   : ck.x0[j] * ck.x0[l] *
                             pow((1.0 - ck.eta * lj) * (1.0 - ck.eta * ll) -
                                     ck.eta * ck.eta * a.beta * lj * ll,
                                 (double)K) -
                         mj * ml;
        /* Relative to the size of the moments involved (cov is a difference). */
        const double scale = fabs(ck.x0[j] * ck.x0[l]);
        const bool ok = fabs(cov - pred) <= RTOL_EXACT * scale;
        char qn[64];
        snprintf(qn, sizeof qn, "%s_cov_x%zu_x%zu_%s", c->name, j + 1, l + 1,
                 side ? "sde" : "disc");
        csv_row(ctx, "exact", c, qn, cov, 0.0, pred, RTOL_EXACT * scale, ok);
        pass = pass && ok;
        if (!which && !side) cov_disc[q] = pred;
        if (!which && side) cov_sde[q] = pred;
      }
    }
  }

  /* Monte Carlo of the optimizer: E x_j x_l at step K minus the exact means. */
  const double z = sdv_z_critical(ALPHA / 6.0);
  double zmin_ctl = INFINITY, v01 = NAN, se01 = NAN;
  const size_t mc_steps[1] = {K};
  sdv_mc_options mo;
  mc_defaults(ctx, &mo, ctx->full ? 80000 : 20000);
  for (int which = 0; which < 2; which++) {
    const cfg *c = which ? &cb : &ck;
    sdv_process_options po;
    sdv_process_options_default(&po);
    if ((rc = cfg_model(c, sdv_check_seed(ctx, id, 1 + (unsigned)which), 1.0, &m))) goto fail;
    if ((rc = sdv_mc_run(&mr, m, &po, mc_steps, 1, obs, 3, &mo))) goto fail;
    for (size_t q = 0; q < 3; q++) {
      sdv_mc_summary s;
      if ((rc = sdv_mc_result_get(mr, 0, q, &s))) goto fail;
      const size_t j = pairs[q].j, l = pairs[q].l;
      const double cov = s.mean - mk[j] * mk[l];
      const double pred = which ? 0.0 : cov_disc[q];
      const bool ok = fabs(cov - pred) <= z * s.se;
      char qn[64];
      snprintf(qn, sizeof qn, "%s_cov_x%zu_x%zu_mc", c->name, j + 1, l + 1);
      csv_row(ctx, "mc", c, qn, cov, s.se, pred, z * s.se, ok);
      pass = pass && ok;
      if (!which) {
        /* Control: Bernoulli's prediction (0) for the rand-k optimizer. */
        const double zc = fabs(cov) / s.se;
        zmin_ctl = fmin(zmin_ctl, zc);
        snprintf(qn, sizeof qn, "rand-k_cov_x%zu_x%zu_vs_0", j + 1, l + 1);
        csv_row(ctx, "control", c, qn, cov, s.se, 0.0, z * s.se, zc <= z);
        ctl = ctl && zc > z;
        if (q == 0) {
          v01 = cov;
          se01 = s.se;
        }
      }
    }
    sdv_mc_result_free(mr);
    mr = NULL;
    sdv_model_free(m);
    m = NULL;
  }
  snprintf(res->measured, sizeof res->measured,
           "Cov(x_1, x_2) of DCSGD rand-k (d 3, k 1, N 1, eta %g) at step %zu, Monte Carlo", ck.eta,
           K);
  snprintf(res->prediction, sizeof res->prediction,
           "x0_1 x0_2 [(1-eta l1)(1-eta l2) - eta^2 beta l1 l2]^k - m1 m2 = %.6g (SDE %.6g)",
           cov_disc[0], cov_sde[0]);
  res->predicted = cov_disc[0];
  res->value = v01;
  res->lo = v01 - z * se01;
  res->hi = v01 + z * se01;
  res->exact = false;
  res->pass = pass;
  snprintf(res->control, sizeof res->control,
           "Bernoulli's prediction Cov = 0 for the rand-k optimizer");
  res->control_value = 0.0;
  res->control_rejected = ctl;
  sdv_check_note(res,
                 "exact disc/SDE covariances vs closed forms (tol %g |x0_j x0_l|); MC %zu paths, "
                 "6 z-tests (3 pairs x rand-k/Bernoulli), |z| <= %.2f (alpha %g); control "
                 "rejected at >= %.1f se",
                 RTOL_EXACT, mo.paths, z, ALPHA, zmin_ctl);
  return SDV_OK;
fail:
  sdv_mc_result_free(mr);
  sdv_model_free(m);
  return rc;
}

/* Phihat_i(M) for agent i of c, added with weight w into out (d x d, row-major). */
static void phihat_add(const cfg *c, size_t i, const double *M, double w, double *out) {
  const size_t d = c->d;
  const double om = cfg_omega(c, i);
  for (size_t j = 0; j < d; j++)
    for (size_t l = 0; l < d; l++) {
      double v = 0.0;
      if (c->comp == COMP_BERNOULLI)
        v = j == l ? om * M[j * d + l] : 0.0;
      else if (c->comp == COMP_RANDK && d > 1)
        v = om / ((double)d - 1.0) * ((j == l ? (double)d * M[j * d + l] : 0.0) - M[j * d + l]);
      out[j * d + l] += w * v;
    }
}

/* S_{k+1} = (I - eta H) S (I - eta H) + (eta^2/N^2) sum_i [V_i + Phihat_i(H S H + V_i)],
 * V_i = v_i I, run K steps from x0 x0^T. compression = false drops Phihat (the control). */
static void lyapunov(const cfg *c, const double *H, size_t K, bool compression, double *S) {
  const size_t d = c->d;
  const double eta = c->eta, n2 = (double)c->N * (double)c->N;
  double A[MAXD * MAXD], T[MAXD * MAXD], U[MAXD * MAXD], M[MAXD * MAXD];
  for (size_t j = 0; j < d; j++)
    for (size_t l = 0; l < d; l++) {
      A[j * d + l] = (j == l ? 1.0 : 0.0) - eta * H[j * d + l];
      S[j * d + l] = c->x0[j] * c->x0[l];
    }
  for (size_t k = 0; k < K; k++) {
    /* T = A S A, U = H S H */
    for (size_t j = 0; j < d; j++)
      for (size_t l = 0; l < d; l++) {
        double ta = 0.0, th = 0.0;
        for (size_t p = 0; p < d; p++) {
          ta += A[j * d + p] * S[p * d + l];
          th += H[j * d + p] * S[p * d + l];
        }
        M[j * d + l] = ta;
        U[j * d + l] = th;
      }
    for (size_t j = 0; j < d; j++)
      for (size_t l = 0; l < d; l++) {
        double ta = 0.0, th = 0.0;
        for (size_t p = 0; p < d; p++) {
          ta += M[j * d + p] * A[p * d + l];
          th += U[j * d + p] * H[p * d + l];
        }
        T[j * d + l] = ta;
        S[j * d + l] = th; /* S now holds H S H (old S no longer needed) */
      }
    double next[MAXD * MAXD];
    memcpy(next, T, d * d * sizeof *next);
    for (size_t i = 0; i < c->N; i++) {
      const double v = c->sigma[i] * c->sigma[i], w = eta * eta / n2;
      for (size_t j = 0; j < d; j++) next[j * d + j] += w * v;
      if (!compression) continue;
      for (size_t e = 0; e < d * d; e++) M[e] = S[e];
      for (size_t j = 0; j < d; j++) M[j * d + j] += v;
      phihat_add(c, i, M, w, next);
    }
    memcpy(S, next, d * d * sizeof *S);
  }
}

static int run_dense_moments(const sdv_check_ctx *ctx, sdv_check_result *res) {
  const char *id = "dense-moments";
  static const cfg c = {"dense-randk",
                        COMP_RANDK,
                        0.08,
                        3,
                        2,
                        {0},
                        {0.8, 1.7},
                        {1, 2},
                        {2.385, -1.1, 0.7},
                        "dense-quadratic:lam=0.6..2.2:seed=11"};
  const size_t K = 12, d = c.d;
  int rc = SDV_OK;
  sdv_model *m = NULL;
  sdv_mc_result *mr = NULL;
  double H[MAXD * MAXD], S[MAXD * MAXD], S0[MAXD * MAXD], lib[MAXD * MAXD], mean[MAXD];
  pair pairs[6];
  sdv_observable obs[7];
  size_t np = 0;
  for (size_t j = 0; j < d; j++)
    for (size_t l = j; l < d; l++) {
      pairs[np] = (pair){j, l};
      obs[np] = (sdv_observable){
          .kind = SDV_OBS_USER, .fn = product, .user = &pairs[np], .label = "xjxl"};
      np++;
    }
  obs[np] = (sdv_observable){.kind = SDV_OBS_F};
  if ((rc = cfg_model(&c, sdv_check_seed(ctx, id, 0), 1.0, &m))) goto fail;
  if ((rc = sdv_objective_hessian(m->objective, c.x0, H))) goto fail;
  lyapunov(&c, H, K, true, S);
  lyapunov(&c, H, K, false, S0);
  if ((rc = sdv_exact_moments(m, SDV_SIDE_DISCRETE, &K, 1, mean, lib, NULL, NULL))) goto fail;
  double ef = 0.0, ef0 = 0.0, scale = 0.0;
  for (size_t j = 0; j < d; j++)
    for (size_t l = 0; l < d; l++) {
      ef += 0.5 * H[j * d + l] * S[l * d + j];
      ef0 += 0.5 * H[j * d + l] * S0[l * d + j];
      scale = fmax(scale, fabs(S[j * d + l]));
    }
  bool pass = true, ctl = true;
  double worst_lib = 0.0;
  for (size_t e = 0; e < d * d; e++) worst_lib = fmax(worst_lib, fabs(lib[e] - S[e]) / scale);
  const bool ok_lib = worst_lib <= RTOL_EXACT;
  csv_row(ctx, "exact", &c, "max|S_library-S_recursion|/max|S|", worst_lib, 0.0, 0.0, RTOL_EXACT,
          ok_lib);
  pass = pass && ok_lib;

  sdv_mc_options mo;
  mc_defaults(ctx, &mo, ctx->full ? 80000 : 20000);
  sdv_process_options po;
  sdv_process_options_default(&po);
  const size_t mc_steps[1] = {K};
  if ((rc = sdv_mc_run(&mr, m, &po, mc_steps, 1, obs, np + 1, &mo))) goto fail;
  const double z = sdv_z_critical(ALPHA / (double)(np + 1));
  double zmax = 0.0, zmax_ctl = 0.0, vf = NAN, sef = NAN;
  for (size_t q = 0; q <= np; q++) {
    sdv_mc_summary s;
    if ((rc = sdv_mc_result_get(mr, 0, q, &s))) goto fail;
    const double pred = q < np ? S[pairs[q].j * d + pairs[q].l] : ef;
    const double wrong = q < np ? S0[pairs[q].j * d + pairs[q].l] : ef0;
    const double zq = fabs(s.mean - pred) / s.se, zc = fabs(s.mean - wrong) / s.se;
    char qn[64];
    if (q < np)
      snprintf(qn, sizeof qn, "E_x%zu_x%zu", pairs[q].j + 1, pairs[q].l + 1);
    else
      snprintf(qn, sizeof qn, "E_f");
    csv_row(ctx, "mc", &c, qn, s.mean, s.se, pred, z * s.se, zq <= z);
    char qc[96];
    snprintf(qc, sizeof qc, "%s_vs_no_compression", qn);
    csv_row(ctx, "control", &c, qc, s.mean, s.se, wrong, z * s.se, zc <= z);
    zmax = fmax(zmax, zq);
    zmax_ctl = fmax(zmax_ctl, zc);
    if (q == np) {
      vf = s.mean;
      sef = s.se;
    }
  }
  pass = pass && zmax <= z;
  ctl = zmax_ctl > z;
  snprintf(res->measured, sizeof res->measured,
           "E f and E x_j x_l of DCSGD rand-k (k 1, 2; N 2) on a dense 3x3 H at step %zu, MC", K);
  snprintf(res->prediction, sizeof res->prediction,
           "Lyapunov recursion S_k (evaluated here): E f = 0.5 tr(H S) = %.6g", ef);
  res->predicted = ef;
  res->value = vf;
  res->lo = vf - z * sef;
  res->hi = vf + z * sef;
  res->pass = pass;
  snprintf(res->control, sizeof res->control,
           "recursion without the compression term Phihat (DSGD's second moments)");
  res->control_value = ef0;
  res->control_rejected = ctl;
  sdv_check_note(res,
                 "%zu paths; max |z| over 6 entries + E f = %.2f <= %.2f (alpha %g, "
                 "Bonferroni over 7); control max |z| = %.1f; library recursion vs ours: %.1g",
                 mo.paths, zmax, z, ALPHA, zmax_ctl, worst_lib);
  sdv_mc_result_free(mr);
  sdv_model_free(m);
  return SDV_OK;
fail:
  sdv_mc_result_free(mr);
  sdv_model_free(m);
  return rc;
}

static int run_randk_offdiag_level(const sdv_check_ctx *ctx, sdv_check_result *res) {
  const char *id = "randk-offdiag-level";
  static const cfg base = {
      "dense-randk", COMP_RANDK, 0.1, 4,   1,
      {0},           {1.3},      {1}, {0}, "dense-quadratic:lam=0.5..2:seed=5"};
  static const double etas[3] = {0.1, 0.05, 0.025};
  int rc = SDV_OK;
  sdv_model *m = NULL;
  double rel[2][3];
  for (size_t e = 0; e < 3; e++) {
    cfg ck = base, cb = base;
    ck.eta = cb.eta = etas[e];
    cb.comp = COMP_BERNOULLI;
    cb.par[0] = base.par[0] / (double)base.d; /* same omega and diagonal of Phi */
    for (int side = 0; side < 2; side++) {
      const sdv_side sd = side ? SDV_SIDE_SDE : SDV_SIDE_DISCRETE;
      double fk, fb;
      if ((rc = cfg_model(&ck, sdv_check_seed(ctx, id, 0), 1.0, &m))) goto fail;
      if ((rc = exact_f(m, sd, &fk))) goto fail;
      sdv_model_free(m);
      m = NULL;
      if ((rc = cfg_model(&cb, sdv_check_seed(ctx, id, 0), 1.0, &m))) goto fail;
      if ((rc = exact_f(m, sd, &fb))) goto fail;
      sdv_model_free(m);
      m = NULL;
      rel[side][e] = fabs(fk - fb) / fb;
      csv_row(ctx, "exact", &ck,
              side ? "sde_rel_diff_randk_vs_bernoulli" : "disc_rel_diff_randk_vs_bernoulli",
              rel[side][e], 0.0, NAN, NAN, true);
    }
  }
  /* Local order between the two smallest eta: 2 + O(eta lam) for an O(eta^2) effect. */
  bool pass = true, ctl = true;
  double order[2];
  const double otol = 0.3; /* the O(eta lam_max) drift of the local slope, eta lam_max <= 0.1 */
  for (int side = 0; side < 2; side++) {
    order[side] = log(rel[side][1] / rel[side][2]) / log(etas[1] / etas[2]);
    const bool ok = fabs(order[side] - 2.0) <= otol;
    const bool rej = fabs(order[side] - 1.0) > otol;
    csv_row(ctx, "exact", &base, side ? "sde_order" : "disc_order", order[side], 0.0, 2.0, otol,
            ok);
    csv_row(ctx, "control", &base, side ? "sde_order_vs_1" : "disc_order_vs_1", order[side], 0.0,
            1.0, otol, !rej);
    pass = pass && ok && isfinite(order[side]);
    ctl = ctl && rej;
  }
  snprintf(res->measured, sizeof res->measured,
           "order in eta of |E f_inf(rand-k) - E f_inf(Bernoulli p=k/d)| / E f_inf, dense H "
           "(d 4, k 1), exact, discrete");
  snprintf(res->prediction, sizeof res->prediction,
           "2 (rand-k's off-diagonal Phi changes the stationary level at O(eta^2) relative)");
  res->predicted = 2.0;
  res->value = res->lo = res->hi = order[0];
  res->exact = true;
  res->pass = pass;
  snprintf(res->control, sizeof res->control, "an O(eta) relative effect (order 1)");
  res->control_value = 1.0;
  res->control_rejected = ctl;
  sdv_check_note(res,
                 "rel diff disc %.3g, %.3g, %.3g; SDE %.3g, %.3g, %.3g at eta 0.1, 0.05, 0.025; "
                 "local orders disc %.3f, SDE %.3f; pass |order - 2| <= %g",
                 rel[0][0], rel[0][1], rel[0][2], rel[1][0], rel[1][1], rel[1][2], order[0],
                 order[1], otol);
  return SDV_OK;
fail:
  sdv_model_free(m);
  return rc;
}

const sdv_check sdv_checks_stationary[] = {
    {"dsgd-level",
     "DSGD stationary E f: exact disc sum_j eta s2/(2N(2-eta lam_j)) vs SDE eta d s2/(4N)",
     "stationary", run_dsgd_level},
    {"dcsgd-level",
     "DCSGD stationary E f = eta d (s2 + os2)/(4N) (1+omega times DSGD), with its O(eta) "
     "corrections",
     "stationary", run_dcsgd_level},
    {"dcsgd-rate",
     "DCSGD relaxation rate of E x_j^2: a = 2 lam - eta omega_bar lam^2/N; disc factor rho",
     "stationary", run_dcsgd_rate},
    {"dcsgd-stability",
     "DCSGD second moments: disc stable iff eta lam (1+omega/N) < 2, SDE iff eta lam omega/N < 2",
     "stationary", run_dcsgd_stability},
    {"randk-cross", "rand-k cross-covariances follow the exact formulas; Bernoulli's are 0",
     "stationary", run_randk_cross},
    {"dense-moments", "dense-H second moments of DCSGD follow the exact Lyapunov recursion",
     "stationary", run_dense_moments},
    {"randk-offdiag-level",
     "rand-k's off-diagonal Phi changes stationary E f only at O(eta^2) relative", "stationary",
     run_randk_offdiag_level},
    {NULL, NULL, NULL, NULL},
};
