/* Claim-suite family "minibatch" (see verify/checks.h and docs/claims/minibatch.md): the SDE
 * under minibatch noise drawn from real data (docs/math/minibatch.md), checked one step at a
 * time on the code users run.
 *
 * Softmax regression on the Wine data (d = 3 (13 + 1) = 42, n = 178), N = 2 agents with
 * 89 samples each, B = 4: DSGD with iid shards, and DCSGD with rand-k (k = 8, omega = 17/4)
 * and label-skewed shards (the agents' gradients differ, so the compressor term
 * E Phi_i(g_i) carries grad f_i grad f_i^T). At two states x (the origin, and every weight
 * moved by 0.3 sin(1.7 j + 0.4)) the check compares, for U = (x - step(x))/eta:
 *   (a) M updates from the model's step();
 *   (b) the SDE: drift() and M draws of the sampled diffusion's increment();
 *   (c) a reference written here from the per-sample gradients (sdv_objective_sample_gradient)
 *       as explicit d x d sums, sharing no code with (a) or (b) but the gradients:
 *           E U = (1/N) sum_i grad f_i,
 *           Sigma = (1/N^2) sum_i [ C_i/B + Phihat_i(C_i/B + grad f_i grad f_i^T) ],
 *       C_i the shard's population covariance, Phihat(M) = (omega/(d-1)) (d diag M - M) for
 *       rand-k and 0 for DSGD (theory §3, linear structure).
 * Comparisons: (b) drift vs (c) deterministically (DET_RTOL); (a) vs (c), (b) vs (c) and (a) vs
 * (b) statistically: every mean, every covariance entry and the trace, each a z-test with the
 * samples' own standard errors, Bonferroni over all of them at family-wise level 1e-4 (so a
 * correct model fails with probability <= 1e-4).
 * Controls (the same test, at the main ledger's critical value, must reject both): the step's
 * samples against the increments of the same model with its diffusion variance 10% too large
 * (diffusion_scale sqrt(1.1)) and with the 1/N missing (diffusion_scale sqrt(N)). The traces
 * alone put the first about 11 standard errors away at M = 12000 (quick tier; --full: 60000).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/model.h>

#include "checks.h"
#include "checks_util.h"

#ifndef SDV_DATA_DIR
#define SDV_DATA_DIR "data"
#endif

#define MB_ALPHA 1e-4
/* The drift against the reference: two summation orders of the same per-sample gradients
 * (the objective's full gradient or shard means against per-shard sums here), a few ulps of
 * the largest entry; 1e-9 of it leaves a wide margin while any modelling error is >= 1e-3. */
#define DET_RTOL 1e-9
#define MB_D 42
#define MB_N 2
#define MB_B 4
#define MB_STATES 2

typedef struct mb_case {
  const char *method, *compressor, *shards;
  double omega; /* rand-k's d/k - 1, 0 without compression */
} mb_case;

/* Moments of M samples: mean, covariance and the trace statistic, with standard errors. */
typedef struct mb_moments {
  double mean[MB_D], se_mean[MB_D], cov[MB_D * MB_D], se_cov[MB_D * MB_D], tr, se_tr;
} mb_moments;

typedef struct mb_run {
  sdv_ledger main, ctl[2];
  double *U, *V;     /* M x d: steps, increments */
  mb_moments mu, mv; /* their moments */
} mb_run;

