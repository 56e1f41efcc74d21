/* DSGD/DCSGD configurations on quadratics: their averages, the model built from them, and the
 * stationary family's CSV rows (see checks_quadratic.h). */
#include "checks_quadratic.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sdv/errors.h>

double cfg_omega(const cfg *c, size_t i) {
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

cfg_means cfg_averages(const cfg *c) {
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

double cfg_lam_min(const cfg *c) {
  double l = INFINITY;
  for (size_t j = 0; j < c->d; j++) l = fmin(l, c->lam[j]);
  return l;
}

double cfg_lam_max(const cfg *c) {
  double l = 0.0;
  for (size_t j = 0; j < c->d; j++) l = fmax(l, c->lam[j]);
  return l;
}

/* Writes v[0..n) as "%.17g" separated by commas into buf (len bytes). A list that does not fit
 * is an error naming what, never a silently shortened model. */
static int join(char *buf, size_t len, const double *v, size_t n, const cfg *c, const char *what) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    int w = snprintf(buf + used, len - used, "%s%.17g", i ? "," : "", v[i]);
    if (w < 0 || (size_t)w >= len - used)
      return SDV_ERROR(SDV_ELIMIT,
                       "stationary: config %s: the %s list (%zu values) does not fit "
                       "in %zu characters",
                       c->name, what, n, len - 1);
    used += (size_t)w;
  }
  return SDV_OK;
}

/* Writes each agent's compressor spec, separated by ';', into buf (len bytes); an error like
 * join's when they do not fit. */
static int join_compressors(char *buf, size_t len, const cfg *c) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < c->N; i++) {
    int w = c->comp == COMP_BERNOULLI
                ? snprintf(buf + used, len - used, "%sbernoulli:p=%.17g", i ? ";" : "", c->par[i])
                : snprintf(buf + used, len - used, "%srand-k:k=%.0f", i ? ";" : "", c->par[i]);
    if (w < 0 || (size_t)w >= len - used)
      return SDV_ERROR(SDV_ELIMIT,
                       "stationary: config %s: the compressor list (%zu agents) "
                       "does not fit in %zu characters",
                       c->name, c->N, len - 1);
    used += (size_t)w;
  }
  return SDV_OK;
}

int cfg_model(const cfg *c, uint64_t seed, double dscale, sdv_model **m) {
  static const char lam_key[] = "quadratic:lam=";
  char obj[512], sig[256], comp[512], x0[512];
  sdv_model_options o;
  sdv_model_options_default(&o);
  o.method = c->comp == COMP_NONE ? "dsgd" : "dcsgd";
  o.dim = c->d;
  o.agents = c->N;
  o.eta = c->eta;
  o.seed = seed;
  o.diffusion_scale = dscale;
  int rc;
  if (c->objective) {
    o.objective = c->objective;
  } else {
    memcpy(obj, lam_key, sizeof lam_key);
    const size_t w = sizeof lam_key - 1;
    if ((rc = join(obj + w, sizeof obj - w, c->lam, c->d, c, "lam"))) return rc;
    o.objective = obj;
  }
  if ((rc = join(sig, sizeof sig, c->sigma, c->N, c, "sigma"))) return rc;
  o.sigma = sig;
  if (c->comp != COMP_NONE) {
    if ((rc = join_compressors(comp, sizeof comp, c))) return rc;
    o.compressor = comp;
  }
  if (c->x0[0] != 0.0) {
    if ((rc = join(x0, sizeof x0, c->x0, c->d, c, "x0"))) return rc;
    o.x0 = x0;
  }
  return sdv_model_alloc(m, &o);
}

int cfg_exact_f(const sdv_model *m, sdv_side side, double *v) {
  const sdv_observable f = {.kind = SDV_OBS_F};
  return sdv_exact_stationary(m, side, &f, 1, v, NULL, NULL);
}

void cfg_csv_row(const sdv_check_ctx *ctx, const char *part, const cfg *c, const char *quantity,
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

void cfg_mc_defaults(const sdv_check_ctx *ctx, sdv_mc_options *mo, size_t paths) {
  sdv_mc_options_default(mo);
  mo->paths = paths;
  mo->threads = (int)ctx->threads;
  mo->cancel = ctx->cancel;
}
