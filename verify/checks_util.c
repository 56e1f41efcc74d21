#include "checks_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#include <sdv/errors.h>

int sdv_check_weak(const sdv_check_ctx *ctx, const char *label, const sdv_model_spec *disc,
                   const sdv_model_spec *sde, const sdv_weak_options *wo, sdv_weak_result **out) {
  sdv_weak_options o = *wo;
  o.threads = ctx->threads;
  o.cancel = ctx->cancel;
  int rc = sdv_weak_run_spec(disc, sde, &o, out);
  if (rc) return rc;
  static const sdv_observable f_only = {.kind = SDV_OBS_F};
  const sdv_observable *obs = o.obs ? o.obs : &f_only;
  long pos = ftell(ctx->csv);
  if (pos == 0)
    fprintf(ctx->csv,
            "study,eta,t,step,observable,disc_mean,disc_se,disc_exact,sde_mean,sde_se,"
            "sde_exact,error,error_lo,error_hi,fl_disc,fl_sde,fl_se\n");
  char name[64];
  for (size_t k = 0; k < (*out)->nrows; k++) {
    const sdv_weak_row *w = &(*out)->rows[k];
    fprintf(ctx->csv,
            "%s,%.17g,%.17g,%zu,%s,%.17g,%.17g,%d,%.17g,%.17g,%d,%.17g,%.17g,%.17g,"
            "%.17g,%.17g,%.17g\n",
            label, w->eta, w->t, w->step, sdv_observable_name(&obs[w->obs], name, sizeof name),
            w->disc.mean, w->disc.se, w->disc.exact, w->sde.mean, w->sde.se, w->sde.exact, w->err,
            w->err_lo, w->err_hi, w->fl_disc, w->fl_sde, w->fl_se);
  }
  return SDV_OK;
}

void sdv_check_note(sdv_check_result *res, const char *fmt, ...) {
  size_t used = strlen(res->note);
  if (used + 1 >= sizeof res->note) return;
  if (used) {
    res->note[used++] = ';';
    res->note[used++] = ' ';
    res->note[used] = '\0';
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(res->note + used, sizeof res->note - used, fmt, ap);
  va_end(ap);
}

const char *sdv_check_num(char *buf, size_t n, double v) {
  snprintf(buf, n, "%g", v);
  if (!(v != 0.0 && isfinite(v))) return buf;
  int k = (int)floor(log10(fabs(v)));
  double m = nearbyint(v / pow(10.0, k));
  if (fabs(m) >= 10.0) m = nearbyint(v / pow(10.0, ++k)); /* log10 rounded below a power */
  char e[32];
  snprintf(e, sizeof e, "%ge%d", m, k);
  if (strtod(e, NULL) == v && strlen(e) < strlen(buf)) snprintf(buf, n, "%s", e);
  return buf;
}

const char *sdv_check_verdict(const sdv_check_result *r) {
  /* A Monte Carlo test that passed but whose control was not rejected lacked the power to
   * tell right from wrong: undecided, not failed. An exact check has no such excuse. */
  if (r->pass) return r->control_rejected ? "PASS" : r->exact ? "FAIL" : "INCONCLUSIVE";
  return r->inconclusive ? "INCONCLUSIVE" : "FAIL";
}

void sdv_check_from_weak(sdv_check_result *res, const sdv_weak_result *w, const char *what) {
  const sdv_weak_test *T = &w->tests[0];
  const bool exact = w->rows[0].disc.exact && w->rows[0].sde.exact;
  res->exact = false; /* a fitted quantity always has an interval */
  if (strcmp(what, "order") == 0) {
    snprintf(res->measured, sizeof res->measured,
             "weak order: slope of log|E g(x_k) - E g(X_t)| vs log eta (%zu rungs%s)",
             T->fit_points, exact ? ", both sides exact" : "");
    res->value = T->slope;
    res->lo = T->slope_lo;
    res->hi = T->slope_hi;
    res->predicted = 1.0;
    snprintf(res->prediction, sizeof res->prediction, "order 1 (pass: upper CI bound >= 0.75)");
    res->pass = T->order_verdict == SDV_VERDICT_PASS;
    res->inconclusive = T->order_verdict == SDV_VERDICT_INCONCLUSIVE;
    res->ratio = T->order_ratio;
  } else {
    snprintf(res->measured, sizeof res->measured,
             "fluctuation part: relative error a/L of [E g - g(noise-free)]/eta as eta -> 0");
    res->value = T->rel;
    res->lo = T->rel_lo;
    res->hi = T->rel_hi;
    res->predicted = 0.0;
    snprintf(res->prediction, sizeof res->prediction, "0 (L = %.4g ± %.2g)", T->limit, T->limit_se);
    res->pass = T->fluct_resolved && T->diffusion_verdict == SDV_VERDICT_PASS;
    res->inconclusive = !T->fluct_resolved || T->diffusion_verdict == SDV_VERDICT_INCONCLUSIVE;
    res->ratio = T->intercept_ratio;
  }
  res->control_rejected = w->ncontrols > 0;
  for (size_t c = 0; c < w->ncontrols; c++) {
    res->control_rejected = res->control_rejected && w->controls[c].rejected;
    /* The weakest rejection: the control's |a| over its own tolerance (rejected iff > 1). */
    const double cr = w->controls[c].tests[0].intercept_ratio;
    if (isfinite(cr) && !(res->control_ratio <= cr)) res->control_ratio = cr;
  }
  if (w->ncontrols > 0) {
    snprintf(res->control, sizeof res->control,
             "same study with the SDE diffusion x0 (drift ODE) and x2");
    res->control_value = w->controls[0].tests[0].rel;
  }
  sdv_check_note(res, "weak verdict %s: %s", sdv_verdict_name(w->verdict), w->summary);
}

/* ---- the comparison ledger ---- */

static sdv_ledger_entry *ledger_push(sdv_ledger *L) {
  if (L->oom) return NULL;
  if (L->n == L->cap) {
    const size_t cap = L->cap ? 2 * L->cap : 64;
    sdv_ledger_entry *e = realloc(L->e, cap * sizeof *e);
    if (!e) {
      L->oom = true;
      return NULL;
    }
    L->e = e;
    L->cap = cap;
  }
  return &L->e[L->n++];
}

void sdv_ledger_stat(sdv_ledger *L, double est, double se_est, double ref, double se_ref,
                     const char *fmt, ...) {
  sdv_ledger_entry *e = ledger_push(L);
  if (!e) return;
  e->diff = est - ref;
  e->se = sqrt(se_est * se_est + se_ref * se_ref);
  e->tol = e->bias = 0.0;
  e->det = false;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->what, sizeof e->what, fmt, ap);
  va_end(ap);
}

