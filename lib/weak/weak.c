/* The weak-error harness (see sdv/weak.h and docs/math/weak.md).
 *
 * For each rung eta of the ladder and each time t = k eta:
 *   discrete side  E g(x_k): exact (sdv/exact.h) where available, else Monte Carlo;
 *                  reference g(xbar_k), the noise-free recursion (exact for any model);
 *   SDE side       E g(X_t): exact where available (reference: the drift ODE), else Monte
 *                  Carlo with the chosen integrator and h = eta/m (reference: the same
 *                  integrator with the diffusion switched off, so that its O(h) bias cancels
 *                  in the fluctuation part instead of swamping it).
 * Streams: rung r uses sub-index 2r for the discrete side and 2r+1 for the SDE side (and the
 * controls reuse the SDE streams: common random numbers make the contrast sharper without
 * biasing either estimate).
 *
 * Reference value checked by tests/test-weak.c: DSGD, d = 1, lambda = 2, x0 = 1, t = 1 with
 * exact references on both sides: (E f(x_k) - E f(X_t))/eta -> -4 e^-4 = -0.073263, so the
 * fitted order is 1 and the fluctuation statistic passes while both controls are rejected.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#include <sdv/errors.h>
#include <sdv/exact.h>
#include <sdv/mc.h>
#include <sdv/stats.h>
#include <sdv/weak.h>

/* Largest step count a study accepts per path (a resource limit, and the range in which t/eta
 * converts exactly to an integer). */
#define SDV_WEAK_MAX_STEPS 1e9

const char *sdv_verdict_name(sdv_verdict v) {
  switch (v) {
  case SDV_VERDICT_PASS: return "PASS";
  case SDV_VERDICT_FAIL: return "FAIL";
  case SDV_VERDICT_INCONCLUSIVE: return "INCONCLUSIVE";
  }
  return "UNKNOWN";
}

void sdv_weak_options_default(sdv_weak_options *o) {
  memset(o, 0, sizeof *o);
  o->paths = 20000;
  o->substeps = 4;
  o->integrator = NULL;
  o->alpha = 0.01;
  o->order = 1.0;
  o->order_tol = 0.25;
  o->order_resolution = 0.5;
  o->fluct_rtol = 0.05;
  o->exact = true;
  o->controls = true;
}

void sdv_weak_result_free(sdv_weak_result *r) {
  if (!r) return;
  free(r->rows);
  free(r->tests);
  for (size_t c = 0; c < r->ncontrols; c++) free(r->controls[c].tests);
  free(r->controls);
  free(r);
}

/* ---- one side of one rung ---- */

typedef struct study {
  const sdv_weak_options *o;
  const sdv_observable *obs;
  size_t nobs, ntimes;
  const sdv_integrator_type *integrator;
} study;

/* Builds a model from options with eta and diffusion_scale replaced. */
static int model_at(sdv_model **m, const sdv_model_options *base, double eta, double dscale) {
  sdv_model_options mo = *base;
  mo.eta = eta;
  mo.diffusion_scale = dscale;
  return sdv_model_alloc(m, &mo);
}

/* Exact values of every observable at every step on `side`, or SDV_ENOTSUP. */
static bool exact_all(const sdv_model *m, sdv_side side, const study *s) {
  for (size_t i = 0; i < s->nobs; i++)
    if (!sdv_exact_available(m, side, &s->obs[i], false)) return false;
  return true;
}

static int mc_options(const study *s, sdv_mc_options *mo) {
  sdv_mc_options_default(mo);
  mo->paths = s->o->paths;
  mo->threads = (int)s->o->threads;
  mo->cancel = s->o->cancel;
  return SDV_OK;
}

