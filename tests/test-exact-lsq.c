/* Exact references for least squares with minibatch noise (lib/exact/lsq.c;
 * docs/math/exact.md, "Least squares with minibatch noise"), each against a route that shares
 * none of its algebra:
 *
 *  - brute force: on a 3-sample, d = 2 data set, the law of x_k is enumerated exactly (every
 *    minibatch of every agent, every mask of rand-k and Bernoulli, each with its probability,
 *    the per-sample gradients from the objective's sample_gradient) for 4 steps, and its mean
 *    and second moments must match the recursion to 1e-12 (rounding only);
 *  - the SDE: the moment ODE is rebuilt here from the drift sdv_model_drift and the diffusion
 *    Sigma(x) = (1/N^2) sum_i Cov(C_i(v_i) | x) enumerated as above (the covariance the
 *    library's sampled increment has, docs/math/minibatch.md), the quadratic Sigma read off by
 *    polarisation, and integrated by RK4 with h = 5e-4 (error ~ h^4, below 1e-12): CVODE must
 *    agree to 1e-8 relative;
 *  - Monte Carlo of the library's own step() on Wine (d = 14), M = 20000 paths, 10 steps: each
 *    of E x_j, E x_j^2 (j < 14), E f and E ||x - m_exact||^2 within K = 4.5 standard errors of
 *    its estimator. 30 comparisons per model, 3 models (DCSGD rand-k on label-skewed shards;
 *    DSGD with an added Gaussian law; DCSGD Bernoulli with an added law on unequal Dirichlet
 *    shards): a correct route fails with probability at most 90 P(|Z| > 4.5) = 90 * 6.8e-6
 *    = 6.1e-4 (Bonferroni, normal approximation); seeds are fixed, so the outcome is
 *    reproducible. Control: the exact moments with B doubled must be rejected;
 *  - error paths: every unsupported request says why (SDV_ENOTSUP), the memory guard
 *    (SDV_ELIMIT), and a user objective with the sample_affine hook gets the route too;
 *  - least-squares' hook agrees with its sample_gradient on every sample of Wine (1e-13).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sdv/errors.h>
#include <sdv/exact.h>
#include <sdv/model.h>
#include <sdv/objective.h>
#include <sdv/rng.h>

#include "testutil.h"

#define DMAX 2
#define NMAX 2
#define OMAX 64
#define KSTEPS 4

/* One feature and the intercept: d = 2; targets real. */
static const char tiny_csv[] = "0.5,0.75\n2.0,-1.5\n-0.7,2.25\n";
static char tiny_path[64], tiny_obj[160], wine_obj[512];

static void setup(void) {
  sdv_test_temp_file(tiny_path, sizeof tiny_path, tiny_csv);
  snprintf(tiny_obj, sizeof tiny_obj, "least-squares:data=%s:l2=0.25", tiny_path);
  const char *root = getenv("SDV_SOURCE_ROOT");
  snprintf(wine_obj, sizeof wine_obj, "least-squares:data=%s/data/wine.csv:l2=0.05",
           root ? root : ".");
}

static void teardown(void) { unlink(tiny_path); }

/* The compressor by its definition (not the library's code): which masks of the d
 * coordinates it keeps, with what probability, and the scale of the kept coordinates. */
typedef struct comp_def {
  int kind; /* 0 identity, 1 rand-k, 2 bernoulli */
  size_t k;
  double p;
} comp_def;

static double mask_prob(const comp_def *c, unsigned mask, size_t d, double *scale) {
  const size_t pc = (size_t)__builtin_popcount(mask);
  switch (c->kind) {
  case 0:
    *scale = 1.0;
    return mask == (1u << d) - 1 ? 1.0 : 0.0;
  case 1: {
    double binom = 1.0;
    for (size_t j = 0; j < c->k; j++) binom = binom * (double)(d - j) / (double)(j + 1);
    *scale = (double)d / (double)c->k;
    return pc == c->k ? 1.0 / binom : 0.0;
  }
  default:
    *scale = 1.0 / c->p;
    return pow(c->p, (double)pc) * pow(1.0 - c->p, (double)(d - pc));
  }
}

