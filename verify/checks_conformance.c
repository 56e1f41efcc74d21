/* Claim-suite family "conformance" (see verify/checks.h; docs/claims/conformance.md): every
 * registered compressor meets the contract of theory §3 / claim 16 (first item):
 *     C(0) = 0,   E C(v) = v,   E||C(v) - v||^2 <= omega ||v||^2,   Cov C(v) = Phi_C(v)
 * (the last where a closed form is declared), tested by sdv_compressor_conformance on
 * high-entropy vectors in two dimensions. The list of types is read at run time
 * (sdv_compressor_types), so plug-in compressors are checked too.
 *
 * Negative control: two deliberately broken compressors defined below — Bernoulli(1/2)
 * sparsification without the 1/p rescaling (biased: E C(v) = v/2) and a correct
 * Bernoulli(1/4) that declares omega = 1.5 instead of 3 — must both FAIL the same test.
 * Reference: with the defaults below every built-in passes and both controls fail.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sdv/compressor.h>
#include <sdv/errors.h>

#include "checks.h"
#include "checks_util.h"

#define MAX_TYPES 64
/* Family-wise false-failure rate of the whole check, split evenly over its conformance runs. */
#define ALPHA 1e-4

static const size_t dims[] = {3, 12};
#define N_DIMS (sizeof dims / sizeof *dims)

/* Parameters for the built-in types that need some (plug-ins are tried without any). */
static void params_for(const char *name, size_t dim, char *buf, size_t len) {
  buf[0] = '\0';
  if (strcmp(name, "bernoulli") == 0)
    snprintf(buf, len, "p=0.3");
  else if (strcmp(name, "rand-k") == 0)
    snprintf(buf, len, "k=%zu", dim >= 3 ? dim / 3 : 1);
  else if (strcmp(name, "qsgd") == 0)
    snprintf(buf, len, "s=2");
}

/* ---- The broken compressors of the control (never registered) ---- */

static size_t broken_size(size_t dim) {
  (void)dim;
  return sizeof(double);
}

static int broken_init(void *state, size_t dim, sdv_params *params) {
  (void)state;
  (void)dim;
  (void)params;
  return SDV_OK;
}

/* Bernoulli(1/2) without rescaling by 1/p: E C(v) = v/2. Declares the omega of Bernoulli(1/2). */
static double unscaled_omega(const void *state, size_t dim) {
  (void)state;
  (void)dim;
  return 1.0;
}

static void unscaled_apply(void *state, size_t dim, const double *v, double *out, sdv_stream *s) {
  (void)state;
  for (size_t j = 0; j < dim; j++) out[j] = sdv_stream_uniform(s) < 0.5 ? v[j] : 0.0;
}

/* Correct Bernoulli(LOW_P) (true omega 1/LOW_P - 1 = 3) that declares omega = LOW_DECLARED. */
static const double LOW_P = 0.25, LOW_DECLARED = 1.5;

static double low_omega(const void *state, size_t dim) {
  (void)state;
  (void)dim;
  return LOW_DECLARED;
}

static void low_omega_apply(void *state, size_t dim, const double *v, double *out, sdv_stream *s) {
  (void)state;
  for (size_t j = 0; j < dim; j++) out[j] = sdv_stream_uniform(s) < LOW_P ? v[j] / LOW_P : 0.0;
}

static const sdv_compressor_type broken_unscaled = {
    .name = "control-unscaled-bernoulli",
    .help = "Bernoulli(1/2) without the 1/p scaling (biased)",
    .size = broken_size,
    .init = broken_init,
    .omega = unscaled_omega,
    .apply = unscaled_apply};
static const sdv_compressor_type broken_low_omega = {
    .name = "control-low-omega",
    .help = "Bernoulli(1/4) declaring omega 1.5 instead of 3",
    .size = broken_size,
    .init = broken_init,
    .omega = low_omega,
    .apply = low_omega_apply};

/* Runs the conformance test of one (type, dim), writes its rows to the CSV. *status is
 * 1 pass, 0 fail, -1 not testable (the type cannot be built without parameters we know). */
