/* Claim-suite family "trajectory" (see verify/checks.h and docs/claims/trajectory.md): whole
 * paths of the code users run, i.e. the optimizer's step() repeated K times (shortcut and
 * literal) and the SDE integrated by the Euler-Maruyama and Richardson integrators (the fused
 * Euler step included), against moments computed by recursions written here.
 *
 * On a diagonal quadratic f = x^T H x / 2 with DSGD or DCSGD and a compressor whose error
 * covariance is linear in v v^T (identity, Bernoulli, rand-k), the first two moments close for
 * BOTH processes and for every Euler scheme (theory §6). With S = E x x^T and
 *     E Sigma(x) = (1/N^2) sum_i [ v_i I + Phihat_i(H S H + v_i I) ],
 * a step x' = x - h H x + sqrt(c) S(x) xi (or the optimizer's x' = x - eta U) gives
 *     E x' = (I - h H) E x,      S' = (I - h H) S (I - h H) + c E Sigma(x),
 * with (h, c) = (eta, eta^2) for the optimizer and (eta/m, eta^2/m) for one Euler sub-step.
 * Richardson's estimator 2 g(fine) - g(coarse) has mean 2 E_{h/2} g - E_h g. These recursions
 * share no code with sdv: v_i and Phihat_i come from the laws' and compressors' definitions.
 * They give references for:
 *   - Monte Carlo of the optimizer (shortcut and literal) after K steps;
 *   - Monte Carlo of the SDE by Euler (fused and literal) and Richardson with m sub-steps;
 *   - sdv's own exact routes (lib/exact: the discrete recursion and the CVODE moment ODE),
 *     which the weak and stationary families use as references: the recursion to rounding, the
 *     ODE against the Euler recursion extrapolated in h (two Richardson levels; tolerance
 *     twice their difference plus 1e-9 of the scale for CVODE's rtol 1e-11).
 * For DSignSGD the discrete law is propagated exactly on its lattice (lib/exact/lattice.c);
 * the Monte Carlo of step() must match it.
 * Observables: E x_j and E x_j x_l at t = K eta; statistical comparisons use the sample's own
 * standard error, Bonferroni over the check at family-wise level 1e-4.
 * Controls: the SDE with 1.1 x its diffusion variance, and without its 1/N, integrated by
 * Euler, must be rejected against the reference of the true model.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>

#include <sdv/errors.h>
#include <sdv/mc.h>
#include <sdv/exact.h>
#include <sdv/model.h>
#include <sdv/process.h>

#include "checks.h"
#include "checks_spec.h"
#include "checks_util.h"

#define TRAJ_ALPHA 1e-4
/* The controls' factors: run_linear's SDE diffusion variance, run_dsignsgd's sigma_i. */
static const double CTL_VAR = 1.1, CTL_SIGMA = 1.1;
#define MAXD 4
#define MAXN 4
/* sdv's discrete exact route and the recursion below are two recursions in double precision
 * over K <= 100 steps: their difference is a few hundred ulps of the scale at most. */
#define RECURSION_RTOL 1e-12
/* CVODE runs at rtol 1e-11 (sdv_exact_options default); its global error stays within 1e-9 of
 * the problem's scale on these linear systems (tests/test-exact.c measures 1e-8 against closed
 * forms with looser settings). */
#define ODE_RTOL 1e-9
/* Stationary moments: our LU solve of a <= 16-unknown well-conditioned system against sdv's
 * routes, which solve or iterate to ~1e-11 relative. */
#define STAT_RTOL 1e-9
/* The engine and the direct loop sum the same doubles in different orders: their means differ
 * by rounding, about sqrt(M) eps (|mean| + sd) <= 1e-12 of that for M <= 1e6. */
#define ENGINE_RTOL 1e-10

typedef enum { C_ID, C_BERN, C_RANDK } comp_kind;

typedef struct tr_agent {
  double sigma;
  comp_kind comp;
  double par;
} tr_agent;

typedef struct tr_case {
  const char *label;
  const char *method; /* dsgd or dcsgd (Gaussian noise) */
  size_t dim, agents, batch;
  double lam[MAXD], x0[MAXD];
  tr_agent ag[MAXN];
  double eta, T;
  size_t substeps;
} tr_case;

/* ---- the reference recursion ---- */

typedef struct moments {
  double mu[MAXD], S[MAXD * MAXD];
} moments;