typedef struct outcome {
  double u[DMAX];
  double p;
} outcome;

/* Every value of C_i(v_i) at x with its probability. */
static size_t agent_outcomes(const sdv_model *m, const comp_def *c, size_t i, const double *x,
                             outcome *out) {
  const size_t d = m->dim, B = m->batch, lo = m->shard_start[i];
  const size_t ni = m->shard_start[i + 1] - lo;
  size_t tuples = 1, n = 0;
  for (size_t b = 0; b < B; b++) tuples *= ni;
  for (size_t t = 0; t < tuples; t++) {
    double v[DMAX] = {0}, g[DMAX];
    size_t code = t;
    for (size_t b = 0; b < B; b++) {
      ck_assert_int_eq(
          sdv_objective_sample_gradient(m->objective, m->shard_index[lo + code % ni], x, g),
          SDV_OK);
      code /= ni;
      for (size_t j = 0; j < d; j++) v[j] += g[j] / (double)B;
    }
    for (unsigned mask = 0; mask < (1u << d); mask++) {
      double scale;
      const double pm = mask_prob(c, mask, d, &scale);
      if (pm == 0.0) continue;
      ck_assert_uint_lt(n, OMAX);
      for (size_t j = 0; j < d; j++) out[n].u[j] = (mask >> j) & 1u ? scale * v[j] : 0.0;
      out[n++].p = pm / (double)tuples;
    }
  }
  return n;
}

/* acc[k] += p (x, x x^T) over the exact law of x_k, k = 0..K. */
static void dfs(const sdv_model *m, const comp_def *c, const double *x, double p, size_t depth,
                double acc[][DMAX + DMAX * DMAX]) {
  const size_t d = m->dim, N = m->agents;
  for (size_t j = 0; j < d; j++) {
    acc[depth][j] += p * x[j];
    for (size_t l = 0; l < d; l++) acc[depth][d + j * d + l] += p * x[j] * x[l];
  }
  if (depth == KSTEPS) return;
  outcome o[NMAX][OMAX];
  size_t cnt[NMAX], idx[NMAX] = {0};
  for (size_t i = 0; i < N; i++) cnt[i] = agent_outcomes(m, c + i, i, x, o[i]);
  for (;;) {
    double xn[DMAX], pn = p;
    for (size_t j = 0; j < d; j++) xn[j] = x[j];
    for (size_t i = 0; i < N; i++) {
      pn *= o[i][idx[i]].p;
      for (size_t j = 0; j < d; j++) xn[j] -= m->eta * o[i][idx[i]].u[j] / (double)N;
    }
    dfs(m, c, xn, pn, depth + 1, acc);
    size_t i = 0;
    while (i < N && ++idx[i] == cnt[i]) idx[i++] = 0;
    if (i == N) break;
  }
}

typedef struct tiny_case {
  const char *method, *agents, *batch, *compressor, *shards;
  comp_def c;
} tiny_case;

static const tiny_case tiny_cases[] = {
    {"dsgd", "1", "2", "identity", "iid", {0, 0, 0.0}},
    {"dcsgd", "2", "2", "rand-k:k=1", "iid", {1, 1, 0.0}},
    {"dcsgd", "2", "1", "bernoulli:p=0.6", "label-skew", {2, 0, 0.6}},
};

static sdv_model *tiny_model(const tiny_case *tc, const char *scale) {
  const char *kv[] = {"method",          tc->method, "dim",      "2",         "agents",
                      tc->agents,        "batch",    tc->batch,  "eta",       "0.3",
                      "objective",       tiny_obj,   "noise",    "minibatch", "compressor",
                      tc->compressor,    "x0",       "1.3,-0.4", "shards",    tc->shards,
                      "diffusion-scale", scale,      NULL};
  return sdv_test_model(kv);
}