/* Fills side[t * nobs + i] for one side of one rung. */
static int estimate_side(const study *s, const sdv_model_options *base, double eta,
                         double dscale, bool sde, uint32_t sub, const size_t *steps,
                         sdv_weak_side *side) {
  const size_t nt = s->ntimes, nobs = s->nobs, ncell = nt * nobs;
  sdv_model *m = NULL, *m0 = NULL;
  sdv_mc_result *res = NULL, *res0 = NULL;
  double *vals = malloc(2 * ncell * sizeof *vals);
  int rc = vals ? SDV_OK : SDV_ERROR(SDV_ENOMEM, "out of memory");
  if (rc) goto done;
  if ((rc = model_at(&m, base, eta, dscale))) goto done;
  sdv_exact_options xo; /* the exact routes stop on the same cancel flag as Monte Carlo */
  sdv_exact_options_default(&xo);
  xo.cancel = s->o->cancel;
  const sdv_side kind = sde ? SDV_SIDE_SDE : SDV_SIDE_DISCRETE;
  if (s->o->exact && exact_all(m, kind, s)) {
    if ((rc = sdv_exact_eval(m, kind, steps, nt, s->obs, nobs, vals, &xo, NULL))) goto done;
    if ((rc = sdv_exact_eval(m, sde ? SDV_SIDE_ODE : SDV_SIDE_NOISEFREE, steps, nt, s->obs, nobs,
                             vals + ncell, &xo, NULL)))
      goto done;
    for (size_t c = 0; c < ncell; c++)
      side[c] = (sdv_weak_side){.mean = vals[c], .se = 0, .exact = true, .ref = vals[ncell + c]};
    goto done;
  }
  sdv_process_options po;
  sdv_process_options_default(&po);
  po.kind = sde ? SDV_PROCESS_SDE : SDV_PROCESS_DISCRETE;
  po.integrator = s->integrator;
  if (sde && !s->o->integrator) {
    /* Default integrator: Richardson, except on the sampled route, where its two replicas
     * cannot share increments and only double the variance: Euler there. */
    sdv_process *probe = NULL;
    if ((rc = sdv_process_alloc(&probe, m, &po))) goto done;
    if (sdv_process_sampled(probe)) po.integrator = sdv_integrator_euler;
    sdv_process_free(probe);
  }
  po.substeps = s->o->substeps;
  po.sub = sub;
  sdv_mc_options mo;
  mc_options(s, &mo);
  if (sde && dscale == 0.0) {
    /* Without diffusion the SDE path is deterministic: one path is the exact answer of the
     * integrator, and it is its own noise-free reference. */
    mo.paths = 1;
    mo.progress = NULL;
    if ((rc = sdv_mc_run(&res0, m, &po, steps, nt, s->obs, nobs, &mo))) goto done;
    for (size_t c = 0; c < ncell; c++) {
      sdv_mc_summary s0;
      if ((rc = sdv_mc_result_get(res0, c / nobs, c % nobs, &s0))) goto done;
      side[c] = (sdv_weak_side){.mean = s0.mean, .se = 0, .exact = false, .ref = s0.mean,
                                .nonfinite = s0.nonfinite};
    }
    goto done;
  }
  if ((rc = sdv_mc_run(&res, m, &po, steps, nt, s->obs, nobs, &mo))) goto done;
  if (sde) {
    /* Noise-free reference on the same integrator: one deterministic path. */
    if ((rc = model_at(&m0, base, eta, 0.0))) goto done;
    mo.paths = 1;
    mo.progress = NULL;
    if ((rc = sdv_mc_run(&res0, m0, &po, steps, nt, s->obs, nobs, &mo))) goto done;
  } else {
    if ((rc = sdv_exact_eval(m, SDV_SIDE_NOISEFREE, steps, nt, s->obs, nobs, vals + ncell, &xo,
                             NULL)))
      goto done;
  }
  for (size_t t = 0; t < nt; t++)
    for (size_t i = 0; i < nobs; i++) {
      sdv_mc_summary sm;
      if ((rc = sdv_mc_result_get(res, t, i, &sm))) goto done;
      double ref = vals[ncell + t * nobs + i];
      if (sde) {
        sdv_mc_summary s0;
        if ((rc = sdv_mc_result_get(res0, t, i, &s0))) goto done;
        ref = s0.mean;
      }
      side[t * nobs + i] = (sdv_weak_side){.mean = sm.mean,
                                           .se = sm.se,
                                           .exact = false,
                                           .ref = ref,
                                           .nonfinite = sm.nonfinite,
                                           .unstable = sm.unstable};
    }
done:
  sdv_mc_result_free(res);
  sdv_mc_result_free(res0);
  sdv_model_free(m);
  sdv_model_free(m0);
  free(vals);
  return rc;
}

/* ---- statistics over the ladder ---- */

