#include "checks_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sdv/errors.h>

int sdv_check_weak(const sdv_check_ctx *ctx, const char *label, const sdv_model_options *disc,
                   const sdv_model_options *sde, const sdv_weak_options *wo,
                   sdv_weak_result **out) {
  sdv_weak_options o = *wo;
  o.threads = ctx->threads;
  o.cancel = ctx->cancel;
  int rc = sdv_weak_run(disc, sde, &o, out);
  if (rc) return rc;
  static const sdv_observable f_only = {.kind = SDV_OBS_F};
  const sdv_observable *obs = o.obs ? o.obs : &f_only;
  long pos = ftell(ctx->csv);
  if (pos == 0)
    fprintf(ctx->csv, "study,eta,t,step,observable,disc_mean,disc_se,disc_exact,sde_mean,sde_se,"
                      "sde_exact,error,error_lo,error_hi,fl_disc,fl_sde,fl_se\n");
  char name[64];
  for (size_t k = 0; k < (*out)->nrows; k++) {
    const sdv_weak_row *w = &(*out)->rows[k];
    fprintf(ctx->csv, "%s,%.17g,%.17g,%zu,%s,%.17g,%.17g,%d,%.17g,%.17g,%d,%.17g,%.17g,%.17g,"
                      "%.17g,%.17g,%.17g\n",
            label, w->eta, w->t, w->step, sdv_observable_name(&obs[w->obs], name, sizeof name),
            w->disc.mean, w->disc.se, w->disc.exact, w->sde.mean, w->sde.se, w->sde.exact,
            w->err, w->err_lo, w->err_hi, w->fl_disc, w->fl_sde, w->fl_se);
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
  } else {
    snprintf(res->measured, sizeof res->measured,
             "fluctuation part: relative error a/L of [E g - g(noise-free)]/eta as eta -> 0");
    res->value = T->rel;
    res->lo = T->rel_lo;
    res->hi = T->rel_hi;
    res->predicted = 0.0;
    snprintf(res->prediction, sizeof res->prediction, "0 (L = %.4g ± %.2g)", T->limit,
             T->limit_se);
    res->pass = T->fluct_resolved && T->diffusion_verdict == SDV_VERDICT_PASS;
  }
  res->control_rejected = w->ncontrols > 0;
  for (size_t c = 0; c < w->ncontrols; c++)
    res->control_rejected = res->control_rejected && w->controls[c].rejected;
  if (w->ncontrols > 0) {
    snprintf(res->control, sizeof res->control,
             "same study with the SDE diffusion x0 (drift ODE) and x2");
    res->control_value = w->controls[0].tests[0].rel;
  }
  sdv_check_note(res, "weak verdict %s: %s", sdv_verdict_name(w->verdict), w->summary);
}
