/* DSGD/DCSGD configurations on quadratics: their averages, the model built from them, and the
 * stationary family's CSV rows (see checks_quadratic.h). */
#include "checks_quadratic.h"
#include "checks_spec.h"

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

/* Agent i's compressor spec (a component's own spec: its name and one parameter). */
static int add_compressor(mspec *v, const cfg *c, size_t i) {
  char spec[64];
  if (c->comp == COMP_BERNOULLI)
    snprintf(spec, sizeof spec, "bernoulli:p=%.17g", c->par[i]);
  else
    snprintf(spec, sizeof spec, "rand-k:k=%.0f", c->par[i]);
  return mspec_compressor(v, spec);
}

int cfg_model(const cfg *c, uint64_t seed, double dscale, sdv_model **m) {
  *m = NULL;
  mspec v;
  mspec_init(&v, c->comp == COMP_NONE ? sdv_method_dsgd : sdv_method_dcsgd, c->d, c->N, c->eta,
             seed);
  v.s.diffusion_scale = dscale;
  int rc = c->objective ? mspec_objective(&v, c->objective) : mspec_quadratic(&v, c->lam);
  for (size_t i = 0; !rc && c->comp != COMP_NONE && i < c->N; i++) rc = add_compressor(&v, c, i);
  if (rc) {
    mspec_clear(&v);
    return rc;
  }
  mspec_sigma(&v, c->sigma, c->N);
  if (c->x0[0] != 0.0) mspec_x0(&v, c->x0, c->d);
  return mspec_take(&v, m);
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