/* E Sigma(x) over a law with second moments S = E x x^T (affine in S), into ES (d x d). */
static void esigma(const tr_case *c, const double *S, double *ES) {
  const size_t d = c->dim, N = c->agents;
  const double N2 = (double)N * (double)N;
  double HSH[MAXD * MAXD];
  memset(ES, 0, d * d * sizeof *ES);
  for (size_t j = 0; j < d; j++)
    for (size_t l = 0; l < d; l++) HSH[j * d + l] = c->lam[j] * S[j * d + l] * c->lam[l];
  for (size_t i = 0; i < N; i++) {
    const tr_agent *a = &c->ag[i];
    const double v = a->sigma * a->sigma / (double)c->batch;
    for (size_t j = 0; j < d; j++) ES[j * d + j] += v / N2;
    if (strcmp(c->method, "dcsgd") != 0 || a->comp == C_ID) continue;
    for (size_t j = 0; j < d; j++)
      for (size_t l = 0; l < d; l++) {
        const double M = HSH[j * d + l] + (j == l ? v : 0.0);
        if (a->comp == C_BERN) {
          if (j == l) ES[j * d + l] += (1.0 / a->par - 1.0) * M / N2;
        } else {
          const double w = (double)d / a->par - 1.0;
          ES[j * d + l] += w / ((double)d - 1.0) * ((j == l ? (double)d * M : 0.0) - M) / N2;
        }
      }
  }
}

static void recursion_step(const tr_case *c, double h, double cc, moments *m) {
  const size_t d = c->dim;
  double ES[MAXD * MAXD], S2[MAXD * MAXD] = {0};
  esigma(c, m->S, ES);
  for (size_t j = 0; j < d; j++)
    for (size_t l = 0; l < d; l++)
      S2[j * d + l] =
          (1.0 - h * c->lam[j]) * m->S[j * d + l] * (1.0 - h * c->lam[l]) + cc * ES[j * d + l];
  memcpy(m->S, S2, sizeof S2);
  for (size_t j = 0; j < d; j++) m->mu[j] *= 1.0 - h * c->lam[j];
}

/* Stationary second moments by one linear solve in the d^2 entries of S:
 *   optimizer  S = (I - eta H) S (I - eta H) + eta^2 E Sigma(S),
 *   SDE        H S + S H = eta E Sigma(S)                         (the moment ODE at rest).
 * The affine map E Sigma is split into its value at 0 and its linear part, assembled on the
 * unit matrices; GSL's LU solves the system. SDV_EDOM if the system is singular. */
static int stationary(const tr_case *c, bool sde, double *S) {
  const size_t d = c->dim, n = d * d;
  double A[MAXD * MAXD * MAXD * MAXD], rhs[MAXD * MAXD], E0[MAXD * MAXD], Ek[MAXD * MAXD],
      B[MAXD * MAXD] = {0};
  const double eta = c->eta;
  esigma(c, B, E0);
  for (size_t k = 0; k < n; k++) {
    memset(B, 0, sizeof B);
    B[k] = 1.0;
    esigma(c, B, Ek);
    for (size_t r = 0; r < n; r++) {
      const size_t j = r / d, l = r % d;
      const double lin = Ek[r] - E0[r];
      double a;
      if (sde)
        a = (c->lam[j] + c->lam[l]) * B[r] - eta * lin;
      else
        a = B[r] - (1.0 - eta * c->lam[j]) * (1.0 - eta * c->lam[l]) * B[r] - eta * eta * lin;
      A[r * n + k] = a;
    }
  }
  for (size_t r = 0; r < n; r++) rhs[r] = (sde ? eta : eta * eta) * E0[r];
  gsl_matrix_view Am = gsl_matrix_view_array(A, n, n);
  gsl_vector_view bv = gsl_vector_view_array(rhs, n);
  gsl_vector_view xv = gsl_vector_view_array(S, n);
  gsl_permutation *perm = gsl_permutation_alloc(n);
  if (!perm) return SDV_ERROR(SDV_ENOMEM, "trajectory: permutation of %zu", n);
  int sign, rc = gsl_linalg_LU_decomp(&Am.matrix, perm, &sign);
  if (!rc) rc = gsl_linalg_LU_solve(&Am.matrix, perm, &bv.vector, &xv.vector);
  gsl_permutation_free(perm);
  return rc ? SDV_ERROR(SDV_EDOM, "trajectory: stationary system is singular (%s)",
                        gsl_strerror(rc))
            : SDV_OK;
}

/* Moments after n steps of (h, cc) from x0. */
static moments recursion(const tr_case *c, size_t n, double h, double cc) {
  moments m;
  const size_t d = c->dim;
  for (size_t j = 0; j < d; j++) {
    m.mu[j] = c->x0[j];
    for (size_t l = 0; l < d; l++) m.S[j * d + l] = c->x0[j] * c->x0[l];
  }
  for (size_t k = 0; k < n; k++) recursion_step(c, h, cc, &m);
  return m;
}

/* Euler with m sub-steps per optimizer step over K steps. */
static moments euler_moments(const tr_case *c, size_t K, size_t m) {
  const double h = c->eta / (double)m;
  return recursion(c, K * m, h, c->eta * h);
}