/* The reference (c) at x: mean[d] and Sigma[d*d]. */
static int reference(const sdv_model *m, const mb_case *c, const double *x, double *mean,
                     double *sigma) {
  const size_t d = m->dim, N = m->agents;
  double g[MB_D], gbar[MB_D], V[MB_D * MB_D];
  for (size_t k = 0; k < d * d; k++) sigma[k] = 0.0;
  for (size_t j = 0; j < d; j++) mean[j] = 0.0;
  for (size_t i = 0; i < N; i++) {
    const size_t lo = m->shard_start[i], ni = m->shard_start[i + 1] - lo;
    for (size_t j = 0; j < d; j++) gbar[j] = 0.0;
    for (size_t k = 0; k < d * d; k++) V[k] = 0.0;
    for (size_t t = 0; t < ni; t++) {
      const int rc = sdv_objective_sample_gradient(m->objective, m->shard_index[lo + t], x, g);
      if (rc) return rc;
      for (size_t j = 0; j < d; j++) gbar[j] += g[j];
    }
    for (size_t j = 0; j < d; j++) gbar[j] /= (double)ni;
    for (size_t t = 0; t < ni; t++) {
      sdv_objective_sample_gradient(m->objective, m->shard_index[lo + t], x, g);
      for (size_t j = 0; j < d; j++)
        for (size_t l = 0; l < d; l++)
          V[j * d + l] += (g[j] - gbar[j]) * (g[l] - gbar[l]) / ((double)ni * (double)m->batch);
    }
    for (size_t j = 0; j < d; j++) {
      mean[j] += gbar[j] / (double)N;
      for (size_t l = 0; l < d; l++) {
        const double second = V[j * d + l] + gbar[j] * gbar[l];
        const double phi = c->omega / (double)(d - 1) * ((j == l ? (double)d : 0.0) - 1.0) * second;
        sigma[j * d + l] += (V[j * d + l] + phi) / ((double)N * (double)N);
      }
    }
  }
  return SDV_OK;
}

/* Per-sample trace statistic t_s = sum_j (u_sj - mean_j)^2: its mean is tr Cov (times
 * (M-1)/M) and its standard error sd(t)/sqrt(M). */
static void trace_stat(const double *u, size_t M, size_t d, const double *mean, double *tr,
                       double *se) {
  double s = 0.0, s2 = 0.0;
  for (size_t k = 0; k < M; k++) {
    double t = 0.0;
    for (size_t j = 0; j < d; j++) t += (u[k * d + j] - mean[j]) * (u[k * d + j] - mean[j]);
    s += t;
    s2 += t * t;
  }
  *tr = s / (double)M;
  *se = sqrt(fmax(s2 / (double)M - *tr * *tr, 0.0) / (double)M);
}

static void moments_of(const double *u, size_t M, mb_moments *a) {
  sdv_sample_moments(u, M, MB_D, a->mean, a->se_mean, a->cov, a->se_cov);
  trace_stat(u, M, MB_D, a->mean, &a->tr, &a->se_tr);
}

/* Sample moments a against a target t (tmean NULL: means not compared; t's standard errors
 * NULL: exact), every entry and the trace into L. */
static void compare(sdv_ledger *L, const mb_moments *a, const double *tmean, const double *tcov,
                    const double *tse, double ttr, double ttr_se, const char *what, size_t state) {
  const size_t d = MB_D;
  if (tmean)
    for (size_t j = 0; j < d; j++)
      sdv_ledger_stat(L, a->mean[j], a->se_mean[j], tmean[j], 0.0, "x%zu %s: E U_%zu", state + 1,
                      what, j + 1);
  for (size_t j = 0; j < d; j++)
    for (size_t l = j; l < d; l++)
      sdv_ledger_stat(L, a->cov[j * d + l], a->se_cov[j * d + l], tcov[j * d + l],
                      tse ? tse[j * d + l] : 0.0, "x%zu %s: Cov_%zu,%zu", state + 1, what, j + 1,
                      l + 1);
  sdv_ledger_stat(L, a->tr, a->se_tr, ttr, ttr_se, "x%zu %s: trace", state + 1, what);
}

static int draw_steps(const sdv_model *m, sdv_work *w, const double *x, size_t M, uint32_t sub,
                      double *U) {
  const size_t d = m->dim;
  double y[MB_D];
  sdv_stream ns, cs;
  for (size_t s = 0; s < M; s++) {
    sdv_stream_init(&ns, m->seed, s, SDV_PURPOSE_NOISE, sub);
    sdv_stream_init(&cs, m->seed, s, SDV_PURPOSE_COMPRESSOR, sub);
    memcpy(y, x, d * sizeof *y);
    const int rc = sdv_model_step(m, w, y, &ns, &cs);
    if (rc) return rc;
    for (size_t j = 0; j < d; j++) U[s * d + j] = (x[j] - y[j]) / m->eta;
  }
  return SDV_OK;
}