START_TEST(test_brute_force) {
  const tiny_case *tc = &tiny_cases[_i];
  sdv_model *m = tiny_model(tc, "1");
  const size_t d = 2;
  comp_def c[NMAX] = {tc->c, tc->c};
  double acc[KSTEPS + 1][DMAX + DMAX * DMAX] = {{0}};
  dfs(m, c, m->x0, 1.0, 0, acc);
  const size_t steps[KSTEPS] = {1, 2, 3, 4};
  double mean[KSTEPS * DMAX], second[KSTEPS * DMAX * DMAX];
  sdv_exact_info info;
  ck_assert_msg(
      sdv_exact_moments(m, SDV_SIDE_DISCRETE, steps, KSTEPS, mean, second, NULL, &info) == SDV_OK,
      "%s", sdv_last_error());
  ck_assert_str_eq(info.route, "recursion");
  for (size_t k = 0; k < KSTEPS; k++)
    for (size_t j = 0; j < d; j++) {
      ck_assert_close(mean[k * d + j], acc[k + 1][j], 1e-12);
      for (size_t l = 0; l < d; l++)
        ck_assert_close(second[k * d * d + j * d + l], acc[k + 1][d + j * d + l], 1e-12);
    }
  /* The variance is not negligible: a route without the noise would fail by far more. */
  const double var0 = acc[KSTEPS][d] - acc[KSTEPS][0] * acc[KSTEPS][0];
  ck_assert_msg(var0 > 1e-3, "Var x_0 at step 4 = %g: the test would not see the noise", var0);
  /* The built-in observables from the same moments: E x_j^2 and E ||x||^2. */
  const sdv_observable obs[2] = {{.kind = SDV_OBS_X2, .index = 1}, {.kind = SDV_OBS_NORM2}};
  double v[2];
  ck_assert_int_eq(sdv_exact_eval(m, SDV_SIDE_DISCRETE, steps + 3, 1, obs, 2, v, NULL, NULL),
                   SDV_OK);
  ck_assert_close(v[0], acc[KSTEPS][d + 3], 1e-12);
  ck_assert_close(v[1], acc[KSTEPS][d] + acc[KSTEPS][d + 3], 1e-12);
  sdv_model_free(m);
}
END_TEST

/* Sigma(x) = (1/N^2) sum_i Cov(C_i(v_i) | x), by enumeration. */
static void sigma_enum(const sdv_model *m, const comp_def *c, const double *x, double *sig) {
  const size_t d = m->dim, N = m->agents;
  outcome o[OMAX];
  for (size_t p = 0; p < d * d; p++) sig[p] = 0.0;
  for (size_t i = 0; i < N; i++) {
    const size_t n = agent_outcomes(m, c + i, i, x, o);
    double mu[DMAX] = {0};
    for (size_t k = 0; k < n; k++)
      for (size_t j = 0; j < d; j++) mu[j] += o[k].p * o[k].u[j];
    for (size_t k = 0; k < n; k++)
      for (size_t j = 0; j < d; j++)
        for (size_t l = 0; l < d; l++)
          sig[j * d + l] +=
              o[k].p * (o[k].u[j] - mu[j]) * (o[k].u[l] - mu[l]) / ((double)N * (double)N);
  }
}

/* The moment ODE's right-hand side, from the affine drift b(x) = Bm x + b0 and the quadratic
 * Sigma(x) = C + sum_j L_j x_j + sum_{j,l} M_jl x_j x_l, all read off at a few points. */
typedef struct sde_coef {
  double Bm[4], b0[2], C[4], L[2][4], M[2][2][4], k; /* k = c^2 eta */
} sde_coef;

static void sde_rhs(const sde_coef *q, const double *y, double *yd) {
  const double *m = y, *S = y + 2;
  double ES[4], bm[2];
  for (size_t p = 0; p < 4; p++) {
    ES[p] = q->C[p];
    for (size_t j = 0; j < 2; j++) {
      ES[p] += q->L[j][p] * m[j];
      for (size_t l = 0; l < 2; l++) ES[p] += q->M[j][l][p] * S[j * 2 + l];
    }
  }
  for (size_t j = 0; j < 2; j++) bm[j] = q->b0[j] + q->Bm[j * 2] * m[0] + q->Bm[j * 2 + 1] * m[1];
  for (size_t j = 0; j < 2; j++) yd[j] = bm[j];
  /* E[X b^T] = S Bm^T + m b0^T. */
  for (size_t j = 0; j < 2; j++)
    for (size_t l = 0; l < 2; l++) {
      double xb = m[j] * q->b0[l], bx = m[l] * q->b0[j];
      for (size_t r = 0; r < 2; r++) {
        xb += S[j * 2 + r] * q->Bm[l * 2 + r];
        bx += q->Bm[j * 2 + r] * S[r * 2 + l];
      }
      yd[2 + j * 2 + l] = xb + bx + q->k * ES[j * 2 + l];
    }
}