/* ---- Monte Carlo of sdv's processes ---- */

/* Per path: the d means and d(d+1)/2 products (each as sum_r weight_r g(x_r)). */
static size_t nobs_of(size_t d) { return d + d * (d + 1) / 2; }

/* Path s: start, advance K optimizer steps, write its observables to o. */
static int one_path(sdv_process *p, const sdv_model *m, const sdv_process_options *po, size_t K,
                    size_t s, double *o) {
  sdv_process_start(p, s);
  const int rc = sdv_process_advance(p, K);
  if (rc) return rc;
  const size_t d = m->dim, q = nobs_of(d), R = sdv_process_replicas(p);
  const sdv_integrator_type *it = sdv_process_get_options(p)->integrator;
  memset(o, 0, q * sizeof *o);
  for (size_t r = 0; r < R; r++) {
    const double w = po->kind == SDV_PROCESS_SDE ? it->weight[r] : 1.0;
    const double *x = sdv_process_state(p, r);
    size_t k = 0;
    for (size_t j = 0; j < d; j++) o[k++] += w * x[j];
    for (size_t j = 0; j < d; j++)
      for (size_t l = j; l < d; l++) o[k++] += w * x[j] * x[l];
  }
  return SDV_OK;
}

/* Simulates paths 0..M-1 into out (path s at out + s q), over OpenMP threads with one process
 * each. Path s draws from the streams of path s, so the values do not depend on the threads.
 * A failing path is re-run on the calling thread afterwards for its status and message
 * (messages are per thread); the first failing path in path order is the one reported. */
static int simulate(const sdv_model *m, const sdv_process_options *po, size_t K, size_t M,
                    const sdv_check_ctx *ctx, double *out) {
  const size_t q = nobs_of(m->dim);
  size_t bad = M;
  int alloc_rc = SDV_OK;
#if defined(_OPENMP)
#pragma omp parallel num_threads(ctx->threads ? (int)ctx->threads : omp_get_max_threads())
#endif
  {
    sdv_process *p = NULL;
    const int arc = sdv_process_alloc(&p, m, po);
    size_t my_bad = M;
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (size_t s = 0; s < M; s++) {
      if (arc || my_bad < M || (ctx->cancel && *ctx->cancel)) continue;
      if (one_path(p, m, po, K, s, out + s * q)) my_bad = s;
    }
#if defined(_OPENMP)
#pragma omp critical
#endif
    {
      if (arc && !alloc_rc) alloc_rc = arc;
      if (my_bad < bad) bad = my_bad;
    }
    sdv_process_free(p);
  }
  if (ctx->cancel && *ctx->cancel) return SDV_ERROR(SDV_EINTR, "trajectory: interrupted");
  if (alloc_rc || bad < M) {
    /* Reproduce the failure here, on this thread, for its message. */
    sdv_process *p = NULL;
    int rc = sdv_process_alloc(&p, m, po);
    if (!rc) rc = one_path(p, m, po, K, bad < M ? bad : 0, out + (bad < M ? bad : 0) * q);
    sdv_process_free(p);
    return rc ? rc : SDV_ERROR(SDV_EDOM, "trajectory: path %zu failed on a worker thread", bad);
  }
  return SDV_OK;
}

/* Adds the comparisons of M simulated paths (out) with reference moments ref. */
static void compare_paths(sdv_ledger *L, const double *out, size_t M, size_t d, const moments *ref,
                          const char *what) {
  const size_t q = nobs_of(d);
  double mean[MAXD + MAXD * (MAXD + 1) / 2], se[MAXD + MAXD * (MAXD + 1) / 2];
  for (size_t k = 0; k < q; k++) {
    double s1 = 0.0, s2 = 0.0;
    for (size_t s = 0; s < M; s++) s1 += out[s * q + k];
    mean[k] = s1 / (double)M;
    for (size_t s = 0; s < M; s++) s2 += (out[s * q + k] - mean[k]) * (out[s * q + k] - mean[k]);
    se[k] = sqrt(s2 / (double)(M - 1) / (double)M);
  }
  size_t k = 0;
  for (size_t j = 0; j < d; j++, k++)
    sdv_ledger_stat(L, mean[k], se[k], ref->mu[j], 0.0, "%s: E x_%zu", what, j + 1);
  for (size_t j = 0; j < d; j++)
    for (size_t l = j; l < d; l++, k++)
      sdv_ledger_stat(L, mean[k], se[k], ref->S[j * d + l], 0.0, "%s: E x_%zu x_%zu", what, j + 1,
                      l + 1);
}

/* ---- the model of a case (typed: checks_spec.h) ---- */