/* Two-sided critical value at level a with dof degrees of freedom (normal when dof == 0
 * is not meaningful: the caller handles it). */
static double crit(double a, size_t dof, bool exact_fit) {
  if (exact_fit && dof > 0) return gsl_cdf_tdist_Qinv(a / 2.0, (double)dof);
  return sdv_z_critical(a);
}

static void make_row(sdv_weak_row *r, double z) {
  r->err = r->disc.mean - r->sde.mean;
  r->err_se = sqrt(r->disc.se * r->disc.se + r->sde.se * r->sde.se);
  r->err_lo = r->err - z * r->err_se;
  r->err_hi = r->err + z * r->err_se;
  r->resolved = (r->err_se == 0) ? (r->err != 0) : (fabs(r->err) > z * r->err_se);
  r->fl_disc = (r->disc.mean - r->disc.ref) / r->eta;
  r->fl_sde = (r->sde.mean - r->sde.ref) / r->eta;
  r->fl_se = r->err_se / r->eta;
}

/* Fills test (obs i, time index t) from rows[rung][t][i]; rows are for one SDE variant. */
static int make_test(sdv_weak_test *T, const sdv_weak_row *rows, size_t neta, size_t ntimes,
                     size_t nobs, size_t t, size_t i, const sdv_weak_options *o, double a_test) {
  double x[64], y[64], se[64], y2[64], se2[64], xe[64];
  bool all_exact = true;
  size_t n = 0;
  double y_sign = 0;
  memset(T, 0, sizeof *T);
  T->obs = i;
  /* Order fit over the resolved rungs. */
  for (size_t r = 0; r < neta && r < 64; r++) {
    const sdv_weak_row *w = &rows[(r * ntimes + t) * nobs + i];
    T->t = w->t;
    if (!w->resolved || !isfinite(w->err)) continue;
    if (n > 0 && (w->err > 0) != (y_sign > 0)) T->sign_change = true;
    y_sign = w->err;
    x[n] = log(w->eta);
    y[n] = log(fabs(w->err));
    se[n] = w->err_se / fabs(w->err);
    if (w->err_se > 0) all_exact = false;
    n++;
  }
  T->fit_points = n;
  T->slope = T->slope_se = T->slope_lo = T->slope_hi = NAN;
  T->order_verdict = SDV_VERDICT_INCONCLUSIVE;
  if (n >= 2 && all_exact) {
    /* Exact errors carry no noise: the observed order of convergence is the local slope of the
     * finest pair of rungs, and its change from the previous pair bounds how far it still is
     * from the asymptotic order (the usual estimate in numerical analysis). */
    const double p_last = (y[n - 2] - y[n - 1]) / (x[n - 2] - x[n - 1]);
    const double half = n >= 3 ? fabs(p_last - (y[n - 3] - y[n - 2]) / (x[n - 3] - x[n - 2])) : 0;
    T->slope = p_last;
    T->slope_se = half;
    T->slope_lo = p_last - half;
    T->slope_hi = p_last + half;
    if (T->sign_change || half > o->order_resolution)
      T->order_verdict = SDV_VERDICT_INCONCLUSIVE;
    else
      T->order_verdict =
          (T->slope_hi >= o->order - o->order_tol) ? SDV_VERDICT_PASS : SDV_VERDICT_FAIL;
  } else if (n >= 2) {
    double c0, c1, s0, s1;
    size_t dof;
    int rc = sdv_weak_linfit(x, y, se, n, &c0, &c1, &s0, &s1, &dof);
    if (rc) return rc;
    const double z = crit(a_test, dof, false);
    T->slope = c1;
    T->slope_se = s1;
    T->slope_lo = c1 - z * s1;
    T->slope_hi = c1 + z * s1;
    if (T->sign_change || z * s1 > o->order_resolution)
      T->order_verdict = SDV_VERDICT_INCONCLUSIVE;
    else
      T->order_verdict =
          (T->slope_hi >= o->order - o->order_tol) ? SDV_VERDICT_PASS : SDV_VERDICT_FAIL;
  }
  /* Fluctuation statistic: D = F_disc - F_sde = a + b eta, and L = lim F_disc. */
  n = 0;
  all_exact = true;
  for (size_t r = 0; r < neta && r < 64; r++) {
    const sdv_weak_row *w = &rows[(r * ntimes + t) * nobs + i];
    if (!isfinite(w->fl_disc) || !isfinite(w->fl_sde)) continue;
    xe[n] = w->eta;
    y[n] = w->fl_disc - w->fl_sde;
    se[n] = w->fl_se;
    y2[n] = w->fl_disc;
    se2[n] = w->disc.se / w->eta;
    if (w->fl_se > 0) all_exact = false;
    n++;
  }
  T->intercept = T->intercept_se = T->limit = T->limit_se = NAN;
  T->rel = T->rel_lo = T->rel_hi = NAN;
  T->diffusion_verdict = SDV_VERDICT_INCONCLUSIVE;
  if (n < 2) return SDV_OK;
  double a, b, sa, sb, l0, l1, sl0, sl1;
  size_t dof;
  /* Exact data have zero se: fit unweighted. A side that is exact contributes no noise, so
   * floor the weights at a tiny multiple of the values to keep WLS defined. */
  if (!all_exact)
    for (size_t k = 0; k < n; k++) {
      const double floor_se = 1e-12 * (fabs(y[k]) + fabs(y2[k]) + 1e-300);
      if (se[k] < floor_se) se[k] = floor_se;
      if (se2[k] < floor_se) se2[k] = floor_se;
    }
  int rc = sdv_weak_linfit(xe, y, all_exact ? NULL : se, n, &a, &b, &sa, &sb, &dof);
  if (rc) return rc;
  rc = sdv_weak_linfit(xe, y2, all_exact ? NULL : se2, n, &l0, &l1, &sl0, &sl1, &dof);
  if (rc) return rc;
  T->intercept = a;
  T->limit = l0;
  if (all_exact) {
    /* Noise-free data: the scatter about the line is the O(eta^2) remainder, not noise, so a
     * t-interval at the family level would be meaningless. The intercept's uncertainty is how
     * much it moves when the coarsest rung is dropped; the test also allows the stated
     * practical-equivalence margin fluct_rtol |L|. */
    double half = 0;
    if (n >= 3) {
      double a2, b2, sa2, sb2;
      size_t dof2;
      rc = sdv_weak_linfit(xe + 1, y + 1, NULL, n - 1, &a2, &b2, &sa2, &sb2, &dof2);
      if (rc) return rc;
      half = 2.0 * fabs(a - a2);
    }
    const double tol = fmax(half, o->fluct_rtol * fabs(l0));
    T->intercept_se = tol;
    T->intercept_lo = a - tol;
    T->intercept_hi = a + tol;
    T->limit_se = 0;
    T->fluct_resolved = l0 != 0;
    if (T->fluct_resolved)
      T->diffusion_verdict = fabs(a) <= tol ? SDV_VERDICT_PASS : SDV_VERDICT_FAIL;
  } else {
    const double z = crit(a_test, dof, false);
    T->intercept_se = sa;
    T->intercept_lo = a - z * sa;
    T->intercept_hi = a + z * sa;
    T->limit_se = sl0;
    T->fluct_resolved = fabs(l0) > z * sl0;
    if (T->fluct_resolved)
      T->diffusion_verdict = fabs(a) <= z * sa ? SDV_VERDICT_PASS : SDV_VERDICT_FAIL;
  }
  if (l0 != 0) {
    T->rel = a / l0;
    T->rel_lo = T->intercept_lo / l0;
    T->rel_hi = T->intercept_hi / l0;
    if (T->rel_lo > T->rel_hi) {
      double tmp = T->rel_lo;
      T->rel_lo = T->rel_hi;
      T->rel_hi = tmp;
    }
  }
  return SDV_OK;
}

