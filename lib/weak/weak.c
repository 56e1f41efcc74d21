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
#include <float.h>
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
  o->curvature_alpha = 0.05;
  o->exact_tol_factor = 100.0;
}

const char *sdv_weak_coupling_name(sdv_weak_coupling c) {
  switch (c) {
  case SDV_WEAK_COUPLING_CRN: return "crn";
  case SDV_WEAK_COUPLING_NONE: return "none";
  }
  return "unknown";
}

const char *sdv_weak_reason_name(sdv_weak_reason r) {
  switch (r) {
  case SDV_WEAK_DECIDED: return "decided";
  case SDV_WEAK_MC_NOISE: return "more paths";
  case SDV_WEAK_PREASYMPTOTIC: return "refine the ladder";
  case SDV_WEAK_NOTHING: return "nothing to resolve";
  }
  return "unknown";
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

/* A side's model: text options (sdv_weak_run) or a typed spec (sdv_weak_run_spec), and its
 * diffusion scale. */
typedef struct model_src {
  const sdv_model_options *text;
  const sdv_model_spec *spec;
  double diffusion_scale;
} model_src;

typedef struct study {
  const sdv_weak_options *o;
  const sdv_observable *obs;
  size_t nobs, ntimes;
  const sdv_integrator_type *integrator;
  const model_src *disc;         /* the optimizer's model (coupled runs) */
  char *note;                    /* [256] why a rung ran uncoupled (first reason) */
  bool *deferred;                /* [neta] the optimizer's Monte Carlo side of rung r comes
                                    from the coupled run (its column is the same run) */
  sdv_weak_side *dbuf;           /* [ntimes * nobs] scratch for that column */
} study;

/* Builds a model from its source (text options or a typed spec) with eta and
 * diffusion_scale replaced. */
static int model_at(sdv_model **m, const model_src *base, double eta, double dscale) {
  if (base->spec) {
    sdv_model_spec ms = *base->spec;
    ms.eta = eta;
    ms.diffusion_scale = dscale;
    return sdv_model_alloc_spec(m, &ms);
  }
  sdv_model_options mo = *base->text;
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
static int estimate_side(const study *s, const model_src *base, double eta,
                         double dscale, bool sde, uint32_t sub, const size_t *steps,
                         sdv_weak_side *side) {
  const size_t nt = s->ntimes, nobs = s->nobs, ncell = nt * nobs;
  sdv_model *m = NULL, *m0 = NULL;
  sdv_mc_result *res = NULL, *res0 = NULL;
  double *vals = malloc(4 * ncell * sizeof *vals);
  int rc = vals ? SDV_OK : SDV_ERROR(SDV_ENOMEM, "out of memory");
  if (rc) goto done;
  if ((rc = model_at(&m, base, eta, dscale))) goto done;
  sdv_exact_options xo; /* the exact routes stop on the same cancel flag as Monte Carlo */
  sdv_exact_options_default(&xo);
  xo.cancel = s->o->cancel;
  const sdv_side kind = sde ? SDV_SIDE_SDE : SDV_SIDE_DISCRETE;
  if (s->o->exact && exact_all(m, kind, s)) {
    const sdv_side ref_side = sde ? SDV_SIDE_ODE : SDV_SIDE_NOISEFREE;
    sdv_exact_info info = {0}, info0 = {0};
    if ((rc = sdv_exact_eval(m, kind, steps, nt, s->obs, nobs, vals, &xo, &info))) goto done;
    if ((rc = sdv_exact_eval(m, ref_side, steps, nt, s->obs, nobs, vals + ncell, &xo, &info0)))
      goto done;
    /* Numerical error of mean - ref (docs/math/weak.md, "Numerical error of the exact
     * routes"): round-off, at most a few units of DBL_EPSILON per step of a contractive
     * recursion, and for CVODE the change when both tolerances are loosened by
     * exact_tol_factor (the error of the tight solve is about 1/(factor - 1) of that). */
    const bool cvode = (info.route && !strcmp(info.route, "cvode")) ||
                       (info0.route && !strcmp(info0.route, "cvode"));
    if (cvode) {
      sdv_exact_options lo = xo;
      lo.rtol *= s->o->exact_tol_factor;
      lo.atol *= s->o->exact_tol_factor;
      if ((rc = sdv_exact_eval(m, kind, steps, nt, s->obs, nobs, vals + 2 * ncell, &lo, NULL)))
        goto done;
      if ((rc = sdv_exact_eval(m, ref_side, steps, nt, s->obs, nobs, vals + 3 * ncell, &lo,
                               NULL)))
        goto done;
    }
    for (size_t c = 0; c < ncell; c++) {
      const double mean = vals[c], ref = vals[ncell + c];
      double num = 4.0 * DBL_EPSILON * (double)(steps[c / nobs] + 1) * (fabs(mean) + fabs(ref));
      if (cvode) num += fabs(mean - vals[2 * ncell + c]) + fabs(ref - vals[3 * ncell + c]);
      side[c] = (sdv_weak_side){.mean = mean, .se = 0, .exact = true, .ref = ref, .num_err = num};
    }
    goto done;
  }
  sdv_process_options po;
  sdv_process_options_default(&po);
  po.kind = sde ? SDV_PROCESS_SDE : SDV_PROCESS_DISCRETE;
  po.integrator = s->integrator;
  /* The library's default (Richardson; Euler on the sampled route). */
  if (sde && !s->o->integrator) po.integrator = sdv_integrator_default(m);
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

/* The COUPLED process of the study's optimizer with SDE model m (sdv/process.h): the
 * optimizer on its uncoupled streams (sub_d), the SDE's bridge on sub_s. */
static sdv_process_options coupled_options(const study *s, const sdv_model *m, uint32_t sub_d,
                                           uint32_t sub_s) {
  sdv_process_options po;
  sdv_process_options_default(&po);
  po.kind = SDV_PROCESS_COUPLED;
  po.integrator = s->integrator;
  po.substeps = s->o->substeps;
  po.sub = sub_d;
  po.sde_model = m;
  po.sde_sub = sub_s;
  return po;
}

/* One rung's SDE side with diffusion scale dscale on common random numbers with the optimizer
 * (sdv/process.h, COUPLED): side[c] from the SDE column, err/se[c] from the difference
 * column. The optimizer's streams are those of its uncoupled run (sub_d), so its column is
 * that run bit for bit. *used is false, with nothing computed, where the rung does not
 * couple: an exact SDE side, or no coupling for this model (the reason goes to s->note). */
static int estimate_coupled(const study *s, const model_src *base, double eta,
                            double dscale, uint32_t sub_d, uint32_t sub_s, const size_t *steps,
                            sdv_weak_side *side, sdv_weak_side *dside, double *err, double *se,
                            bool *used) {
  const size_t nt = s->ntimes, nobs = s->nobs;
  sdv_model *md = NULL, *m = NULL, *m0 = NULL;
  sdv_mc_result *res = NULL, *res0 = NULL;
  *used = false;
  int rc;
  if ((rc = model_at(&m, base, eta, dscale))) goto done;
  if (s->o->exact && exact_all(m, SDV_SIDE_SDE, s)) goto done;
  if ((rc = model_at(&md, s->disc, eta, s->disc->diffusion_scale))) goto done;
  const sdv_process_options po = coupled_options(s, m, sub_d, sub_s);
  sdv_mc_options mo;
  mc_options(s, &mo);
  /* The engine allocates its processes before simulating anything: a model without a
   * coupling is refused there (SDV_ENOTSUP) at no cost, and the rung runs uncoupled. */
  rc = sdv_mc_run(&res, md, &po, steps, nt, s->obs, nobs, &mo);
  if (rc == SDV_ENOTSUP) {
    if (!s->note[0]) snprintf(s->note, 256, "%s", sdv_last_error());
    rc = SDV_OK;
    goto done;
  }
  if (rc) goto done;
  /* Noise-free reference on the same integrator: one deterministic path. */
  sdv_process_options p0;
  sdv_process_options_default(&p0);
  p0.kind = SDV_PROCESS_SDE;
  p0.integrator = s->integrator;
  p0.substeps = s->o->substeps;
  p0.sub = sub_s;
  if ((rc = model_at(&m0, base, eta, 0.0))) goto done;
  mo.paths = 1;
  mo.progress = NULL;
  if ((rc = sdv_mc_run(&res0, m0, &p0, steps, nt, s->obs, nobs, &mo))) goto done;
  for (size_t t = 0; t < nt; t++)
    for (size_t i = 0; i < nobs; i++) {
      sdv_mc_summary dd, ss, s0;
      if ((rc = sdv_mc_result_get(res, t, i, &dd)) ||
          (rc = sdv_mc_result_get(res, t, 2 * nobs + i, &ss)) ||
          (rc = sdv_mc_result_get(res0, t, i, &s0)))
        goto done;
      const size_t c = t * nobs + i;
      side[c] = (sdv_weak_side){.mean = ss.mean,
                                .se = ss.se,
                                .exact = false,
                                .ref = s0.mean,
                                .nonfinite = ss.nonfinite,
                                .unstable = ss.unstable};
      err[c] = dd.mean;
      se[c] = dd.se;
      if (dside) {
        sdv_mc_summary od;
        if ((rc = sdv_mc_result_get(res, t, nobs + i, &od))) goto done;
        dside[c] = (sdv_weak_side){.mean = od.mean,
                                   .se = od.se,
                                   .exact = false,
                                   .nonfinite = od.nonfinite,
                                   .unstable = od.unstable};
      }
    }
  *used = true;
done:
  sdv_mc_result_free(res);
  sdv_mc_result_free(res0);
  sdv_model_free(md);
  sdv_model_free(m);
  sdv_model_free(m0);
  return rc;
}

/* Whether rung eta will be coupled (estimate_coupled would run): both sides Monte Carlo, a
 * noisy SDE and a coupling for the pair. Then the optimizer's side is read from the coupled
 * run instead of a run of its own (the same paths, bit for bit), and only its noise-free
 * reference is computed here, into side[c].ref. */
static int plan_coupled(const study *s, const model_src *sde, double eta,
                        const size_t *steps, sdv_weak_side *side, bool *yes) {
  const size_t nt = s->ntimes, nobs = s->nobs;
  sdv_model *md = NULL, *m = NULL;
  sdv_process *probe = NULL;
  double *ref = NULL;
  *yes = false;
  int rc;
  if (s->o->coupling != SDV_WEAK_COUPLING_CRN || sde->diffusion_scale == 0.0) return SDV_OK;
  if ((rc = model_at(&md, s->disc, eta, s->disc->diffusion_scale))) goto done;
  if (s->o->exact && exact_all(md, SDV_SIDE_DISCRETE, s)) goto done;
  if ((rc = model_at(&m, sde, eta, sde->diffusion_scale))) goto done;
  if (s->o->exact && exact_all(m, SDV_SIDE_SDE, s)) goto done;
  const sdv_process_options po = coupled_options(s, m, 0, 1);
  rc = sdv_process_alloc(&probe, md, &po);
  if (rc == SDV_ENOTSUP) { /* estimate_coupled records the reason */
    rc = SDV_OK;
    goto done;
  }
  if (rc) goto done;
  if (!(ref = malloc(nt * nobs * sizeof *ref))) {
    rc = SDV_ERROR(SDV_ENOMEM, "out of memory");
    goto done;
  }
  sdv_exact_options xo;
  sdv_exact_options_default(&xo);
  xo.cancel = s->o->cancel;
  if ((rc = sdv_exact_eval(md, SDV_SIDE_NOISEFREE, steps, nt, s->obs, nobs, ref, &xo, NULL)))
    goto done;
  for (size_t c = 0; c < nt * nobs; c++)
    side[c] = (sdv_weak_side){.mean = NAN, .se = NAN, .exact = false, .ref = ref[c]};
  *yes = true;
done:
  free(ref);
  sdv_process_free(probe);
  sdv_model_free(md);
  sdv_model_free(m);
  return rc;
}

/* ---- statistics over the ladder ---- */

/* Two-sided critical value at level a with dof degrees of freedom (normal when dof == 0
 * is not meaningful: the caller handles it). */
static double crit(double a, size_t dof, bool exact_fit) {
  if (exact_fit && dof > 0) return gsl_cdf_tdist_Qinv(a / 2.0, (double)dof);
  return sdv_z_critical(a);
}

/* Fills the derived fields of a row whose sides are set (and, when r->coupled, whose err
 * and err_se hold the coupled difference's mean and standard error). */
static void make_row(sdv_weak_row *r, double z) {
  const double unc2 = r->disc.se * r->disc.se + r->sde.se * r->sde.se;
  r->vr = NAN;
  if (r->coupled) {
    r->vr = unc2 / (r->err_se * r->err_se);
  } else {
    r->err = r->disc.mean - r->sde.mean;
    r->err_se = sqrt(unc2);
  }
  r->err_lo = r->err - z * r->err_se;
  r->err_hi = r->err + z * r->err_se;
  r->resolved = (r->err_se == 0) ? (fabs(r->err) > r->disc.num_err + r->sde.num_err)
                                 : (fabs(r->err) > z * r->err_se);
  r->fl_disc = (r->disc.mean - r->disc.ref) / r->eta;
  r->fl_sde = r->coupled ? r->fl_disc - (r->err - (r->disc.ref - r->sde.ref)) / r->eta
                         : (r->sde.mean - r->sde.ref) / r->eta;
  r->fl_se = r->err_se / r->eta;
}

/* Order test (docs/math/weak.md, "The order fit"). */
static int order_test(sdv_weak_test *T, const sdv_weak_row *rows, size_t nrows,
                      const sdv_weak_options *o, double a_test) {
  double x[64], y[64], s[64], dy[64], eta[64];
  bool all_exact = true, any_mc = false;
  size_t n = 0;
  double y_sign = 0;
  for (size_t r = 0; r < nrows; r++) {
    const sdv_weak_row *w = &rows[r];
    any_mc |= w->err_se > 0;
    if (!w->resolved || !isfinite(w->err)) continue;
    if (n > 0 && (w->err > 0) != (y_sign > 0)) T->sign_change = true;
    y_sign = w->err;
    eta[n] = w->eta;
    x[n] = log(w->eta);
    y[n] = log(fabs(w->err));
    s[n] = w->err_se / fabs(w->err);
    dy[n] = (w->disc.num_err + w->sde.num_err) / fabs(w->err);
    if (w->err_se > 0) all_exact = false;
    n++;
  }
  T->fit_points = n;
  T->slope = T->slope_se = T->slope_lo = T->slope_hi = NAN;
  T->local_slope = T->local_slope_se = T->slope_limit = T->slope_limit_se = NAN;
  T->order_stat_tol = T->order_ratio = NAN;
  T->order_verdict = SDV_VERDICT_INCONCLUSIVE;
  if (n < 2) {
    T->order_reason = any_mc ? SDV_WEAK_MC_NOISE : SDV_WEAK_NOTHING;
    return SDV_OK;
  }
  if (!all_exact) /* an exact rung among Monte Carlo ones: keep the weights finite */
    for (size_t k = 0; k < n; k++) s[k] = fmax(s[k], 1e-12);
  const double thr = o->order - o->order_tol;
  /* Local slopes of the two finest pairs. For e = C eta^p (1 + k eta + ...) the local slope of
   * a pair is p + k m + O(m^2), m the pair's logarithmic mean (eta_a - eta_b)/log(eta_a/eta_b):
   * extrapolating the two finest local slopes linearly in m to m = 0 removes the leading
   * pre-asymptotic term. */
  const double dxf = x[n - 2] - x[n - 1];
  const double pf = (y[n - 2] - y[n - 1]) / dxf;
  const double sf = hypot(s[n - 2], s[n - 1]) / dxf;
  const double nf = (dy[n - 2] + dy[n - 1]) / dxf;
  T->local_slope = pf;
  T->local_slope_se = sf;
  double pp = NAN, pinf = NAN, sinf = NAN, ninf = 0, rise = NAN, srise = NAN;
  if (n >= 3) {
    const double dxp = x[n - 3] - x[n - 2];
    pp = (y[n - 3] - y[n - 2]) / dxp;
    const double mf = (eta[n - 2] - eta[n - 1]) / dxf, mp = (eta[n - 3] - eta[n - 2]) / dxp;
    const double g = mf / (mp - mf);
    /* pinf = (1 + g) pf - g pp as a combination of y[n-3], y[n-2], y[n-1]. */
    const double k3 = -g / dxp, k2 = (1 + g) / dxf + g / dxp, k1 = -(1 + g) / dxf;
    pinf = pf + g * (pf - pp);
    sinf = sqrt(k3 * k3 * s[n - 3] * s[n - 3] + k2 * k2 * s[n - 2] * s[n - 2] +
                k1 * k1 * s[n - 1] * s[n - 1]);
    ninf = fabs(k3) * dy[n - 3] + fabs(k2) * dy[n - 2] + fabs(k1) * dy[n - 1];
    rise = pf - pp;
    const double r3 = -1 / dxp, r2 = 1 / dxf + 1 / dxp, r1 = -1 / dxf;
    srise = sqrt(r3 * r3 * s[n - 3] * s[n - 3] + r2 * r2 * s[n - 2] * s[n - 2] +
                 r1 * r1 * s[n - 1] * s[n - 1]);
    T->slope_limit = pinf;
    T->slope_limit_se = sinf;
  }
  if (all_exact) {
    /* Exact errors carry no noise. With three or more rungs the order is the extrapolated local
     * slope and its uncertainty how far the extrapolation moved it (the usual Richardson error
     * estimate) plus the propagated numerical error. Two rungs cannot separate a pre-asymptotic
     * ladder from a wrong model. */
    double half;
    if (n >= 3) {
      half = fabs(pinf - pf) + ninf;
      T->slope = pinf;
    } else {
      half = nf;
      T->slope = pf;
    }
    T->slope_se = half;
    T->slope_lo = T->slope - half;
    T->slope_hi = T->slope + half;
    T->order_stat_tol = o->order_tol + half;
    T->order_ratio = (o->order - T->slope) / T->order_stat_tol;
    if (n < 3 || T->sign_change || half > o->order_resolution) {
      T->order_reason = SDV_WEAK_PREASYMPTOTIC;
    } else if (T->slope_hi >= thr) {
      T->order_verdict = SDV_VERDICT_PASS;
    } else if (pf + nf < thr) {
      T->order_verdict = SDV_VERDICT_FAIL;
    } else {
      T->order_reason = SDV_WEAK_PREASYMPTOTIC;
    }
    return SDV_OK;
  }
  double c0, c1, s0, s1;
  size_t dof;
  int rc = sdv_weak_linfit(x, y, s, n, &c0, &c1, &s0, &s1, &dof);
  if (rc) return rc;
  const double z = crit(a_test, dof, false);
  T->slope = c1;
  T->slope_se = s1;
  T->slope_lo = c1 - z * s1;
  T->slope_hi = c1 + z * s1;
  T->order_stat_tol = o->order_tol + z * s1;
  T->order_ratio = (o->order - c1) / T->order_stat_tol;
  /* The fit's misfit: the covariance is inflated by chi2/dof when the points scatter beyond
   * their standard errors. If the interval is too wide only because of that inflation (the
   * errors alone would resolve the slope, as coupled estimates often do), the ladder is not
   * on a straight line yet: pre-asymptotic, not Monte Carlo noise. */
  double chi2 = 0;
  for (size_t k = 0; k < n; k++) {
    const double r = (y[k] - c0 - c1 * x[k]) / s[k];
    chi2 += r * r;
  }
  const double inflate = dof > 0 && chi2 > (double)dof ? chi2 / (double)dof : 1.0;
  if (T->sign_change) {
    T->order_reason = SDV_WEAK_PREASYMPTOTIC;
  } else if (T->slope_lo >= thr) {
    /* The whole interval is above the threshold: the error decays at least as fast as
     * claimed however wide the interval is (e.g. a pre-asymptotic slope of 2.4 +- 0.6). */
    T->order_verdict = SDV_VERDICT_PASS;
  } else if (z * s1 > o->order_resolution) {
    T->order_reason = z * s1 / sqrt(inflate) <= o->order_resolution ? SDV_WEAK_PREASYMPTOTIC
                                                                     : SDV_WEAK_MC_NOISE;
  } else if (T->slope_hi >= thr) {
    T->order_verdict = SDV_VERDICT_PASS;
  } else if (n < 3) {
    T->order_reason = SDV_WEAK_PREASYMPTOTIC;
  } else {
    /* The fit over the whole ladder is too low. FAIL only if that holds on its asymptotic end:
     * the finest pair is too low as well, and, if the local slopes are still rising towards
     * the fine end beyond their noise, so is their extrapolation to eta -> 0. Each condition
     * is a test at level a_test; their conjunction keeps the false-failure rate <= a_test. */
    const bool finest_low = pf + z * sf < thr;
    const bool rising = rise > z * srise;
    const bool limit_low = pinf + z * sinf < thr;
    if (finest_low && (!rising || limit_low))
      T->order_verdict = SDV_VERDICT_FAIL;
    else
      T->order_reason = SDV_WEAK_PREASYMPTOTIC;
  }
  return SDV_OK;
}

/* Intercept of a polynomial fit of degree deg to (x, y[, se]) with its standard error and the
 * sum over points of |w0_i| num_i (the propagated numerical error bound). */
static int intercept_fit(const double *x, const double *y, const double *se, const double *num,
                         size_t n, size_t deg, double *a, double *sa, double *anum, double *c2,
                         double *sc2, double *chi2, size_t *dof) {
  double c[3], cs[3], w0[64];
  int rc = sdv_weak_polyfit(x, y, se, n, deg, c, cs, chi2, dof, w0);
  if (rc) return rc;
  *a = c[0];
  *sa = cs[0];
  *anum = 0;
  for (size_t k = 0; k < n; k++) *anum += fabs(w0[k]) * num[k];
  if (c2) *c2 = deg == 2 ? c[2] : NAN;
  if (sc2) *sc2 = deg == 2 ? cs[2] : NAN;
  return SDV_OK;
}

/* Fluctuation test (docs/math/weak.md, "Extrapolation and test"). */
static int fluct_test(sdv_weak_test *T, const sdv_weak_row *rows, size_t nrows,
                      const sdv_weak_options *o, double a_test) {
  double xe[64], y[64], se[64], y2[64], se2[64], nd[64], nl[64];
  bool all_exact = true;
  size_t n = 0;
  for (size_t r = 0; r < nrows; r++) {
    const sdv_weak_row *w = &rows[r];
    if (!isfinite(w->fl_disc) || !isfinite(w->fl_sde)) continue;
    xe[n] = w->eta;
    y[n] = w->fl_disc - w->fl_sde;
    se[n] = w->fl_se;
    y2[n] = w->fl_disc;
    se2[n] = w->disc.se / w->eta;
    nd[n] = (w->disc.num_err + w->sde.num_err) / w->eta;
    nl[n] = w->disc.num_err / w->eta;
    if (w->fl_se > 0) all_exact = false;
    n++;
  }
  T->intercept = T->intercept_se = T->intercept_lo = T->intercept_hi = NAN;
  T->limit = T->limit_se = NAN;
  T->rel = T->rel_lo = T->rel_hi = NAN;
  T->curvature = T->curvature_se = NAN;
  T->intercept_tol = T->intercept_ratio = T->intercept_rem = T->intercept_num = NAN;
  T->diffusion_verdict = SDV_VERDICT_INCONCLUSIVE;
  if (n < 2) {
    T->diffusion_reason = all_exact ? SDV_WEAK_NOTHING : SDV_WEAK_MC_NOISE;
    return SDV_OK;
  }
  double a, sa, anum, l0, sl0, lnum, chi2, chi2l;
  size_t dof, dofl;
  int rc;
  if (!all_exact) {
    /* A side that is exact contributes no noise: floor the weights at a tiny multiple of the
     * values to keep WLS defined. */
    for (size_t k = 0; k < n; k++) {
      const double floor_se = 1e-12 * (fabs(y[k]) + fabs(y2[k]) + 1e-300);
      if (se[k] < floor_se) se[k] = floor_se;
      if (se2[k] < floor_se) se2[k] = floor_se;
    }
    const size_t deg = n >= 4 ? 2 : 1;
    T->fluct_degree = deg;
    if ((rc = intercept_fit(xe, y, se, nd, n, deg, &a, &sa, &anum, &T->curvature,
                            &T->curvature_se, &chi2, &dof)))
      return rc;
    if ((rc = intercept_fit(xe, y2, se2, nl, n, deg, &l0, &sl0, &lnum, NULL, NULL, &chi2l,
                            &dofl)))
      return rc;
    const double z = crit(a_test, dof, false);
    T->intercept = a;
    T->intercept_se = sa;
    T->intercept_num = anum;
    T->intercept_rem = 0;
    T->intercept_tol = z * sa + anum;
    T->intercept_lo = a - T->intercept_tol;
    T->intercept_hi = a + T->intercept_tol;
    T->intercept_ratio = fabs(a) / T->intercept_tol;
    T->limit = l0;
    T->limit_se = sl0;
    T->fluct_resolved = fabs(l0) > z * sl0 + lnum;
    if (!T->fluct_resolved) {
      T->diffusion_reason = SDV_WEAK_MC_NOISE;
    } else if (fabs(a) <= T->intercept_tol) {
      T->diffusion_verdict = SDV_VERDICT_PASS;
    } else if (n == 2) {
      /* A line through two rungs has no check of its own curvature. */
      T->diffusion_reason = SDV_WEAK_PREASYMPTOTIC;
    } else if (n == 3) {
      /* Three rungs: the straight line is tested; a parabola fits the three rungs exactly but
       * leaves nothing to test it by. A rejection by the line counts only if the parabola's
       * intercept rejects as well (at the same level); if not, the verdict depends on the
       * curvature, which three rungs cannot settle: INCONCLUSIVE, refine the ladder. The
       * line's chi-square (1 dof, level curvature_alpha) is reported as curvature_detected. */
      double aq, saq, aqnum, cq, scq, chi2q;
      size_t dofq;
      if ((rc = intercept_fit(xe, y, se, nd, n, 2, &aq, &saq, &aqnum, &cq, &scq, &chi2q,
                              &dofq)))
        return rc;
      T->curvature = cq;
      T->curvature_se = scq;
      T->curvature_detected = chi2 > gsl_cdf_chisq_Qinv(o->curvature_alpha, 1.0);
      if (fabs(aq) <= z * saq + aqnum)
        T->diffusion_reason = SDV_WEAK_PREASYMPTOTIC;
      else
        T->diffusion_verdict = SDV_VERDICT_FAIL;
    } else {
      T->diffusion_verdict = SDV_VERDICT_FAIL;
    }
  } else {
    /* Noise-free data: the departure from the fitted polynomial is the remainder of the
     * expansion in eta, not noise. Fit the parabola with >= 3 rungs (interpolation with 3) and
     * bound its intercept's error by twice its change against the next fit (docs: the
     * Richardson-type remainder), plus the propagated numerical error of the exact routes. */
    const size_t deg = n >= 3 ? 2 : 1;
    T->fluct_degree = deg;
    if ((rc = intercept_fit(xe, y, NULL, nd, n, deg, &a, &sa, &anum, &T->curvature,
                            &T->curvature_se, &chi2, &dof)))
      return rc;
    if ((rc = intercept_fit(xe, y2, NULL, nl, n, deg, &l0, &sl0, &lnum, NULL, NULL, &chi2l,
                            &dofl)))
      return rc;
    double arem = NAN, lrem = NAN;
    if (n >= 3) {
      /* n >= 4: the parabola without the coarsest rung; n = 3: the line through the two
       * finest rungs. */
      const size_t deg2 = n >= 4 ? 2 : 1;
      double a2, sa2, a2num, l2, sl2, l2num, c2chi;
      size_t c2dof;
      if ((rc = intercept_fit(xe + 1, y + 1, NULL, nd + 1, n - 1, deg2, &a2, &sa2, &a2num, NULL,
                              NULL, &c2chi, &c2dof)))
        return rc;
      if ((rc = intercept_fit(xe + 1, y2 + 1, NULL, nl + 1, n - 1, deg2, &l2, &sl2, &l2num,
                              NULL, NULL, &c2chi, &c2dof)))
        return rc;
      arem = 2.0 * fabs(a - a2);
      lrem = 2.0 * fabs(l0 - l2);
    }
    T->intercept = a;
    T->intercept_rem = arem;
    T->intercept_num = anum;
    T->intercept_tol = arem + anum; /* NaN with 2 rungs: no remainder estimate */
    T->intercept_se = T->intercept_tol;
    T->intercept_lo = a - T->intercept_tol;
    T->intercept_hi = a + T->intercept_tol;
    T->intercept_ratio = fabs(a) / T->intercept_tol;
    T->limit = l0;
    T->limit_se = 0;
    const double ltol = (n >= 3 ? lrem : 0) + lnum;
    if (!(fabs(l0) > ltol)) {
      /* L is 0 within what the data can tell: nothing to compare. */
      T->diffusion_reason = (n >= 3 && lrem > lnum) ? SDV_WEAK_PREASYMPTOTIC : SDV_WEAK_NOTHING;
    } else if (!(anum < fabs(l0))) {
      /* The numerical error alone cannot tell the right diffusion (a = 0) from none (a = L). */
      T->diffusion_reason = SDV_WEAK_NOTHING;
    } else if (n < 3 || !(T->intercept_tol < fabs(l0))) {
      /* No remainder estimate, or one too large to tell a = 0 from a = L. */
      T->diffusion_reason = SDV_WEAK_PREASYMPTOTIC;
    } else {
      T->fluct_resolved = true;
      T->diffusion_verdict =
          fabs(a) <= T->intercept_tol ? SDV_VERDICT_PASS : SDV_VERDICT_FAIL;
    }
  }
  if (l0 != 0) {
    /* a/L with the intercept's interval divided by |L|, widened, where L is a Monte Carlo
     * estimate, by |a/L| times L's own interval at the same critical value: the bound
     * (sd_a + |a/L| sd_L)/|L| on the delta-method standard error holds whatever the
     * correlation of a and L (both come from F_disc). Coupling shrinks sd_a far below sd_L,
     * so L's part matters there. */
    T->rel = a / l0;
    double half = 0.5 * (T->intercept_hi - T->intercept_lo) / fabs(l0);
    if (T->limit_se > 0 && T->intercept_se > 0) {
      const double zc = (T->intercept_hi - T->intercept) / T->intercept_se;
      half += zc * fabs(T->rel) * T->limit_se / fabs(l0);
    }
    T->rel_lo = T->rel - half;
    T->rel_hi = T->rel + half;
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
static void flag_estimates(sdv_weak_result *res, const study *s, const model_src *disc,
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

int sdv_weak_test_rows(const sdv_weak_row *rows, size_t nrows, const sdv_weak_options *o,
                       double alpha_test, sdv_weak_test *T) {
  if (!rows || !o || !T) return SDV_ERROR(SDV_EINVAL, "weak test: NULL argument");
  if (nrows == 0 || nrows > 64)
    return SDV_ERROR(SDV_EINVAL, "weak test: nrows = %zu must be in 1..64", nrows);
  if (!(alpha_test > 0 && alpha_test < 1))
    return SDV_ERROR(SDV_EINVAL, "weak test: alpha_test = %g must be in (0, 1)", alpha_test);
  memset(T, 0, sizeof *T);
  T->obs = rows[0].obs;
  T->t = rows[0].t;
  int rc = order_test(T, rows, nrows, o, alpha_test);
  if (rc) return rc;
  return fluct_test(T, rows, nrows, o, alpha_test);
}

/* Fills test (obs i, time index t) from rows[rung][t][i]; rows are for one SDE variant. */
static int make_test(sdv_weak_test *T, const sdv_weak_row *rows, size_t neta, size_t ntimes,
                     size_t nobs, size_t t, size_t i, const sdv_weak_options *o, double a_test) {
  sdv_weak_row series[64];
  for (size_t r = 0; r < neta && r < 64; r++) series[r] = rows[(r * ntimes + t) * nobs + i];
  int rc = sdv_weak_test_rows(series, neta < 64 ? neta : 64, o, a_test, T);
  T->obs = i;
  return rc;
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
  if (!(o->curvature_alpha > 0 && o->curvature_alpha < 1))
    return SDV_ERROR(SDV_EINVAL, "curvature alpha = %g must be in (0, 1)", o->curvature_alpha);
  if (!(o->exact_tol_factor > 1) || !isfinite(o->exact_tol_factor))
    return SDV_ERROR(SDV_EINVAL, "exact tolerance factor = %g must be finite and > 1",
                     o->exact_tol_factor);
  if (o->obs && o->nobs == 0) return SDV_ERROR(SDV_EINVAL, "observables: empty list");
  if (o->coupling != SDV_WEAK_COUPLING_CRN && o->coupling != SDV_WEAK_COUPLING_NONE)
    return SDV_ERROR(SDV_EINVAL, "coupling = %d must be CRN (0) or NONE (1)", (int)o->coupling);
  return SDV_OK;
}

static int cmp_desc(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x < y) - (x > y);
}

/* Runs the SDE side of every rung with diffusion scale dscale into rows (disc already set):
 * coupled with the optimizer where options and model allow (estimate_coupled), else
 * independently. err/se are scratch of nt * nobs doubles. */
static int run_sde_sides(const study *s, const model_src *sde, const double *eta,
                         double dscale, sdv_weak_row *rows, size_t *steps, sdv_weak_side *buf,
                         double *err, double *se, double z_row, size_t *done, size_t total) {
  const sdv_weak_options *o = s->o;
  const size_t nt = s->ntimes, nobs = s->nobs;
  for (size_t r = 0; r < o->neta; r++) {
    for (size_t t = 0; t < nt; t++) steps[t] = (size_t)nearbyint(o->times[t] / eta[r]);
    sdv_weak_row *rr = &rows[r * nt * nobs];
    bool disc_mc = true;
    for (size_t c = 0; c < nt * nobs; c++) disc_mc &= !rr[c].disc.exact;
    bool coupled = false;
    const bool deferred = s->deferred[r];
    int rc;
    if (o->coupling == SDV_WEAK_COUPLING_CRN && dscale != 0.0 && disc_mc &&
        (rc = estimate_coupled(s, sde, eta[r], dscale, (uint32_t)(2 * r), (uint32_t)(2 * r + 1),
                               steps, buf, deferred ? s->dbuf : NULL, err, se, &coupled)))
      return rc;
    if (deferred) {
      /* The optimizer's side: the coupled run's column, or (never expected: plan_coupled
       * saw a coupling) a run of its own. */
      if (!coupled && (rc = estimate_side(s, s->disc, eta[r], s->disc->diffusion_scale, false,
                                          (uint32_t)(2 * r), steps, s->dbuf)))
        return rc;
      for (size_t c = 0; c < nt * nobs; c++) {
        const double ref = rr[c].disc.ref;
        rr[c].disc = s->dbuf[c];
        if (coupled) rr[c].disc.ref = ref;
      }
      s->deferred[r] = false;
    }
    if (!coupled &&
        (rc = estimate_side(s, sde, eta[r], dscale, true, (uint32_t)(2 * r + 1), steps, buf)))
      return rc;
    for (size_t c = 0; c < nt * nobs; c++) {
      sdv_weak_row *w = &rr[c];
      w->sde = buf[c];
      w->coupled = coupled;
      if (coupled) {
        w->err = err[c];
        w->err_se = se[c];
      }
      make_row(w, z_row);
    }
    if (o->progress) o->progress(o->progress_user, (double)++*done / (double)total);
  }
  return SDV_OK;
}

static int weak_run(const model_src *disc, const model_src *sde, const sdv_weak_options *o,
                    sdv_weak_result **out);

int sdv_weak_run(const sdv_model_options *disc, const sdv_model_options *sde,
                 const sdv_weak_options *o, sdv_weak_result **out) {
  if (!out) return SDV_ERROR(SDV_EINVAL, "weak study: out is NULL");
  *out = NULL;
  if (!disc || !o) return SDV_ERROR(SDV_EINVAL, "weak study: NULL model options or options");
  if (!sde) sde = disc;
  const model_src d = {.text = disc, .diffusion_scale = disc->diffusion_scale};
  const model_src s = {.text = sde, .diffusion_scale = sde->diffusion_scale};
  return weak_run(&d, &s, o, out);
}

int sdv_weak_run_spec(const sdv_model_spec *disc, const sdv_model_spec *sde,
                      const sdv_weak_options *o, sdv_weak_result **out) {
  if (!out) return SDV_ERROR(SDV_EINVAL, "weak study: out is NULL");
  *out = NULL;
  if (!disc || !o) return SDV_ERROR(SDV_EINVAL, "weak study: NULL model spec or options");
  if (!sde) sde = disc;
  const model_src d = {.spec = disc, .diffusion_scale = disc->diffusion_scale};
  const model_src s = {.spec = sde, .diffusion_scale = sde->diffusion_scale};
  return weak_run(&d, &s, o, out);
}

static int weak_run(const model_src *disc, const model_src *sde, const sdv_weak_options *o,
                    sdv_weak_result **out) {
  int rc = validate(o);
  if (rc) return rc;
  static const sdv_observable f_only = {.kind = SDV_OBS_F};
  study s = {.o = o,
             .obs = o->obs ? o->obs : &f_only,
             .nobs = o->obs ? o->nobs : 1,
             .ntimes = o->ntimes,
             .integrator = o->integrator ? o->integrator : sdv_integrator_default(NULL),
             .disc = disc};
  const size_t nt = s.ntimes, nobs = s.nobs, neta = o->neta, ncell = nt * nobs;
  double eta[64];
  memcpy(eta, o->eta, neta * sizeof *eta);
  qsort(eta, neta, sizeof *eta, cmp_desc);

  sdv_weak_result *res = calloc(1, sizeof *res);
  size_t *steps = malloc(nt * sizeof *steps);
  sdv_weak_side *buf = malloc(ncell * sizeof *buf);
  double *cerr = malloc(2 * ncell * sizeof *cerr), *cse = cerr ? cerr + ncell : NULL;
  sdv_weak_row *crow = NULL;
  const double controls[2] = {0.0, 2.0};
  const size_t ncontrols = o->controls ? 2 : 0;
  bool *deferred = calloc(neta, sizeof *deferred);
  sdv_weak_side *dbuf = malloc(ncell * sizeof *dbuf);
  if (!res || !steps || !buf || !cerr || !deferred || !dbuf) goto nomem;
  s.note = res->coupling_note;
  s.deferred = deferred;
  s.dbuf = dbuf;
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
    bool planned = false;
    if ((rc = plan_coupled(&s, sde, eta[r], steps, buf, &planned))) goto fail;
    s.deferred[r] = planned;
    if (!planned && (rc = estimate_side(&s, disc, eta[r], disc->diffusion_scale, false,
                                        (uint32_t)(2 * r), steps, buf)))
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
  if ((rc = run_sde_sides(&s, sde, eta, sde->diffusion_scale, res->rows, steps, buf, cerr, cse,
                          res->z_row, &done, total)))
    goto fail;
  for (size_t k = 0; k < res->nrows; k++) res->coupled |= res->rows[k].coupled;
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
      if ((rc = run_sde_sides(&s, sde, eta, C->diffusion_scale, crow, steps, buf, cerr, cse,
                              res->z_row, &done, total)))
        goto fail;
      C->ntests = ncell;
      if (!(C->tests = calloc(ncell, sizeof *C->tests))) goto nomem;
      for (size_t k = 0; k < res->nrows; k++) res->coupled |= crow[k].coupled;
      for (size_t t = 0; t < nt; t++)
        for (size_t i = 0; i < nobs; i++) {
          sdv_weak_test *T = &C->tests[t * nobs + i];
          if ((rc = make_test(T, crow, neta, nt, nobs, t, i, o, a_test))) goto fail;
          if (T->fluct_resolved && T->diffusion_verdict == SDV_VERDICT_FAIL) C->rejected = true;
        }
    }
  }

  /* Overall verdict. */
  bool order_fail = false, diff_fail = false, any_resolved = false, undecided = false;
  bool need_ladder = false, need_paths = false, nothing = false, sign_change = false;
  for (size_t k = 0; k < ncell; k++) {
    const sdv_weak_test *T = &res->tests[k];
    order_fail |= T->order_verdict == SDV_VERDICT_FAIL;
    any_resolved |= T->fluct_resolved;
    diff_fail |= T->fluct_resolved && T->diffusion_verdict == SDV_VERDICT_FAIL;
    sign_change |= T->sign_change;
    const sdv_weak_reason why[2] = {
        T->order_verdict == SDV_VERDICT_INCONCLUSIVE ? T->order_reason : SDV_WEAK_DECIDED,
        T->diffusion_verdict == SDV_VERDICT_INCONCLUSIVE ? T->diffusion_reason
                                                         : SDV_WEAK_DECIDED};
    for (size_t j = 0; j < 2; j++) {
      need_ladder |= why[j] == SDV_WEAK_PREASYMPTOTIC;
      need_paths |= why[j] == SDV_WEAK_MC_NOISE;
      nothing |= why[j] == SDV_WEAK_NOTHING;
    }
    undecided |= T->order_verdict == SDV_VERDICT_INCONCLUSIVE ||
                 (T->fluct_resolved && T->diffusion_verdict == SDV_VERDICT_INCONCLUSIVE);
  }
  bool controls_ok = true, ctrl_paths = false, ctrl_ladder = false;
  for (size_t c = 0; c < res->ncontrols; c++) {
    const sdv_weak_control *C = &res->controls[c];
    controls_ok &= C->rejected;
    if (C->rejected) continue;
    for (size_t k = 0; k < C->ntests; k++) {
      ctrl_paths |= C->tests[k].diffusion_reason == SDV_WEAK_MC_NOISE;
      ctrl_ladder |= C->tests[k].diffusion_reason == SDV_WEAK_PREASYMPTOTIC;
    }
  }
  if (order_fail || diff_fail) {
    res->verdict = SDV_VERDICT_FAIL;
    snprintf(res->summary, sizeof res->summary, "%s%s",
             order_fail ? diff_fail ? "weak error does not decay at the claimed order; "
                                    : "weak error does not decay at the claimed order"
                        : "",
             diff_fail ? "fluctuation part of the SDE does not match the optimizer" : "");
  } else if (undecided || !any_resolved) {
    /* Say what would help, and only that: more paths where Monte Carlo limits the result, a
     * finer ladder where it is pre-asymptotic, nothing where the quantity is zero. */
    res->verdict = SDV_VERDICT_INCONCLUSIVE;
    snprintf(res->summary, sizeof res->summary, "%s%s%s%s",
             sign_change ? "the weak error changes sign along the ladder; " : "",
             need_ladder ? "not yet asymptotic (curvature, local slopes still changing, or too "
                           "few rungs to tell pre-asymptotic from wrong): refine the ladder "
                           "toward smaller eta; "
                         : "",
             need_paths ? "Monte Carlo error hides the result: increase --paths; " : "",
             nothing ? "the fluctuation part is 0 within the numerical error of the exact "
                       "routes (e.g. sigma = 0, or an observable the noise does not move): "
                       "nothing to resolve, choose another observable"
                     : "");
    size_t len = strlen(res->summary);
    while (len > 0 && (res->summary[len - 1] == ' ' || res->summary[len - 1] == ';'))
      res->summary[--len] = '\0';
  } else if (!controls_ok) {
    res->verdict = SDV_VERDICT_INCONCLUSIVE;
    snprintf(res->summary, sizeof res->summary,
             "the study could not reject a deliberately wrong diffusion (negative control): "
             "it lacks the power to validate the SDE%s%s",
             ctrl_paths ? "; increase --paths" : "",
             ctrl_ladder ? "; refine the ladder toward smaller eta" : "");
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
  free(cerr);
  free(deferred);
  free(dbuf);
  free(crow);
  *out = res;
  return SDV_OK;
nomem:
  rc = SDV_ERROR(SDV_ENOMEM, "out of memory");
fail:
  free(steps);
  free(buf);
  free(cerr);
  free(deferred);
  free(dbuf);
  free(crow);
  sdv_weak_result_free(res);
  return rc;
}