/* Agent a's compressor, from its component spec (a name and at most one parameter). */
static int tr_compressor(mspec *v, const tr_agent *a) {
  char spec[64];
  if (a->comp == C_ID) return mspec_compressor(v, "identity");
  if (a->comp == C_BERN)
    snprintf(spec, sizeof spec, "bernoulli:p=%.17g", a->par);
  else
    snprintf(spec, sizeof spec, "rand-k:k=%.0f", a->par);
  return mspec_compressor(v, spec);
}

/* The case's model spec from its numbers; sigma[agents] is the caller's (filled here). */
static int tr_spec(const tr_case *c, uint64_t seed, double *sigma, mspec *v) {
  const sdv_method_type *method;
  int rc = mspec_method(c->method, &method);
  if (rc) return rc;
  mspec_init(v, method, c->dim, c->agents, c->eta, seed);
  v->s.batch = c->batch;
  mspec_x0(v, c->x0, c->dim);
  for (size_t i = 0; i < c->agents; i++) sigma[i] = c->ag[i].sigma;
  mspec_sigma(v, sigma, c->agents);
  rc = mspec_quadratic(v, c->lam);
  const bool compress = strcmp(c->method, "dcsgd") == 0;
  for (size_t i = 0; !rc && compress && i < c->agents; i++) rc = tr_compressor(v, &c->ag[i]);
  return rc;
}

/* sdv's exact routes against the recursions. */
static int exact_routes(const sdv_model *m, const tr_case *c, size_t K, sdv_ledger *L) {
  const size_t d = c->dim, steps[1] = {K};
  double mean[MAXD], second[MAXD * MAXD];
  const moments disc = recursion(c, K, c->eta, c->eta * c->eta);
  int rc = sdv_exact_moments(m, SDV_SIDE_DISCRETE, steps, 1, mean, second, NULL, NULL);
  if (rc) return rc;
  double scale = 0.0;
  for (size_t j = 0; j < d * d; j++) scale = fmax(scale, fabs(disc.S[j]));
  for (size_t j = 0; j < d; j++)
    sdv_ledger_det(L, mean[j], disc.mu[j], RECURSION_RTOL * scale, "exact discrete route: E x_%zu",
                   j + 1);
  for (size_t j = 0; j < d * d; j++)
    sdv_ledger_det(L, second[j], disc.S[j], RECURSION_RTOL * scale,
                   "exact discrete route: E x_%zu x_%zu", j / d + 1, j % d + 1);
  /* The SDE moment ODE against Euler recursions at m = 256, 512, 1024, Richardson-combined. */
  const moments e1 = euler_moments(c, K, 256), e2 = euler_moments(c, K, 512),
                e3 = euler_moments(c, K, 1024);
  if ((rc = sdv_exact_moments(m, SDV_SIDE_SDE, steps, 1, mean, second, NULL, NULL))) return rc;
  for (size_t j = 0; j < d + d * d; j++) {
    const bool isS = j >= d;
    const size_t k = isS ? j - d : j;
    const double a1 = isS ? e1.S[k] : e1.mu[k], a2 = isS ? e2.S[k] : e2.mu[k],
                 a3 = isS ? e3.S[k] : e3.mu[k];
    const double r1 = 2.0 * a2 - a1, r2 = 2.0 * a3 - a2;
    const double got = isS ? second[k] : mean[k];
    const double tol = 2.0 * fabs(r2 - r1) + ODE_RTOL * scale;
    if (isS)
      sdv_ledger_det(L, got, r2, tol, "exact SDE route (CVODE): E x_%zu x_%zu", k / d + 1,
                     k % d + 1);
    else
      sdv_ledger_det(L, got, r2, tol, "exact SDE route (CVODE): E x_%zu", k + 1);
  }
  /* Stationary laws: sdv_exact_stationary (linear solves or fixed points to ~1e-11) against
   * our linear solve; tolerance STAT_RTOL of the largest entry. */
  sdv_observable obs[MAXD + 1];
  for (size_t j = 0; j < d; j++) obs[j] = (sdv_observable){.kind = SDV_OBS_X2, .index = j};
  obs[d] = (sdv_observable){.kind = SDV_OBS_F};
  for (int sde = 0; sde < 2; sde++) {
    double S[MAXD * MAXD], vals[MAXD + 1], sc = 0.0, f = 0.0;
    if ((rc = stationary(c, sde, S))) return rc;
    if ((rc = sdv_exact_stationary(m, sde ? SDV_SIDE_SDE : SDV_SIDE_DISCRETE, obs, d + 1, vals,
                                   NULL, NULL)))
      return rc;
    for (size_t j = 0; j < d; j++) {
      sc = fmax(sc, fabs(S[j * d + j]));
      f += 0.5 * c->lam[j] * S[j * d + j];
    }
    for (size_t j = 0; j < d; j++)
      sdv_ledger_det(L, vals[j], S[j * d + j], STAT_RTOL * sc, "exact %s stationary E x_%zu^2",
                     sde ? "SDE" : "discrete", j + 1);
    sdv_ledger_det(L, vals[d], f, STAT_RTOL * sc, "exact %s stationary E f",
                   sde ? "SDE" : "discrete");
  }
  return SDV_OK;
}