START_TEST(test_sde_ode) {
  /* N = 2 unequal shards (the drift is the shard-weighted one), rand-k, B = 2, c = 1.3. */
  const tiny_case tc = {"dcsgd", "2", "2", "rand-k:k=1", "label-skew", {1, 1, 0.0}};
  sdv_model *m = tiny_model(&tc, "1.3");
  sdv_work *w = NULL;
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  comp_def c[NMAX] = {tc.c, tc.c};
  sde_coef q;
  q.k = 1.3 * 1.3 * m->eta;
  const double zero[2] = {0, 0};
  sdv_model_drift(m, w, zero, q.b0);
  sigma_enum(m, c, zero, q.C);
  double sp[2][4], sm[2][4];
  for (size_t j = 0; j < 2; j++) {
    double e[2] = {0, 0}, b[2];
    e[j] = 1.0;
    sdv_model_drift(m, w, e, b);
    for (size_t r = 0; r < 2; r++) q.Bm[r * 2 + j] = b[r] - q.b0[r];
    sigma_enum(m, c, e, sp[j]);
    e[j] = -1.0;
    sigma_enum(m, c, e, sm[j]);
    for (size_t p = 0; p < 4; p++) {
      q.L[j][p] = 0.5 * (sp[j][p] - sm[j][p]);
      q.M[j][j][p] = 0.5 * (sp[j][p] + sm[j][p]) - q.C[p];
    }
  }
  const double e11[2] = {1, 1};
  double s11[4];
  sigma_enum(m, c, e11, s11);
  for (size_t p = 0; p < 4; p++)
    q.M[0][1][p] = q.M[1][0][p] =
        0.5 * (s11[p] - q.C[p] - q.L[0][p] - q.L[1][p] - q.M[0][0][p] - q.M[1][1][p]);
  /* RK4 from (x0, x0 x0^T) to t = 0.6 and t = 1.2 (steps 2 and 4 at eta = 0.3). */
  double y[6] = {m->x0[0], m->x0[1]}, k1[6], k2[6], k3[6], k4[6], yt[6], ref[2][6];
  for (size_t j = 0; j < 2; j++)
    for (size_t l = 0; l < 2; l++) y[2 + j * 2 + l] = m->x0[j] * m->x0[l];
  const size_t nh = 2400;
  const double h = 1.2 / (double)nh;
  for (size_t s = 1; s <= nh; s++) {
    sde_rhs(&q, y, k1);
    for (size_t p = 0; p < 6; p++) yt[p] = y[p] + 0.5 * h * k1[p];
    sde_rhs(&q, yt, k2);
    for (size_t p = 0; p < 6; p++) yt[p] = y[p] + 0.5 * h * k2[p];
    sde_rhs(&q, yt, k3);
    for (size_t p = 0; p < 6; p++) yt[p] = y[p] + h * k3[p];
    sde_rhs(&q, yt, k4);
    for (size_t p = 0; p < 6; p++) y[p] += h / 6.0 * (k1[p] + 2 * k2[p] + 2 * k3[p] + k4[p]);
    if (s == nh / 2) memcpy(ref[0], y, sizeof y);
  }
  memcpy(ref[1], y, sizeof y);
  const size_t steps[2] = {2, 4};
  double mean[4], second[8];
  sdv_exact_info info;
  ck_assert_msg(sdv_exact_moments(m, SDV_SIDE_SDE, steps, 2, mean, second, NULL, &info) == SDV_OK,
                "%s", sdv_last_error());
  ck_assert_str_eq(info.route, "cvode");
  for (size_t t = 0; t < 2; t++) {
    for (size_t j = 0; j < 2; j++) ck_assert_close(mean[t * 2 + j], ref[t][j], 1e-8);
    for (size_t p = 0; p < 4; p++) ck_assert_close(second[t * 4 + p], ref[t][2 + p], 1e-8);
  }
  /* The diffusion matters at this tolerance: Var X_0 at t = 1.2 against the drift ODE's. */
  const double var = second[4] - mean[2] * mean[2];
  ck_assert_msg(var > 1e-3, "Var X_0 = %g", var);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

/* ---- Monte Carlo through the library's step() on Wine ---- */

#define MC_PATHS 20000
#define MC_STEPS 10
#define K_SE 4.5
#define WD 14

typedef struct mc_case {
  const char *method, *agents, *batch, *batch_control, *compressor, *shards, *noise, *sigma;
} mc_case;

static const mc_case mc_cases[] = {
    {"dcsgd", "3", "3", "6", "rand-k:k=4", "label-skew", "minibatch", "1"},
    {"dsgd", "2", "2", "4", "identity", "iid", "minibatch+gaussian", "0.7"},
    {"dcsgd", "3", "2", "4", "bernoulli:p=0.5", "dirichlet:alpha=0.5", "minibatch+gaussian", "0.6"},
};

static sdv_model *wine_model(const mc_case *c, const char *batch) {
  const char *kv[] = {"method",    c->method,    "dim",         "14",     "agents",
                      c->agents,   "batch",      batch,         "eta",    "0.08",
                      "objective", wine_obj,     "noise",       c->noise, "sigma",
                      c->sigma,    "compressor", c->compressor, "shards", c->shards,
                      "x0",        "0.4",        "seed",        "7",      NULL};
  return sdv_test_model(kv);
}

/* Largest |z| of the 30 statistics for the exact moments (mean, S) against the paths' sums. */
static double max_z(const sdv_model *m, const double *xs, const double *mean, const double *S) {
  const size_t d = WD, M = MC_PATHS;
  sdv_work *w = NULL;
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  const sdv_observable of = {.kind = SDV_OBS_F};
  const size_t step = MC_STEPS;
  double ef;
  ck_assert_int_eq(sdv_exact_eval(m, SDV_SIDE_DISCRETE, &step, 1, &of, 1, &ef, NULL, NULL), SDV_OK);
  double zmax = 0.0;
  for (size_t q = 0; q < 2 * d + 2; q++) {
    double s1 = 0.0, s2 = 0.0, target;
    for (size_t p = 0; p < M; p++) {
      const double *x = xs + p * d;
      double v;
      if (q < d) {
        v = x[q];
      } else if (q < 2 * d) {
        v = x[q - d] * x[q - d];
      } else if (q == 2 * d) {
        v = sdv_observable_eval(&of, m, w, x);
      } else {
        v = 0.0;
        for (size_t j = 0; j < d; j++) v += (x[j] - mean[j]) * (x[j] - mean[j]);
      }
      s1 += v;
      s2 += v * v;
    }
    if (q < d) {
      target = mean[q];
    } else if (q < 2 * d) {
      target = S[(q - d) * d + (q - d)];
    } else if (q == 2 * d) {
      target = ef;
    } else { /* E ||x - c||^2 = tr S - 2 c.m + |c|^2 with c = m */
      target = 0.0;
      for (size_t j = 0; j < d; j++) target += S[j * d + j] - mean[j] * mean[j];
    }
    const double avg = s1 / (double)M, var = (s2 - s1 * avg) / (double)(M - 1);
    const double z = fabs(avg - target) / sqrt(var / (double)M);
    if (z > zmax) zmax = z;
  }
  sdv_work_free(w);
  return zmax;
}

START_TEST(test_monte_carlo_wine) {
  const mc_case *c = &mc_cases[_i];
  sdv_model *m = wine_model(c, c->batch);
  sdv_work *w = NULL;
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  const size_t d = m->dim, M = MC_PATHS;
  ck_assert_uint_eq(d, WD);
  double *xs = malloc(M * d * sizeof *xs);
  ck_assert_ptr_nonnull(xs);
  for (size_t p = 0; p < M; p++) {
    sdv_stream noise, comp;
    sdv_stream_init(&noise, 2385, p, SDV_PURPOSE_NOISE, 0);
    sdv_stream_init(&comp, 2385, p, SDV_PURPOSE_COMPRESSOR, 0);
    double *x = xs + p * d;
    memcpy(x, m->x0, d * sizeof *x);
    for (size_t k = 0; k < MC_STEPS; k++)
      ck_assert_int_eq(sdv_model_step(m, w, x, &noise, &comp), SDV_OK);
  }
  const size_t step = MC_STEPS;
  double mean[WD], S[WD * WD];
  ck_assert_msg(sdv_exact_moments(m, SDV_SIDE_DISCRETE, &step, 1, mean, S, NULL, NULL) == SDV_OK,
                "%s", sdv_last_error());
  const double z = max_z(m, xs, mean, S);
  ck_assert_msg(z <= K_SE, "max |z| = %g > %g", z, K_SE);
  /* Control: the moments of the model with B doubled (half the sampling covariance). */
  sdv_model *wrong = wine_model(c, c->batch_control);
  ck_assert_int_eq(sdv_exact_moments(wrong, SDV_SIDE_DISCRETE, &step, 1, mean, S, NULL, NULL),
                   SDV_OK);
  const double zc = max_z(m, xs, mean, S);
  ck_assert_msg(zc > K_SE, "control (B doubled) not rejected: max |z| = %g", zc);
  fprintf(stderr, "exact-lsq MC %s %s: max |z| = %.2f, control %.2f\n", c->method, c->compressor, z,
          zc);
  sdv_model_free(wrong);
  free(xs);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

/* ---- errors and scope ---- */

static void assert_enotsup(const sdv_model *m, sdv_side side, const char *needle) {
  const size_t step = 3;
  double mean[WD], S[WD * WD];
  const int rc = sdv_exact_moments(m, side, &step, 1, mean, S, NULL, NULL);
  ck_assert_int_eq(rc, SDV_ENOTSUP);
  ck_assert_msg(strstr(sdv_last_error(), needle), "error '%s' does not say '%s'", sdv_last_error(),
                needle);
  ck_assert(!sdv_exact_available(m, side, NULL, false));
}

START_TEST(test_errors) {
  {
    const char *kv[] = {"method", "dcsgd",     "dim",        "14",       "objective", wine_obj,
                        "noise",  "minibatch", "compressor", "qsgd:s=2", NULL};
    sdv_model *m = sdv_test_model(kv);
    assert_enotsup(m, SDV_SIDE_DISCRETE, "linear covariance");
    assert_enotsup(m, SDV_SIDE_SDE, "linear covariance");
    sdv_model_free(m);
  }
  {
    const char *kv[] = {"dim", "14", "objective", wine_obj, "noise", "minibatch+student-t:nu=2",
                        NULL};
    sdv_model *m = sdv_test_model(kv);
    assert_enotsup(m, SDV_SIDE_DISCRETE, "infinite variance");
    sdv_model_free(m);
  }
  {
    const char *kv[] = {"method", "dsignsgd", "dim",       "14", "objective",
                        wine_obj, "noise",    "minibatch", NULL};
    sdv_model *m = sdv_test_model(kv);
    assert_enotsup(m, SDV_SIDE_DISCRETE, "minibatch");
    sdv_model_free(m);
  }
  {
    /* Logistic regression: no affine per-sample gradients, no route. */
    char obj[600];
    const char *root = getenv("SDV_SOURCE_ROOT");
    snprintf(obj, sizeof obj, "logistic:data=%s/data/iris-versicolor-virginica.csv",
             root ? root : ".");
    const char *kv[] = {"dim", "5", "objective", obj, "noise", "minibatch", NULL};
    sdv_model *m = sdv_test_model(kv);
    assert_enotsup(m, SDV_SIDE_DISCRETE, "minibatch");
    sdv_model_free(m);
  }
  {
    const char *kv[] = {"dim", "14", "objective", wine_obj, "noise", "minibatch", NULL};
    sdv_model *m = sdv_test_model(kv);
    /* Finite times only: stationary values and stability say so. */
    const sdv_observable of = {.kind = SDV_OBS_F};
    double v;
    ck_assert_int_eq(sdv_exact_stationary(m, SDV_SIDE_DISCRETE, &of, 1, &v, NULL, NULL),
                     SDV_ENOTSUP);
    ck_assert_msg(strstr(sdv_last_error(), "finite times"), "%s", sdv_last_error());
    ck_assert_int_eq(sdv_exact_stability(m, SDV_SIDE_SDE, NULL, NULL), SDV_ENOTSUP);
    /* A user observable is Monte Carlo's. */
    const sdv_observable ou = {.kind = SDV_OBS_USER, .fn = NULL};
    ck_assert(!sdv_exact_available(m, SDV_SIDE_DISCRETE, &ou, false));
    /* The memory guard, before any work; and the estimate it uses. */
    sdv_exact_options opt;
    sdv_exact_options_default(&opt);
    opt.max_bytes = 1e5;
    const size_t steps[2] = {5, 10};
    double mean[2 * WD], S[2 * WD * WD], bytes;
    ck_assert_int_eq(sdv_exact_moments(m, SDV_SIDE_SDE, steps, 2, mean, S, &opt, NULL), SDV_ELIMIT);
    ck_assert_msg(strstr(sdv_last_error(), "GB"), "%s", sdv_last_error());
    ck_assert_int_eq(sdv_exact_memory(m, SDV_SIDE_SDE, NULL, 0, 2, &bytes), SDV_OK);
    ck_assert(bytes > 1e5 && bytes < 1e7);
    ck_assert_int_eq(sdv_exact_moments(m, SDV_SIDE_DISCRETE, steps, 2, mean, S, &opt, NULL),
                     SDV_OK);
    sdv_model_free(m);
  }
}
END_TEST

/* A user objective with affine per-sample gradients (the tiny data set, written out here)
 * gets the route: the same moments as least-squares on the same data. */
static const double user_a[3][2] = {{0.5, 1.0}, {2.0, 1.0}, {-0.7, 1.0}};
static const double user_y[3] = {0.75, -1.5, 2.25};
static size_t user_size(size_t dim) {
  (void)dim;
  return 1;
}
static int user_init(void *s, size_t dim, sdv_params *p) {
  (void)s;
  (void)p;
  return dim == 2 ? SDV_OK : SDV_EINVAL;
}
static double user_sample_value(const void *st, size_t dim, size_t s, const double *x) {
  (void)st;
  (void)dim;
  const double r = user_a[s][0] * x[0] + user_a[s][1] * x[1] - user_y[s];
  return 0.5 * r * r + 0.125 * (x[0] * x[0] + x[1] * x[1]);
}
static void user_sample_gradient(const void *st, size_t dim, size_t s, const double *x, double *g) {
  (void)st;
  const double r = user_a[s][0] * x[0] + user_a[s][1] * x[1] - user_y[s];
  for (size_t j = 0; j < dim; j++) g[j] = r * user_a[s][j] + 0.25 * x[j];
}
static double user_value(const void *st, size_t dim, const double *x) {
  double v = 0.0;
  for (size_t s = 0; s < 3; s++) v += user_sample_value(st, dim, s, x) / 3.0;
  return v;
}
static void user_gradient(const void *st, size_t dim, const double *x, double *g) {
  double gs[2];
  g[0] = g[1] = 0.0;
  for (size_t s = 0; s < 3; s++) {
    user_sample_gradient(st, dim, s, x, gs);
    for (size_t j = 0; j < dim; j++) g[j] += gs[j] / 3.0;
  }
}
static size_t user_samples(const void *st) {
  (void)st;
  return 3;
}
static void user_affine(const void *st, size_t dim, size_t s, double *a, double *y, double *mu) {
  (void)st;
  for (size_t j = 0; j < dim; j++) a[j] = user_a[s][j];
  *y = user_y[s];
  *mu = 0.25;
}
static const sdv_objective_type user_type = {
    .name = "test-affine",
    .help = "the tiny least-squares problem as a user type",
    .kind = SDV_OBJECTIVE_GENERAL,
    .size = user_size,
    .init = user_init,
    .value = user_value,
    .gradient = user_gradient,
    .samples = user_samples,
    .sample_value = user_sample_value,
    .sample_gradient = user_sample_gradient,
    .sample_affine = user_affine,
};

START_TEST(test_user_objective) {
  ck_assert_msg(sdv_objective_register(&user_type) == SDV_OK, "%s", sdv_last_error());
  const tiny_case tc = {"dcsgd", "2", "2", "rand-k:k=1", "iid", {1, 1, 0.0}};
  sdv_model *ls = tiny_model(&tc, "1");
  const char *kv[] = {"method",     "dcsgd",       "dim",      "2",         "agents",
                      "2",          "batch",       "2",        "eta",       "0.3",
                      "objective",  "test-affine", "noise",    "minibatch", "compressor",
                      "rand-k:k=1", "x0",          "1.3,-0.4", NULL};
  sdv_model *um = sdv_test_model(kv);
  const size_t steps[2] = {3, 7};
  for (int side = SDV_SIDE_DISCRETE; side <= SDV_SIDE_SDE; side++) {
    double m1[4], s1[8], m2[4], s2[8];
    ck_assert_int_eq(sdv_exact_moments(ls, (sdv_side)side, steps, 2, m1, s1, NULL, NULL), SDV_OK);
    ck_assert_msg(sdv_exact_moments(um, (sdv_side)side, steps, 2, m2, s2, NULL, NULL) == SDV_OK,
                  "%s", sdv_last_error());
    for (size_t p = 0; p < 4; p++) ck_assert_close(m2[p], m1[p], 1e-9);
    for (size_t p = 0; p < 8; p++) ck_assert_close(s2[p], s1[p], 1e-9);
  }
  sdv_model_free(um);
  sdv_model_free(ls);
}
END_TEST

/* The hook agrees with sample_gradient on every sample of Wine (the route's only contract). */
START_TEST(test_hook_agrees) {
  sdv_objective *o = NULL;
  ck_assert_int_eq(sdv_objective_alloc(&o, wine_obj, WD), SDV_OK);
  ck_assert(o->type->sample_affine != NULL);
  size_t n;
  ck_assert_int_eq(sdv_objective_samples(o, &n), SDV_OK);
  double x[WD], a[WD], g[WD], y, mu;
  for (size_t j = 0; j < WD; j++) x[j] = 0.7 * sin(1.3 * (double)j + 0.2385);
  for (size_t s = 0; s < n; s++) {
    o->type->sample_affine(o->state, WD, s, a, &y, &mu);
    ck_assert_int_eq(sdv_objective_sample_gradient(o, s, x, g), SDV_OK);
    double r = -y;
    for (size_t j = 0; j < WD; j++) r += a[j] * x[j];
    for (size_t j = 0; j < WD; j++) ck_assert_close(r * a[j] + mu * x[j], g[j], 1e-13);
  }
  ck_assert_double_eq(mu, 0.05);
  sdv_objective_free(o);
}
END_TEST

static Suite *exact_lsq_suite(void) {
  Suite *s = suite_create("exact-lsq");
  TCase *tc = tcase_create("brute force");
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, test_brute_force, 0, sizeof tiny_cases / sizeof tiny_cases[0]);
  suite_add_tcase(s, tc);
  tc = tcase_create("sde");
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_sde_ode);
  suite_add_tcase(s, tc);
  tc = tcase_create("monte carlo");
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, test_monte_carlo_wine, 0, sizeof mc_cases / sizeof mc_cases[0]);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_errors);
  tcase_add_test(tc, test_user_objective);
  tcase_add_test(tc, test_hook_agrees);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(exact_lsq_suite()); }