static int conform(const sdv_check_ctx *ctx, const sdv_compressor_type *t, size_t dim,
                   const sdv_conformance_options *o, int *status) {
  char params[64];
  params_for(t->name, dim, params, sizeof params);
  sdv_compressor *c = NULL;
  sdv_conformance_report *r = NULL;
  int rc = sdv_compressor_alloc_type(&c, t, dim, params);
  if (rc == SDV_EINVAL) {
    fprintf(ctx->csv, "%s,%zu,%s,,,not testable,,,,\n", t->name, dim, params);
    *status = -1;
    return SDV_OK;
  }
  if (rc) return rc;
  if ((rc = sdv_compressor_conformance(c, o, &r))) goto done;
  for (size_t i = 0; i < r->nrows; i++) {
    const sdv_conformance_row *w = &r->rows[i];
    fprintf(ctx->csv, "%s,%zu,%s,%.17g,%zu,%s,%.17g,%.17g,%.17g,%d\n", t->name, dim, params,
            sdv_compressor_omega(c), w->vector, w->what, w->value, w->bound, w->se, w->pass);
  }
  *status = r->pass ? 1 : 0;
done:
  sdv_conformance_report_free(r);
  sdv_compressor_free(c);
  return rc;
}

static int run_conformance(const sdv_check_ctx *ctx, sdv_check_result *res) {
  const char *id = "conformance";
  const sdv_compressor_type *types[MAX_TYPES];
  size_t nt = sdv_compressor_types(types, MAX_TYPES);
  if (nt > MAX_TYPES) nt = MAX_TYPES;
  fprintf(ctx->csv, "compressor,dim,params,omega,vector,statistic,value,bound,se,pass\n");

  sdv_conformance_options o;
  sdv_conformance_options_default(&o);
  o.samples = ctx->full ? 80000 : 20000;
  o.alpha = ALPHA / (double)(nt * N_DIMS);
  size_t tested = 0, passed = 0, untestable = 0;
  char failed[200] = "";
  unsigned k = 0;
  for (size_t i = 0; i < nt; i++)
    for (size_t d = 0; d < N_DIMS; d++) {
      if (ctx->cancel && *ctx->cancel) return SDV_ERROR(SDV_EINTR, "conformance: interrupted");
      int st;
      o.seed = sdv_check_seed(ctx, id, k++);
      int rc = conform(ctx, types[i], dims[d], &o, &st);
      if (rc) return rc;
      if (st < 0) {
        untestable++;
        continue;
      }
      tested++;
      if (st) {
        passed++;
      } else {
        size_t used = strlen(failed);
        snprintf(failed + used, sizeof failed - used, "%s%s(d=%zu)", used ? " " : "",
                 types[i]->name, dims[d]);
      }
    }

  /* Control: both broken compressors must fail in every dimension. */
  const sdv_compressor_type *broken[2] = {&broken_unscaled, &broken_low_omega};
  size_t rejected = 0;
  for (size_t b = 0; b < 2; b++)
    for (size_t d = 0; d < N_DIMS; d++) {
      int st;
      o.seed = sdv_check_seed(ctx, id, 1000 + k++);
      int rc = conform(ctx, broken[b], dims[d], &o, &st);
      if (rc) return rc;
      rejected += st == 0;
    }

  snprintf(res->measured, sizeof res->measured,
           "compressor x dimension pairs passing conformance (%zu types, d = %zu and %zu)", nt,
           dims[0], dims[1]);
  snprintf(res->prediction, sizeof res->prediction,
           "all %zu testable pairs pass (mean v, omega bound, Phi_C where declared, C(0) = 0)",
           tested);
  res->predicted = (double)tested;
  res->value = res->lo = res->hi = (double)passed;
  res->exact = false;
  res->pass = tested > 0 && passed == tested;
  snprintf(res->control, sizeof res->control,
           "broken compressors: Bernoulli without 1/p scaling; omega declared %g for true %g",
           LOW_DECLARED, 1.0 / LOW_P - 1.0);
  res->control_value = (double)rejected;
  res->control_rejected = rejected == 2 * N_DIMS;
  sdv_check_note(res,
                 "%zu samples x %zu vectors per pair; family-wise alpha %g split over %zu runs "
                 "(each Bonferroni inside); control failed %zu of %zu",
                 o.samples, o.vectors, ALPHA, nt * N_DIMS, rejected, 2 * N_DIMS);
  if (failed[0]) sdv_check_note(res, "FAILED: %s", failed);
  if (untestable)
    sdv_check_note(res, "%zu pairs not testable (type needs parameters this check does not know)",
                   untestable);
  return SDV_OK;
}

const sdv_check sdv_checks_conformance[] = {
    {"conformance",
     "every registered compressor: E C(v) = v, E||C(v)-v||^2 <= omega ||v||^2, Cov = Phi_C(v)",
     "conformance", run_conformance},
    {NULL, NULL, NULL, NULL},
};