/* The Monte Carlo engine on the same paths as the direct loop (out): the same streams give the
 * same path values, so the engine's means and standard errors must equal ours up to the
 * rounding of a different summation order (ENGINE_RTOL of |mean| + sd). */
static double product_obs(void *user, size_t dim, const double *x) {
  const size_t *jl = user;
  (void)dim;
  return x[jl[0]] * x[jl[1]];
}

static int engine_matches(const sdv_check_ctx *ctx, const sdv_model *m,
                          const sdv_process_options *po, size_t K, size_t M, const double *out,
                          sdv_ledger *L, const char *what) {
  const size_t d = m->dim, q = nobs_of(d);
  sdv_observable obs[MAXD + MAXD * (MAXD + 1) / 2];
  size_t pairs[MAXD * (MAXD + 1) / 2][2], k = 0, np = 0;
  for (size_t j = 0; j < d; j++) obs[k++] = (sdv_observable){.kind = SDV_OBS_X, .index = j};
  for (size_t j = 0; j < d; j++)
    for (size_t l = j; l < d; l++, np++) {
      pairs[np][0] = j;
      pairs[np][1] = l;
      obs[k++] = (sdv_observable){
          .kind = SDV_OBS_USER, .fn = product_obs, .user = pairs[np], .label = "x_j x_l"};
    }
  sdv_mc_options mo;
  sdv_mc_options_default(&mo);
  mo.paths = M;
  mo.threads = (int)ctx->threads;
  mo.cancel = ctx->cancel;
  const size_t steps[2] = {0, K};
  sdv_mc_result *r = NULL;
  int rc = sdv_mc_run(&r, m, po, steps, 2, obs, q, &mo);
  if (rc) return rc;
  for (size_t o = 0; o < q && rc == SDV_OK; o++) {
    double s1 = 0.0, s2 = 0.0;
    for (size_t s = 0; s < M; s++) s1 += out[s * q + o];
    const double mean = s1 / (double)M;
    for (size_t s = 0; s < M; s++) s2 += (out[s * q + o] - mean) * (out[s * q + o] - mean);
    const double sd = sqrt(s2 / (double)(M - 1)), se = sd / sqrt((double)M);
    sdv_mc_summary sm;
    if ((rc = sdv_mc_result_get(r, 1, o, &sm))) break;
    sdv_ledger_det(L, sm.mean, mean, ENGINE_RTOL * (fabs(mean) + sd), "%s: engine mean, obs %zu",
                   what, o + 1);
    sdv_ledger_det(L, sm.se, se, ENGINE_RTOL * se, "%s: engine se, obs %zu", what, o + 1);
    if (sm.nonfinite != 0 || sm.n != M)
      sdv_ledger_det(L, (double)sm.n, (double)M, 0.5, "%s: engine path count, obs %zu", what,
                     o + 1);
  }
  sdv_mc_result_free(r);
  return rc;
}

typedef struct tr_run {
  sdv_ledger main, ctl[2];
  double *out;
} tr_run;

