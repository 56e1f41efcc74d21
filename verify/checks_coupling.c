/* Claim-suite family "coupling" (see verify/checks.h and docs/claims/coupling.md).
 *
 * The coupled estimators of the weak harness (docs/math/coupling.md) are unbiased only if
 * each side keeps its law: the optimizer's step must be step()'s, draw for draw, and the
 * normals xi that drive the SDE must be exactly N(0, I), whatever the state. This check runs
 * the methods' step_coupled (the code the harness runs) at fixed states for models that take
 * every route (the Gaussian shortcut, literal agents, means of B Student-t draws, rand-k's
 * kept coordinates, Bernoulli, the binomial count of signs near and far from the optimum,
 * unequal sign agents) and compares, on M independent steps per model:
 *   - the state after step_coupled with step()'s on the same streams: no difference at all;
 *   - the moments of xi with those of N(0, I): E xi_j = 0, E xi_j^2 = 1, E xi_j^4 = 3 and
 *     E xi_j xi_{j+1} = 0, each a z-test with the sample's own standard error, Bonferroni
 *     over all entries at family-wise alpha = 1e-3 (so a correct coupling fails with
 *     probability <= 1e-3 per run).
 * Negative control: the same ledger on sqrt(1.1) xi (normals with 10% too much variance, as a
 * wrong normalisation would give) must be rejected at the model's own critical value.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/model.h>

#include "checks.h"
#include "checks_spec.h"
#include "checks_util.h"

#define MAXD 8
/* Family-wise level of the ledger, and the control's factor on the normals' variance (the
 * texts print both). */
static const double ALPHA = 1e-3, CTL_VAR = 1.1;

/* A case: the agents' laws (1 or N component specs), scales (1 or N) and compressor (a
 * component spec, NULL: identity), and the start x0[dim], on the quartic. */
typedef struct coupling_case {
  const char *label, *method;
  const char *noise[2];
  size_t nnoise;
  double sigma[3];
  size_t nsigma;
  const char *compressor;
  double x0[4];
  size_t dim, agents, batch;
} coupling_case;

static const coupling_case cases[] = {
    {"dsgd gaussian shortcut",
     "dsgd",
     {"gaussian"},
     1,
     {1, 0.5, 2},
     3,
     NULL,
     {1, -0.5, 0.2},
     3,
     3,
     1},
    {"dsgd t3 mean of B=2",
     "dsgd",
     {"student-t:nu=3"},
     1,
     {1, 1.5},
     2,
     NULL,
     {0.5, -1, 2},
     3,
     2,
     2},
    {"dsgd cauchy+gaussian", "dsgd", {"cauchy", "gaussian"}, 2, {1}, 1, NULL, {1, -1}, 2, 2, 1},
    {"dcsgd rand-k gaussian",
     "dcsgd",
     {"gaussian"},
     1,
     {1, 2},
     2,
     "rand-k:k=2",
     {0.3, 1, -1, 2},
     4,
     2,
     1},
    {"dcsgd bernoulli t4",
     "dcsgd",
     {"student-t:nu=4"},
     1,
     {1, 2},
     2,
     "bernoulli:p=0.5",
     {1, -2, 0.5},
     3,
     2,
     1},
    {"dsignsgd binomial", "dsignsgd", {"gaussian"}, 1, {1}, 1, NULL, {0.1, -1, 3}, 3, 4, 1},
    {"dsignsgd binomial tails", "dsignsgd", {"gaussian"}, 1, {0.3}, 1, NULL, {1, -0.6}, 2, 16, 1},
    {"dsignsgd unequal t3",
     "dsignsgd",
     {"student-t:nu=3"},
     1,
     {1, 0.5, 2},
     3,
     NULL,
     {1, -0.5},
     2,
     3,
     1},
};
#define NCASES (sizeof cases / sizeof cases[0])

/* Case c's model (typed: checks_spec.h); free it with check_model_free. */
static int build(sdv_model **m, const coupling_case *c, uint64_t seed) {
  const sdv_method_type *method;
  int rc = mspec_method(c->method, &method);
  if (rc) return rc;
  mspec v;
  mspec_init(&v, method, c->dim, c->agents, 0.1, seed);
  v.s.batch = c->batch;
  mspec_sigma(&v, c->sigma, c->nsigma);
  mspec_x0(&v, c->x0, c->dim);
  rc = mspec_objective(&v, "quartic");
  for (size_t k = 0; !rc && k < c->nnoise; k++) rc = mspec_noise(&v, c->noise[k]);
  if (!rc && c->compressor) rc = mspec_compressor(&v, c->compressor);
  if (rc) {
    mspec_clear(&v);
    return rc;
  }
  return mspec_take(&v, m);
}

/* M coupled steps from x0 (path i's streams) into xi[M d]; *mismatch counts the steps whose
 * state differs from step()'s on the same streams. */
static int sample(const sdv_model *m, size_t M, double *xi, size_t *mismatch) {
  sdv_work *w = NULL;
  int rc = sdv_work_alloc(&w, m);
  if (rc) return rc;
  const size_t d = m->dim;
  *mismatch = 0;
  for (size_t i = 0; i < M && !rc; i++) {
    double x1[MAXD], x2[MAXD];
    memcpy(x1, m->x0, d * sizeof *x1);
    memcpy(x2, m->x0, d * sizeof *x2);
    sdv_stream n1, c1, n2, c2, aux;
    sdv_stream_init(&n1, m->seed, i, SDV_PURPOSE_NOISE, 0);
    sdv_stream_init(&c1, m->seed, i, SDV_PURPOSE_COMPRESSOR, 0);
    sdv_stream_init(&n2, m->seed, i, SDV_PURPOSE_NOISE, 0);
    sdv_stream_init(&c2, m->seed, i, SDV_PURPOSE_COMPRESSOR, 0);
    sdv_stream_init(&aux, m->seed, i, SDV_PURPOSE_BROWNIAN, 1);
    if ((rc = sdv_model_step(m, w, x1, &n1, &c1))) break;
    rc = sdv_model_step_coupled(m, w, x2, &n2, &c2, &aux, xi + i * d);
    *mismatch += memcmp(x1, x2, d * sizeof *x1) != 0;
  }
  sdv_work_free(w);
  return rc;
}