/* ---- non-finite and impossible estimates ---- */

/* Observables that are >= 0 for every x, so a negative E g is impossible: ||x||^2,
 * ||grad f||^2, x_j^2, and f of a quadratic (its minimum is 0). */
static bool nonnegative(const sdv_observable *g, const sdv_model *m) {
  switch (g->kind) {
  case SDV_OBS_NORM2:
  case SDV_OBS_GRAD2:
  case SDV_OBS_X2:
    return true;
  case SDV_OBS_F:
    return m && (m->objective->type->kind == SDV_OBJECTIVE_QUADRATIC_DIAG ||
                 m->objective->type->kind == SDV_OBJECTIVE_QUADRATIC_DENSE);
  default:
    return false;
  }
}

static bool side_impossible(sdv_weak_side *w, bool nonneg, double z) {
  w->impossible = !isfinite(w->mean) || (nonneg && w->mean + z * w->se < 0);
  return w->impossible;
}

/* Counts non-finite and impossible rows per side, checks the noise-free optimizer's stability
 * on every rung, and turns what they touch into non-PASS verdicts with a reason. */
static void flag_estimates(sdv_weak_result *res, const study *s, const sdv_model_options *disc,
                           const double *eta, size_t neta) {
  sdv_model *m = NULL;
  if (model_at(&m, disc, eta[0], disc->diffusion_scale)) sdv_clear_error();
  const size_t ncell = res->ntests;
  bool *bad = calloc(ncell ? ncell : 1, sizeof *bad);
  for (size_t k = 0; k < res->nrows; k++) {
    sdv_weak_row *w = &res->rows[k];
    const bool nonneg = nonnegative(&s->obs[w->obs], m);
    res->nonfinite_rows[0] += !isfinite(w->disc.mean);
    res->nonfinite_rows[1] += !isfinite(w->sde.mean);
    const bool d = side_impossible(&w->disc, nonneg, res->z_row);
    const bool e = side_impossible(&w->sde, nonneg, res->z_row);
    res->impossible_rows[0] += d;
    res->impossible_rows[1] += e;
    if (!isfinite(w->err)) w->resolved = false; /* a null error resolves nothing */
    if ((d || e) && bad) bad[k % ncell] = true;
  }
  sdv_model_free(m);
  /* Stability of the noise-free optimizer (mean map I - eta J at the minimizer). */
  for (size_t r = 0; r < neta; r++) {
    double growth = 0.0;
    bool stable = true;
    if (model_at(&m, disc, eta[r], disc->diffusion_scale) ||
        sdv_exact_stability(m, SDV_SIDE_NOISEFREE, &growth, &stable)) {
      sdv_clear_error(); /* not a quadratic, or no closed form: nothing to say */
    } else if (!stable && eta[r] > res->unstable_eta) {
      res->unstable_eta = eta[r];
      res->unstable_growth = growth;
    }
    sdv_model_free(m);
    m = NULL;
  }
  for (size_t k = 0; k < ncell; k++) {
    sdv_weak_test *T = &res->tests[k];
    const bool limit_bad = !isfinite(T->limit) || !isfinite(T->limit_se);
    if ((bad && bad[k]) || res->unstable_eta > 0) {
      if (T->order_verdict == SDV_VERDICT_PASS) T->order_verdict = SDV_VERDICT_INCONCLUSIVE;
      if (T->diffusion_verdict == SDV_VERDICT_PASS) T->diffusion_verdict = SDV_VERDICT_INCONCLUSIVE;
    }
    if (limit_bad) T->fluct_resolved = false;
  }
  free(bad);
  char why[256] = "";
  const size_t nf = res->impossible_rows[0] + res->impossible_rows[1];
  if (res->unstable_eta > 0)
    snprintf(why, sizeof why,
             "the optimizer is unstable at eta = %g (its noise-free map, linearised at the "
             "minimizer, has spectral radius %.4g > 1, e.g. eta lambda_max > 2 for DSGD): the "
             "step is beyond the regime an SDE model describes; ",
             res->unstable_eta, res->unstable_growth);
  if (nf) {
    const size_t used = strlen(why);
    snprintf(why + used, sizeof why - used,
             "%zu discrete and %zu SDE estimates are non-finite or impossible (a negative mean "
             "of a non-negative observable); ",
             res->impossible_rows[0], res->impossible_rows[1]);
  }
  if (!why[0]) return;
  if (res->verdict == SDV_VERDICT_PASS) res->verdict = SDV_VERDICT_INCONCLUSIVE;
  char old[sizeof res->summary];
  memcpy(old, res->summary, sizeof old);
  snprintf(res->summary, sizeof res->summary, "%s%s", why, old);
}