static int run_case(const sdv_check_ctx *ctx, const tr_case *c, uint64_t seed, size_t M,
                    tr_run *R) {
  mspec v;
  double sigma[MAXN];
  mspec_init(&v, NULL, 0, 0, 0.0, 0); /* owns nothing yet: safe to clear at done */
  const size_t K = (size_t)llround(c->T / c->eta), d = c->dim, m = c->substeps;
  sdv_model *mod[2] = {NULL, NULL}, *ctl[2] = {NULL, NULL}, *smp = NULL;
  int rc = tr_spec(c, seed, sigma, &v);
  if (rc) goto done;
  sdv_model_spec o = v.s;
  if (strcmp(c->method, "dcsgd") == 0) {
    o.sde_route = SDV_SDE_SAMPLED;
    if ((rc = sdv_model_alloc_spec(&smp, &o))) goto done;
    o.sde_route = SDV_SDE_AUTO;
  }
  for (int lit = 0; lit < 2; lit++) {
    o.literal = lit;
    if ((rc = sdv_model_alloc_spec(&mod[lit], &o))) goto done;
  }
  o.literal = false;
  const double scales[2] = {sqrt(CTL_VAR), sqrt((double)c->agents)};
  for (int k = 0; k < 2; k++) {
    o.diffusion_scale = scales[k];
    if ((rc = sdv_model_alloc_spec(&ctl[k], &o))) goto done;
  }
  if ((rc = exact_routes(mod[0], c, K, &R->main))) goto done;
  const moments disc = recursion(c, K, c->eta, c->eta * c->eta);
  const moments eul = euler_moments(c, K, m);
  const moments eh = euler_moments(c, K, 2 * m);
  moments rich;
  for (size_t j = 0; j < d; j++) rich.mu[j] = 2.0 * eh.mu[j] - eul.mu[j];
  for (size_t j = 0; j < d * d; j++) rich.S[j] = 2.0 * eh.S[j] - eul.S[j];
  char what[80];
  for (int lit = 0; lit < 2 && rc == SDV_OK; lit++) {
    sdv_process_options po;
    sdv_process_options_default(&po);
    po.sub = (uint32_t)lit;
    if ((rc = simulate(mod[lit], &po, K, M, ctx, R->out))) break;
    snprintf(what, sizeof what, "%s %s step()", c->label, lit ? "literal" : "shortcut");
    compare_paths(&R->main, R->out, M, d, &disc, what);
    if (!lit && (rc = engine_matches(ctx, mod[lit], &po, K, M, R->out, &R->main, what))) break;
    po.kind = SDV_PROCESS_SDE;
    po.substeps = m;
    po.integrator = sdv_integrator_euler;
    if ((rc = simulate(mod[lit], &po, K, M, ctx, R->out))) break;
    snprintf(what, sizeof what, "%s SDE euler%s h = eta/%zu", c->label, lit ? " literal" : "", m);
    compare_paths(&R->main, R->out, M, d, &eul, what);
    if (lit) continue;
    po.integrator = sdv_integrator_richardson;
    if ((rc = simulate(mod[lit], &po, K, M, ctx, R->out))) break;
    snprintf(what, sizeof what, "%s SDE richardson h = eta/%zu", c->label, m);
    compare_paths(&R->main, R->out, M, d, &rich, what);
    if ((rc = engine_matches(ctx, mod[lit], &po, K, M, R->out, &R->main, what))) break;
    if (smp) {
      /* The generic sampled route (compressed-noise increments, no Gaussian): Euler's moment
       * recursion needs only their mean 0 and covariance Sigma(x), so the same reference. */
      po.integrator = sdv_integrator_euler;
      if ((rc = simulate(smp, &po, K, M, ctx, R->out))) break;
      snprintf(what, sizeof what, "%s SDE euler sampled route h = eta/%zu", c->label, m);
      compare_paths(&R->main, R->out, M, d, &eul, what);
    }
    po.integrator = sdv_integrator_euler;
    for (int k = 0; k < 2 && rc == SDV_OK; k++) {
      if ((rc = simulate(ctl[k], &po, K, M, ctx, R->out))) break;
      if (k)
        snprintf(what, sizeof what, "%s SDE euler without 1/N", c->label);
      else
        snprintf(what, sizeof what, "%s SDE euler %g x variance", c->label, CTL_VAR);
      compare_paths(&R->ctl[k], R->out, M, d, &eul, what);
    }
  }
done:
  for (int k = 0; k < 2; k++) {
    sdv_model_free(mod[k]);
    sdv_model_free(ctl[k]);
  }
  sdv_model_free(smp);
  mspec_clear(&v); /* after the models, which borrow its objective */
  return rc;
}

/* "N = 2-3" (the range of a size over the cases) or "N = 2" (one value). */
static void range_text(char *buf, size_t n, const char *name, size_t lo, size_t hi) {
  if (lo == hi)
    snprintf(buf, n, "%s = %zu", name, lo);
  else
    snprintf(buf, n, "%s = %zu-%zu", name, lo, hi);
}