void sdv_ledger_stat_biased(sdv_ledger *L, double est, double se_est, double ref, double bias,
                            const char *fmt, ...) {
  sdv_ledger_entry *e = ledger_push(L);
  if (!e) return;
  e->diff = est - ref;
  e->se = se_est;
  e->tol = 0.0;
  e->bias = bias;
  e->det = false;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->what, sizeof e->what, fmt, ap);
  va_end(ap);
}

void sdv_ledger_det(sdv_ledger *L, double est, double ref, double tol, const char *fmt, ...) {
  sdv_ledger_entry *e = ledger_push(L);
  if (!e) return;
  e->diff = est - ref;
  e->se = e->bias = 0.0;
  e->tol = tol;
  e->det = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->what, sizeof e->what, fmt, ap);
  va_end(ap);
}

int sdv_ledger_close(const sdv_ledger *L, double alpha, sdv_ledger_summary *s) {
  memset(s, 0, sizeof *s);
  if (L->oom) return SDV_ERROR(SDV_ENOMEM, "ledger: out of memory");
  for (size_t k = 0; k < L->n; k++) L->e[k].det ? s->ndet++ : s->nstat++;
  s->z = s->nstat ? gsl_cdf_ugaussian_Qinv(alpha / (2.0 * (double)s->nstat)) : 0.0;
  for (size_t k = 0; k < L->n; k++) {
    const sdv_ledger_entry *e = &L->e[k];
    const double tol = e->det ? e->tol : s->z * e->se + e->bias;
    const double r = fabs(e->diff) == 0.0 ? 0.0 : (tol > 0.0 ? fabs(e->diff) / tol : INFINITY);
    if (isnan(r) || isnan(e->diff)) {
      s->worst = NAN;
      snprintf(s->what, sizeof s->what, "%s", e->what);
      return SDV_OK;
    }
    if (r > s->worst || k == 0) {
      s->worst = r;
      snprintf(s->what, sizeof s->what, "%s", e->what);
    }
  }
  return SDV_OK;
}

void sdv_ledger_reset(sdv_ledger *L) {
  L->n = 0;
  L->oom = false;
}

void sdv_ledger_free(sdv_ledger *L) {
  free(L->e);
  L->e = NULL;
  L->n = L->cap = 0;
}

bool sdv_ledger_passes(const sdv_ledger_summary *s) { return s->worst <= 1.0; }

double sdv_ledger_worst_at(const sdv_ledger *L, double z) {
  double w = 0.0;
  for (size_t k = 0; k < L->n; k++)
    if (!L->e[k].det && L->e[k].diff != 0.0) {
      const double tol = z * L->e[k].se + L->e[k].bias;
      w = fmax(w, tol > 0.0 ? fabs(L->e[k].diff) / tol : INFINITY);
    }
  return w;
}

void sdv_ledger_write_csv(const sdv_ledger *L, const sdv_ledger_summary *s, FILE *f) {
  fprintf(f, "comparison,difference,se,tolerance,ratio\n");
  for (size_t k = 0; k < L->n; k++) {
    const sdv_ledger_entry *e = &L->e[k];
    const double tol = e->det ? e->tol : s->z * e->se + e->bias;
    fprintf(f, "\"%s\",%.17g,%.17g,%.17g,%.17g\n", e->what, e->diff, e->se, tol,
            fabs(e->diff) / tol);
  }
}

void sdv_sample_moments(const double *x, size_t M, size_t d, double *mean, double *se_mean,
                        double *cov, double *se_cov) {
  for (size_t j = 0; j < d; j++) {
    double sum = 0.0;
    for (size_t s = 0; s < M; s++) sum += x[s * d + j];
    mean[j] = sum / (double)M;
  }
  for (size_t j = 0; j < d; j++)
    for (size_t l = j; l < d; l++) {
      double s1 = 0.0, s2 = 0.0;
      for (size_t s = 0; s < M; s++) {
        const double p = (x[s * d + j] - mean[j]) * (x[s * d + l] - mean[l]);
        s1 += p;
        s2 += p * p;
      }
      const double m1 = s1 / (double)M;
      const double var = fmax(0.0, (s2 / (double)M - m1 * m1) * (double)M / (double)(M - 1));
      cov[j * d + l] = cov[l * d + j] = m1;
      se_cov[j * d + l] = se_cov[l * d + j] = sqrt(var / (double)M);
    }
  for (size_t j = 0; j < d; j++)
    se_mean[j] = sqrt(cov[j * d + j] * (double)M / (double)(M - 1) / (double)M);
}