/* ---- validation ---- */

static int validate(const sdv_weak_options *o) {
  if (!o->eta || o->neta < 2)
    return SDV_ERROR(SDV_EINVAL, "eta ladder needs at least 2 values, got %zu", o->neta);
  if (o->neta > 64) return SDV_ERROR(SDV_EINVAL, "eta ladder has %zu values; at most 64", o->neta);
  for (size_t r = 0; r < o->neta; r++) {
    if (!(o->eta[r] > 0) || !isfinite(o->eta[r]))
      return SDV_ERROR(SDV_EINVAL, "eta = %g must be finite and > 0", o->eta[r]);
    for (size_t q = 0; q < r; q++)
      if (o->eta[q] == o->eta[r])
        return SDV_ERROR(SDV_EINVAL, "eta = %g appears twice in the ladder", o->eta[r]);
  }
  if (!o->times || o->ntimes == 0) return SDV_ERROR(SDV_EINVAL, "times: need at least one time");
  for (size_t t = 0; t < o->ntimes; t++) {
    if (!(o->times[t] > 0) || !isfinite(o->times[t]))
      return SDV_ERROR(SDV_EINVAL, "time t = %g must be finite and > 0", o->times[t]);
    if (t > 0 && !(o->times[t] > o->times[t - 1]))
      return SDV_ERROR(SDV_EINVAL, "times must increase: %g after %g", o->times[t],
                       o->times[t - 1]);
    for (size_t r = 0; r < o->neta; r++) {
      const double k = o->times[t] / o->eta[r];
      /* Checked before the conversion to size_t, which is undefined beyond its range. */
      if (!(k <= SDV_WEAK_MAX_STEPS))
        return SDV_ERROR(SDV_ELIMIT,
                         "time t = %g with eta = %g needs %.3g steps; at most %.0e per path "
                         "(raise eta or lower --T)",
                         o->times[t], o->eta[r], k, SDV_WEAK_MAX_STEPS);
      if (fabs(k - nearbyint(k)) > 1e-9 * fmax(1.0, k) || nearbyint(k) < 1)
        return SDV_ERROR(SDV_EINVAL, "time t = %g is not a whole number of steps of eta = %g",
                         o->times[t], o->eta[r]);
    }
  }
  if (o->paths < 2) return SDV_ERROR(SDV_EINVAL, "paths = %zu must be >= 2", o->paths);
  if (o->substeps < 1) return SDV_ERROR(SDV_EINVAL, "substeps = %zu must be >= 1", o->substeps);
  if (!(o->alpha > 0 && o->alpha < 1))
    return SDV_ERROR(SDV_EINVAL, "alpha = %g must be in (0, 1)", o->alpha);
  if (!(o->order > 0) || !isfinite(o->order))
    return SDV_ERROR(SDV_EINVAL, "order = %g must be > 0", o->order);
  if (!(o->order_tol >= 0) || !isfinite(o->order_tol))
    return SDV_ERROR(SDV_EINVAL, "order tolerance = %g must be >= 0", o->order_tol);
  if (!(o->fluct_rtol >= 0) || !isfinite(o->fluct_rtol))
    return SDV_ERROR(SDV_EINVAL, "fluctuation tolerance = %g must be >= 0", o->fluct_rtol);
  if (!(o->order_resolution > 0) || !isfinite(o->order_resolution))
    return SDV_ERROR(SDV_EINVAL, "order resolution = %g must be > 0", o->order_resolution);
  if (o->obs && o->nobs == 0) return SDV_ERROR(SDV_EINVAL, "observables: empty list");
  return SDV_OK;
}