static int run_linear(const sdv_check_ctx *ctx, sdv_check_result *res) {
  /* Paths start near the minimum against the noise so the noise carries much of E x x^T:
   * the diffusion's variance is about a third of each E x_j^2 at t = 1. */
  static const tr_case cases[] = {
      {"dcsgd rand-k",
       "dcsgd",
       3,
       2,
       2,
       {0.6, 1.4, 2.3},
       {0.5, -0.4, 0.3},
       {{0.8, C_RANDK, 1}, {1.2, C_RANDK, 2}},
       0.1,
       1.0,
       4},
      {"dcsgd bernoulli",
       "dcsgd",
       3,
       3,
       2,
       {0.6, 1.4, 2.3},
       {0.5, -0.4, 0.3},
       {{0.9, C_BERN, 0.5}, {0.6, C_BERN, 0.8}, {1.3, C_ID, 0}},
       0.1,
       1.0,
       4},
      {"dsgd",
       "dsgd",
       2,
       3,
       2,
       {0.8, 1.9},
       {0.4, -0.3},
       {{0.5, C_ID, 0}, {1.0, C_ID, 0}, {2.0, C_ID, 0}},
       0.1,
       1.0,
       4},
  };
  const size_t M = ctx->full ? 400000 : 100000, nc = sizeof cases / sizeof *cases;
  tr_run R = {0};
  int rc = SDV_OK;
  if (!(R.out = malloc(M * nobs_of(MAXD) * sizeof *R.out))) {
    rc = SDV_ERROR(SDV_ENOMEM, "trajectory-linear: %zu paths", M);
    goto done;
  }
  for (size_t k = 0; k < nc && rc == SDV_OK; k++)
    rc = run_case(ctx, &cases[k], sdv_check_seed(ctx, "trajectory-linear", (unsigned)k), M, &R);
  if (rc) goto done;
  sdv_ledger_summary s;
  if ((rc = sdv_ledger_close(&R.main, TRAJ_ALPHA, &s))) goto done;
  const double w0 = sdv_ledger_worst_at(&R.ctl[0], s.z), w1 = sdv_ledger_worst_at(&R.ctl[1], s.z);
  /* The cases share T and the Euler substeps m (run_case also runs 2m); N and B may vary. */
  size_t nlo = SIZE_MAX, nhi = 0, blo = SIZE_MAX, bhi = 0;
  for (size_t k = 0; k < nc; k++) {
    nlo = cases[k].agents < nlo ? cases[k].agents : nlo;
    nhi = cases[k].agents > nhi ? cases[k].agents : nhi;
    blo = cases[k].batch < blo ? cases[k].batch : blo;
    bhi = cases[k].batch > bhi ? cases[k].batch : bhi;
  }
  char ntext[32], btext[32];
  range_text(ntext, sizeof ntext, "N", nlo, nhi);
  range_text(btext, sizeof btext, "B", blo, bhi);
  snprintf(res->measured, sizeof res->measured,
           "largest |difference|/tolerance over %zu comparisons of E x, E x x^T at t = %g (%zu "
           "paths per process)",
           s.nstat + s.ndet, cases[0].T, M);
  snprintf(res->prediction, sizeof res->prediction,
           "moment recursions of the optimizer, of Euler (m = %zu, %zu) and of Richardson; ratio "
           "<= 1",
           cases[0].substeps, 2 * cases[0].substeps);
  res->predicted = 1.0;
  res->value = res->lo = res->hi = res->ratio = s.worst;
  res->pass = sdv_ledger_passes(&s);
  snprintf(res->control, sizeof res->control,
           "Euler SDE with %g x diffusion variance; without the 1/N", CTL_VAR);
  res->control_value = res->control_ratio = fmin(w0, w1);
  res->control_rejected = w0 > 1.0 && w1 > 1.0;
  sdv_check_note(res,
                 "cases: DCSGD rand-k (fused Euler step), Bernoulli + identity, DSGD; %s, "
                 "%s, unequal sigma; %zu statistical comparisons at z = %.2f (family-wise "
                 "false-failure rate %g), %zu deterministic (sdv's exact routes); worst: %s "
                 "(%.3g tol); controls at %.3g and %.3g tol",
                 ntext, btext, s.nstat, s.z, TRAJ_ALPHA, s.ndet, s.what, s.worst, w0, w1);
  sdv_ledger_write_csv(&R.main, &s, ctx->csv);
done:
  sdv_ledger_free(&R.main);
  sdv_ledger_free(&R.ctl[0]);
  sdv_ledger_free(&R.ctl[1]);
  free(R.out);
  return rc;
}

/* A case of run_dsignsgd: the agents' laws (component specs) and scales, 1 or N of each. */
typedef struct ds_case {
  const char *label, *noise[3];
  size_t nnoise;
  double sigma[3];
  size_t nsigma, agents, batch;
} ds_case;

/* Case c's models: m[0] shortcut, m[1] literal, m[2] the control with every sigma_i CTL_SIGMA x
 * (sigma: the caller's N doubles). They borrow v's objective. */
static int ds_models(const ds_case *c, uint64_t seed, mspec *v, double *sigma, sdv_model **m) {
  static const double lam[2] = {0.8, 2.1}, x0[2] = {0.7, -0.5};
  mspec_init(v, sdv_method_dsignsgd, 2, c->agents, 0.1, seed);
  v->s.batch = c->batch;
  mspec_sigma(v, c->sigma, c->nsigma);
  mspec_x0(v, x0, 2);
  int rc = mspec_quadratic(v, lam);
  for (size_t k = 0; !rc && k < c->nnoise; k++) rc = mspec_noise(v, c->noise[k]);
  sdv_model_spec o = v->s;
  for (int lit = 0; lit < 2 && rc == SDV_OK; lit++) {
    o.literal = lit;
    rc = sdv_model_alloc_spec(&m[lit], &o);
  }
  /* Control: the optimizer with every scale 10% larger must not match the lattice of the
   * true model (a realistic sigma_i mix-up). */
  if (rc == SDV_OK) {
    for (size_t i = 0; i < m[0]->agents; i++) sigma[i] = CTL_SIGMA * m[0]->sigma[i];
    o.literal = false;
    o.sigma = sigma;
    o.nsigma = m[0]->agents;
    rc = sdv_model_alloc_spec(&m[2], &o);
  }
  return rc;
}