static int draw_increments(const sdv_model *m, sdv_work *w, const double *x, size_t M, uint32_t sub,
                           double *V) {
  sdv_stream s;
  for (size_t k = 0; k < M; k++) {
    sdv_stream_init(&s, m->seed, k, SDV_PURPOSE_BROWNIAN, sub);
    const int rc = sdv_model_noise_increment(m, w, x, &s, V + k * m->dim);
    if (rc) return rc;
  }
  return SDV_OK;
}

static int run_case(const sdv_check_ctx *ctx, const mb_case *c, uint64_t seed, size_t M,
                    mb_run *R) {
  const char *dir = getenv("SDV_DATA_DIR");
  char spec[1024];
  snprintf(spec, sizeof spec, "softmax:data=%s/wine.csv", dir && *dir ? dir : SDV_DATA_DIR);
  sdv_model_options o;
  sdv_model_options_default(&o);
  o.method = c->method;
  o.dim = MB_D;
  o.agents = MB_N;
  o.batch = MB_B;
  o.eta = 0.05;
  o.objective = spec;
  o.noise = "minibatch";
  o.shards = c->shards;
  if (c->compressor) o.compressor = c->compressor;
  o.x0 = "0";
  o.seed = seed;
  sdv_model *m = NULL, *mc[2] = {NULL, NULL};
  sdv_work *w = NULL, *wc[2] = {NULL, NULL};
  const double scale[2] = {sqrt(1.1), sqrt((double)MB_N)};
  int rc;
  if ((rc = sdv_model_alloc(&m, &o)) || (rc = sdv_work_alloc(&w, m))) goto done;
  for (int k = 0; k < 2; k++) {
    o.diffusion_scale = scale[k];
    if ((rc = sdv_model_alloc(&mc[k], &o)) || (rc = sdv_work_alloc(&wc[k], mc[k]))) goto done;
  }
  for (size_t st = 0; st < MB_STATES; st++) {
    if (ctx->cancel && *ctx->cancel) {
      rc = SDV_ERROR(SDV_EINTR, "minibatch-moments: interrupted");
      goto done;
    }
    double x[MB_D], rmean[MB_D], rsig[MB_D * MB_D], b[MB_D];
    for (size_t j = 0; j < MB_D; j++) x[j] = st == 0 ? 0.0 : 0.3 * sin(1.7 * (double)j + 0.4);
    if ((rc = reference(m, c, x, rmean, rsig))) goto done;
    double rtr = 0.0, scale_b = 0.0;
    for (size_t j = 0; j < MB_D; j++) rtr += rsig[j * MB_D + j];
    for (size_t j = 0; j < MB_D; j++) scale_b = fmax(scale_b, fabs(rmean[j]));
    sdv_model_drift(m, w, x, b);
    for (size_t j = 0; j < MB_D; j++)
      sdv_ledger_det(&R->main, -b[j], rmean[j], DET_RTOL * scale_b, "x%zu %s: drift_%zu", st + 1,
                     c->method, j + 1);
    const uint32_t sub = (uint32_t)(8 * st);
    if ((rc = draw_steps(m, w, x, M, sub, R->U))) goto done;
    if ((rc = draw_increments(m, w, x, M, sub + 1, R->V))) goto done;
    const double zero[MB_D] = {0};
    mb_moments *mu = &R->mu, *mv = &R->mv;
    moments_of(R->U, M, mu);
    moments_of(R->V, M, mv);
    char what[64];
    snprintf(what, sizeof what, "%s step vs reference", c->method);
    compare(&R->main, mu, rmean, rsig, NULL, rtr, 0.0, what, st);
    snprintf(what, sizeof what, "%s increment vs reference", c->method);
    compare(&R->main, mv, zero, rsig, NULL, rtr, 0.0, what, st);
    /* (a) against (b): the increments' moments as the target, with their errors. */
    snprintf(what, sizeof what, "%s step vs SDE", c->method);
    compare(&R->main, mu, NULL, mv->cov, mv->se_cov, mv->tr, mv->se_tr, what, st);
    for (int k = 0; k < 2; k++) {
      if ((rc = draw_increments(mc[k], wc[k], x, M, sub + 2 + (uint32_t)k, R->V))) goto done;
      moments_of(R->V, M, mv);
      snprintf(what, sizeof what, "%s step vs SDE %s", c->method,
               k ? "without 1/N" : "with 1.1 x variance");
      compare(&R->ctl[k], mu, NULL, mv->cov, mv->se_cov, mv->tr, mv->se_tr, what, st);
    }
  }
done:
  sdv_work_free(w);
  sdv_model_free(m);
  for (int k = 0; k < 2; k++) {
    sdv_work_free(wc[k]);
    sdv_model_free(mc[k]);
  }
  return rc;
}