static int cmp_desc(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x < y) - (x > y);
}

/* Runs the SDE side of every rung with diffusion scale dscale into rows (disc already set). */
static int run_sde_sides(const study *s, const sdv_model_options *sde, const double *eta,
                         double dscale, sdv_weak_row *rows, size_t *steps, sdv_weak_side *buf,
                         double z_row, size_t *done, size_t total) {
  const sdv_weak_options *o = s->o;
  const size_t nt = s->ntimes, nobs = s->nobs;
  for (size_t r = 0; r < o->neta; r++) {
    for (size_t t = 0; t < nt; t++) steps[t] = (size_t)nearbyint(o->times[t] / eta[r]);
    int rc = estimate_side(s, sde, eta[r], dscale, true, (uint32_t)(2 * r + 1), steps, buf);
    if (rc) return rc;
    for (size_t c = 0; c < nt * nobs; c++) {
      sdv_weak_row *w = &rows[r * nt * nobs + c];
      w->sde = buf[c];
      make_row(w, z_row);
    }
    if (o->progress) o->progress(o->progress_user, (double)++*done / (double)total);
  }
  return SDV_OK;
}

int sdv_weak_run(const sdv_model_options *disc, const sdv_model_options *sde,
                 const sdv_weak_options *o, sdv_weak_result **out) {
  *out = NULL;
  if (!disc || !o) return SDV_ERROR(SDV_EINVAL, "weak study: NULL model options or options");
  int rc = validate(o);
  if (rc) return rc;
  if (!sde) sde = disc;
  static const sdv_observable f_only = {.kind = SDV_OBS_F};
  study s = {.o = o,
             .obs = o->obs ? o->obs : &f_only,
             .nobs = o->obs ? o->nobs : 1,
             .ntimes = o->ntimes,
             .integrator = o->integrator ? o->integrator : sdv_integrator_richardson};
  const size_t nt = s.ntimes, nobs = s.nobs, neta = o->neta, ncell = nt * nobs;
  double eta[64];
  memcpy(eta, o->eta, neta * sizeof *eta);
  qsort(eta, neta, sizeof *eta, cmp_desc);

  sdv_weak_result *res = calloc(1, sizeof *res);
  size_t *steps = malloc(nt * sizeof *steps);
  sdv_weak_side *buf = malloc(ncell * sizeof *buf);
  sdv_weak_row *crow = NULL;
  const double controls[2] = {0.0, 2.0};
  const size_t ncontrols = o->controls ? 2 : 0;
  if (!res || !steps || !buf) goto nomem;
  res->nrows = neta * ncell;
  res->rows = calloc(res->nrows, sizeof *res->rows);
  res->ntests = ncell;
  res->tests = calloc(ncell, sizeof *res->tests);
  if (!res->rows || !res->tests) goto nomem;
  res->z_row = sdv_z_critical(0.05);
  /* Bonferroni: two tests (order, diffusion) per (time, observable). */
  const double a_test = o->alpha / (double)(2 * ncell);
  res->z_test = sdv_z_critical(a_test);

  size_t done = 0, total = neta * (2 + ncontrols);
  for (size_t r = 0; r < neta; r++) {
    for (size_t t = 0; t < nt; t++) steps[t] = (size_t)nearbyint(o->times[t] / eta[r]);
    if ((rc = estimate_side(&s, disc, eta[r], disc->diffusion_scale, false, (uint32_t)(2 * r),
                            steps, buf)))
      goto fail;
    for (size_t t = 0; t < nt; t++)
      for (size_t i = 0; i < nobs; i++) {
        sdv_weak_row *w = &res->rows[(r * nt + t) * nobs + i];
        w->eta = eta[r];
        w->t = o->times[t];
        w->step = steps[t];
        w->obs = i;
        w->disc = buf[t * nobs + i];
      }
    if (o->progress) o->progress(o->progress_user, (double)++done / (double)total);
  }
  if ((rc = run_sde_sides(&s, sde, eta, sde->diffusion_scale, res->rows, steps, buf,
                          res->z_row, &done, total)))
    goto fail;
  for (size_t t = 0; t < nt; t++)
    for (size_t i = 0; i < nobs; i++)
      if ((rc = make_test(&res->tests[t * nobs + i], res->rows, neta, nt, nobs, t, i, o,
                          a_test)))
        goto fail;

  if (ncontrols) {
    res->controls = calloc(ncontrols, sizeof *res->controls);
    crow = malloc(res->nrows * sizeof *crow);
    if (!res->controls || !crow) goto nomem;
    res->ncontrols = ncontrols;
    for (size_t c = 0; c < ncontrols; c++) {
      sdv_weak_control *C = &res->controls[c];
      C->diffusion_scale = controls[c] * sde->diffusion_scale;
      memcpy(crow, res->rows, res->nrows * sizeof *crow);
      if ((rc = run_sde_sides(&s, sde, eta, C->diffusion_scale, crow, steps, buf, res->z_row,
                              &done, total)))
        goto fail;
      C->ntests = ncell;
      if (!(C->tests = calloc(ncell, sizeof *C->tests))) goto nomem;
      for (size_t t = 0; t < nt; t++)
        for (size_t i = 0; i < nobs; i++) {
          sdv_weak_test *T = &C->tests[t * nobs + i];
          if ((rc = make_test(T, crow, neta, nt, nobs, t, i, o, a_test))) goto fail;
          if (T->fluct_resolved && T->diffusion_verdict == SDV_VERDICT_FAIL) C->rejected = true;
        }
    }
  }

  /* Overall verdict. */
  bool order_fail = false, order_unres = false, diff_fail = false, any_resolved = false;
  for (size_t k = 0; k < ncell; k++) {
    const sdv_weak_test *T = &res->tests[k];
    order_fail |= T->order_verdict == SDV_VERDICT_FAIL;
    order_unres |= T->order_verdict == SDV_VERDICT_INCONCLUSIVE;
    any_resolved |= T->fluct_resolved;
    diff_fail |= T->fluct_resolved && T->diffusion_verdict == SDV_VERDICT_FAIL;
  }
  bool controls_ok = true;
  for (size_t c = 0; c < res->ncontrols; c++) controls_ok &= res->controls[c].rejected;
  if (order_fail || diff_fail) {
    res->verdict = SDV_VERDICT_FAIL;
    snprintf(res->summary, sizeof res->summary, "%s%s",
             order_fail ? diff_fail ? "weak error does not decay at the claimed order; "
                                    : "weak error does not decay at the claimed order"
                        : "",
             diff_fail ? "fluctuation part of the SDE does not match the optimizer" : "");
  } else if (order_unres || !any_resolved) {
    bool sign_change = false;
    for (size_t k = 0; k < ncell; k++) sign_change |= res->tests[k].sign_change;
    res->verdict = SDV_VERDICT_INCONCLUSIVE;
    snprintf(res->summary, sizeof res->summary, "%s",
             sign_change ? "the weak error changes sign along the ladder (not yet asymptotic): "
                           "use smaller eta"
             : order_unres ? "weak order not resolved (errors within Monte Carlo noise, or "
                             "an interval wider than the resolution): increase --paths or "
                             "refine the eta ladder"
                           : "fluctuation part not resolved from Monte Carlo noise: increase "
                             "--paths or choose another observable");
  } else if (!controls_ok) {
    res->verdict = SDV_VERDICT_INCONCLUSIVE;
    snprintf(res->summary, sizeof res->summary,
             "the study could not reject a deliberately wrong diffusion (negative control): "
             "it lacks the power to validate the SDE");
  } else {
    res->verdict = SDV_VERDICT_PASS;
    snprintf(res->summary, sizeof res->summary,
             "order and fluctuation part agree; %zu negative control(s) rejected",
             res->ncontrols);
  }
  flag_estimates(res, &s, disc, eta, neta);
  /* Diverged Monte Carlo paths are excluded from every estimate; say so in the summary, since
   * an estimate over the surviving paths describes a different (conditioned) process. */
  uint64_t diverged = 0;
  size_t nan_rows = 0;
  for (size_t k = 0; k < res->nrows; k++) {
    diverged += res->rows[k].disc.nonfinite + res->rows[k].sde.nonfinite;
    nan_rows += !isfinite(res->rows[k].err);
  }
  size_t heavy = 0;
  for (size_t k = 0; k < res->nrows; k++) heavy += res->rows[k].disc.unstable + res->rows[k].sde.unstable;
  if (diverged || nan_rows || heavy) {
    char note[160];
    snprintf(note, sizeof note,
             " [%llu path values diverged (non-finite, excluded); %zu rows without a finite "
             "error; %zu estimates with heavy tails (standard errors unreliable)]",
             (unsigned long long)diverged, nan_rows, heavy);
    const size_t used = strlen(res->summary);
    if (used < sizeof res->summary - 1)
      strncat(res->summary, note, sizeof res->summary - 1 - used);
  }
  free(steps);
  free(buf);
  free(crow);
  *out = res;
  return SDV_OK;
nomem:
  rc = SDV_ERROR(SDV_ENOMEM, "out of memory");
fail:
  free(steps);
  free(buf);
  free(crow);
  sdv_weak_result_free(res);
  return rc;
}