/* DSignSGD: the optimizer's step() over K steps against the exact lattice law. */
static int run_dsignsgd(const sdv_check_ctx *ctx, sdv_check_result *res) {
  static const ds_case cases[] = {
      {"gaussian equal agents", {"gaussian"}, 1, {0.9}, 1, 3, 2},
      {"t3/cauchy/gaussian", {"student-t:nu=3", "cauchy", "gaussian"}, 3, {0.5, 1.5, 1}, 3, 3, 1},
  };
  const size_t M = ctx->full ? 400000 : 100000, K = 10, d = 2;
  const size_t steps[1] = {K};
  sdv_ledger L = {0}, C = {0};
  double *out = malloc(M * nobs_of(d) * sizeof *out);
  int rc = out ? SDV_OK : SDV_ERROR(SDV_ENOMEM, "trajectory-dsignsgd: %zu paths", M);
  for (size_t k = 0; k < 2 && rc == SDV_OK; k++) {
    sdv_model *m[3] = {NULL, NULL, NULL};
    double mean[2], second[4], sigma[3];
    mspec ms;
    rc = ds_models(&cases[k], sdv_check_seed(ctx, "trajectory-dsignsgd", (unsigned)k), &ms, sigma,
                   m);
    if (rc == SDV_OK)
      rc = sdv_exact_moments(m[0], SDV_SIDE_DISCRETE, steps, 1, mean, second, NULL, NULL);
    moments ref;
    memcpy(ref.mu, mean, sizeof mean);
    for (size_t j = 0; j < d; j++)
      for (size_t l = 0; l < d; l++) ref.S[j * d + l] = second[j * d + l];
    for (int v = 0; v < 3 && rc == SDV_OK; v++) {
      sdv_process_options po;
      sdv_process_options_default(&po);
      po.sub = (uint32_t)v;
      if ((rc = simulate(m[v], &po, K, M, ctx, out))) break;
      char what[80];
      if (v == 2)
        snprintf(what, sizeof what, "%s: step() with %g x sigma", cases[k].label, CTL_SIGMA);
      else
        snprintf(what, sizeof what, "%s: %s", cases[k].label,
                 v ? "literal step()" : "shortcut step()");
      compare_paths(v == 2 ? &C : &L, out, M, d, &ref, what);
    }
    for (int i = 0; i < 3; i++) sdv_model_free(m[i]);
    mspec_clear(&ms); /* after the models, which borrow its objective */
  }
  sdv_ledger_summary s;
  if (rc == SDV_OK && (rc = sdv_ledger_close(&L, TRAJ_ALPHA, &s)) == SDV_OK) {
    const double w = sdv_ledger_worst_at(&C, s.z);
    snprintf(res->measured, sizeof res->measured,
             "largest |difference|/tolerance, E x and E x x^T after %zu steps (%zu paths)", K, M);
    snprintf(res->prediction, sizeof res->prediction,
             "the exact lattice law of the optimizer (theory §6.3); ratio <= 1");
    res->predicted = 1.0;
    res->value = res->lo = res->hi = res->ratio = s.worst;
    res->pass = sdv_ledger_passes(&s);
    snprintf(res->control, sizeof res->control, "step() with every sigma_i %g%% too large",
             100.0 * (CTL_SIGMA - 1.0));
    res->control_value = res->control_ratio = w;
    res->control_rejected = w > 1.0;
    sdv_ledger_write_csv(&L, &s, ctx->csv);
    sdv_check_note(res,
                   "Gaussian equal agents (binomial shortcut), B = %zu; Student-t(3), Cauchy and "
                   "Gaussian agents; %zu comparisons at z = %.2f (family-wise false-failure rate "
                   "%g); worst: %s (%.3g tol); control at %.3g tol",
                   cases[0].batch, s.nstat, s.z, TRAJ_ALPHA, s.what, s.worst, w);
  }
  sdv_ledger_free(&L);
  sdv_ledger_free(&C);
  free(out);
  return rc;
}

const sdv_check sdv_checks_trajectory[] = {
    {"trajectory-linear",
     "DSGD and DCSGD (rand-k, Bernoulli) on quadratics: K steps of step() and the SDE by Euler and "
     "Richardson reproduce moment recursions written independently; sdv's exact routes agree",
     "trajectory", run_linear},
    {"trajectory-dsignsgd",
     "DSignSGD: K steps of step() (binomial shortcut and literal) reproduce the exact lattice law",
     "trajectory", run_dsignsgd},
    {NULL, NULL, NULL, NULL},
};