static int run_minibatch_moments(const sdv_check_ctx *ctx, sdv_check_result *res) {
  static const mb_case cases[] = {
      {"dsgd", NULL, "iid", 0.0},
      {"dcsgd", "rand-k:k=8", "label-skew", 42.0 / 8.0 - 1.0},
  };
  const size_t M = ctx->full ? 60000 : 12000;
  static mb_run R; /* 58 kB of moments: not on the stack */
  memset(&R, 0, sizeof R);
  int rc = SDV_OK;
  R.U = malloc(M * MB_D * sizeof *R.U);
  R.V = malloc(M * MB_D * sizeof *R.V);
  if (!R.U || !R.V) {
    rc = SDV_ERROR(SDV_ENOMEM, "minibatch-moments: %zu samples", M);
    goto done;
  }
  for (size_t k = 0; k < 2 && rc == SDV_OK; k++)
    rc = run_case(ctx, &cases[k], sdv_check_seed(ctx, "minibatch-moments", (unsigned)k), M, &R);
  if (rc) goto done;
  sdv_ledger_summary s;
  if ((rc = sdv_ledger_close(&R.main, MB_ALPHA, &s))) goto done;
  if (R.ctl[0].oom || R.ctl[1].oom) {
    rc = SDV_ERROR(SDV_ENOMEM, "minibatch-moments: out of memory (control ledger)");
    goto done;
  }
  const double w0 = sdv_ledger_worst_at(&R.ctl[0], s.z), w1 = sdv_ledger_worst_at(&R.ctl[1], s.z);
  snprintf(res->measured, sizeof res->measured,
           "largest |difference|/tolerance over %zu one-step moment comparisons (softmax on "
           "Wine, d = 42, N = 2, B = 4; 2 states, %zu samples each; step/SDE/reference)",
           s.nstat + s.ndet, M);
  snprintf(res->prediction, sizeof res->prediction,
           "E U = -b(x), Cov U = Sigma(x) = (1/N^2) sum_i [C_i/B + E Phi_i(g_i)] (exact), i.e. "
           "ratio <= 1");
  res->predicted = 1.0;
  res->value = res->lo = res->hi = res->ratio = s.worst;
  res->exact = false;
  res->pass = sdv_ledger_passes(&s);
  snprintf(res->control, sizeof res->control,
           "sampled SDE with 1.1 x diffusion variance; without the 1/N (x N variance)");
  res->control_value = res->control_ratio = fmin(w0, w1);
  res->control_rejected = w0 > 1.0 && w1 > 1.0;
  sdv_check_note(res,
                 "%zu statistical comparisons at z = %.2f (Bonferroni, family-wise false-failure "
                 "rate %g), %zu deterministic at %g relative; worst: %s (%.3g tol)",
                 s.nstat, s.z, MB_ALPHA, s.ndet, DET_RTOL, s.what, s.worst);
  sdv_check_note(res, "controls: 1.1 x variance at %.3g tol, missing 1/N at %.3g tol", w0, w1);
  sdv_ledger_write_csv(&R.main, &s, ctx->csv);
done:
  sdv_ledger_free(&R.main);
  sdv_ledger_free(&R.ctl[0]);
  sdv_ledger_free(&R.ctl[1]);
  free(R.U);
  free(R.V);
  return rc;
}

const sdv_check sdv_checks_minibatch[] = {
    {"minibatch-moments",
     "under minibatch noise from real data (softmax on Wine, N = 2 shards, B = 4) the one-step "
     "mean and covariance of DSGD and DCSGD (rand-k) are the SDE's drift and sampled diffusion",
     "minibatch", run_minibatch_moments},
    {NULL, NULL, NULL, NULL},
};