/* The moment entries of one model's normals, scaled by c (1 for the claim, sqrt(1.1) for the
 * control), into L. */
static void add_moments(sdv_ledger *L, const char *label, const double *xi, size_t M, size_t d,
                        double c) {
  for (size_t j = 0; j < d; j++) {
    double s1 = 0, s2 = 0, s4 = 0, q2 = 0, q4 = 0, q8 = 0, cr = 0, cr2 = 0;
    for (size_t i = 0; i < M; i++) {
      const double v = c * xi[i * d + j], v2 = v * v, v4 = v2 * v2;
      s1 += v;
      s2 += v2;
      s4 += v4;
      q2 += v2;
      q4 += v4;
      q8 += v4 * v4;
      if (j + 1 < d) {
        const double p = v * c * xi[i * d + j + 1];
        cr += p;
        cr2 += p * p;
      }
    }
    const double n = (double)M;
    const double m1 = s1 / n, m2 = s2 / n, m4 = s4 / n;
    sdv_ledger_stat(L, m1, sqrt((m2 - m1 * m1) / n), 0.0, 0.0, "%s: E xi_%zu", label, j + 1);
    sdv_ledger_stat(L, m2, sqrt((q4 / n - m2 * m2) / n), 1.0, 0.0, "%s: E xi_%zu^2", label, j + 1);
    sdv_ledger_stat(L, m4, sqrt((q8 / n - m4 * m4) / n), 3.0, 0.0, "%s: E xi_%zu^4", label, j + 1);
    (void)q2;
    if (j + 1 < d)
      sdv_ledger_stat(L, cr / n, sqrt((cr2 / n - (cr / n) * (cr / n)) / n), 0.0, 0.0,
                      "%s: E xi_%zu xi_%zu", label, j + 1, j + 2);
  }
}

static int run_normals(const sdv_check_ctx *ctx, sdv_check_result *res) {
  const size_t M = ctx->full ? 80000 : 20000;
  sdv_ledger L = {0}, C = {0};
  double *xi = malloc(M * MAXD * sizeof *xi);
  int rc = xi ? SDV_OK : SDV_ERROR(SDV_ENOMEM, "out of memory");
  size_t mismatches = 0;
  for (size_t k = 0; k < NCASES && !rc; k++) {
    sdv_model *m = NULL;
    if ((rc = build(&m, &cases[k], sdv_check_seed(ctx, "coupling-normals", (unsigned)k)))) break;
    size_t mis = 0;
    rc = sample(m, M, xi, &mis);
    if (!rc) {
      mismatches += mis;
      sdv_ledger_det(&L, (double)mis, 0.0, 0.5, "%s: steps differing from step()", cases[k].label);
      add_moments(&L, cases[k].label, xi, M, m->dim, 1.0);
      add_moments(&C, cases[k].label, xi, M, m->dim, sqrt(CTL_VAR));
    }
    check_model_free(m);
  }
  free(xi);
  sdv_ledger_summary s = {0};
  if (!rc) rc = sdv_ledger_close(&L, ALPHA, &s);
  if (!rc) {
    snprintf(res->measured, sizeof res->measured,
             "coupled normals of %zu models (every route of step_coupled): moments 1, 2, 4 and "
             "lag products; states against step()",
             NCASES);
    snprintf(res->prediction, sizeof res->prediction,
             "xi ~ N(0, I) exactly: E xi = 0, E xi^2 = 1, E xi^4 = 3, E xi_j xi_l = 0; the "
             "same states as step()");
    res->predicted = NAN;
    res->value = s.worst;
    res->lo = res->hi = s.worst;
    res->pass = sdv_ledger_passes(&s);
    res->ratio = s.worst;
    res->control_ratio = sdv_ledger_worst_at(&C, s.z);
    res->control_value = res->control_ratio;
    res->control_rejected = res->control_ratio > 1.0;
    snprintf(res->control, sizeof res->control,
             "the same ledger on sqrt(%g) xi (%g%% too much variance in the SDE's normals)",
             CTL_VAR, 100.0 * (CTL_VAR - 1.0));
    char num[32];
    sdv_check_note(res,
                   "%zu steps per model; %zu statistical entries at family-wise alpha = %s "
                   "(z = %.2f), worst %s; %zu steps differ from step() (must be 0)",
                   M, s.nstat, sdv_check_num(num, sizeof num, ALPHA), s.z, s.what, mismatches);
    sdv_ledger_write_csv(&L, &s, ctx->csv);
  }
  sdv_ledger_free(&L);
  sdv_ledger_free(&C);
  return rc;
}

const sdv_check sdv_checks_coupling[] = {
    {"coupling-normals",
     "coupled estimators keep both laws: step_coupled makes step()'s update and its normals "
     "are exactly N(0, I) on every route (shortcuts, literal agents, B-means, rand-k, binomial "
     "signs)",
     "coupling", run_normals},
    {NULL, NULL, NULL, NULL},
};
