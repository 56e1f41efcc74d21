/* Tests of the three optimizers (lib/optimizer): (a) one step against a hand computation
 * with the same draws; (b) drift and Sigma against the theory formulas, including the
 * reference values in the files' opening comments; (c) one-step moment matching, the core
 * check of each SDE: mean(U) = -b(x) and cov(U) = Sigma(x) for U = (x - x_next)/eta;
 * (d) the generic sampled route against the closed form; (e) heavy tails; plus the method
 * registry and the model wrappers (diffusion_scale, increments).
 *
 * Statistical tolerance: every statistic is compared with K = 5 standard errors of its own
 * estimator (normal approximation; two-sided false-failure probability 5.7e-7 each). The
 * quick tier makes about 130 such comparisons, so the family-wise false-failure rate is
 * below 1e-4 (union bound). Seeds are fixed, so a run is reproducible. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sf_erf.h>

#include "optimizer-moments.h"

#define K_SE 5.0
#define N_QUICK 100000

static const double X3[3] = {0.3, -1.2, 2.385};
static const double LAM3[3] = {0.5, 1.3, 2.1};
static const double X4[4] = {0.3, -1.2, 2.385, 0.7};
static const double LAM4[4] = {0.5, 1.3, 2.1, 0.8};

/* |a - b| <= rtol |b| (exact for b = 0). */
#define assert_rel0(a, b, rtol)                                                               \
  do {                                                                                        \
    const double a0_ = (a), b0_ = (b);                                                        \
    ck_assert_msg(fabs(a0_ - b0_) <= (rtol)*fabs(b0_), "%s = %.17g, expected %.17g", #a, a0_, \
                  b0_);                                                                       \
  } while (0)

static double sign0(double v) { return (v > 0.0) - (v < 0.0); }

/* Both streams advanced exactly as far as the reference copies. */
static void assert_same_position(sdv_stream *a, sdv_stream *b) {
  ck_assert(a->next == b->next && a->avail == b->avail);
}

/* ================= (a) one step against a hand computation ================= */

START_TEST(test_step_dsgd) {
  const char *const kv[] = {"method",    "dsgd",
                            "dim",       "3",
                            "agents",    "3",
                            "eta",       "0.0375",
                            "objective", "quadratic:lam=0.5,1.3,2.1",
                            "noise",     "gaussian;student-t:nu=3;cauchy",
                            "sigma",     "0.7,0,1.9",
                            "batch",     "2",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_work *w = work(m);
  double x[3];
  memcpy(x, X3, sizeof x);
  sdv_stream ns, cs, rn, rc;
  sdv_stream_init(&ns, 7, 3, SDV_PURPOSE_NOISE, 0);
  sdv_stream_init(&cs, 7, 3, SDV_PURPOSE_COMPRESSOR, 0);
  ck_assert_int_eq(sdv_model_step(m, w, x, &ns, &cs), SDV_OK);
  /* By hand: the same draws, agents in order, averaged gradients. */
  sdv_stream_init(&rn, 7, 3, SDV_PURPOSE_NOISE, 0);
  sdv_stream_init(&rc, 7, 3, SDV_PURPOSE_COMPRESSOR, 0);
  double acc[3] = {0, 0, 0}, z[3];
  for (size_t i = 0; i < 3; i++) {
    sdv_model_draw_noise(m, i, &rn, z);
    if (i == 1) ck_assert(z[0] == 0.0 && z[1] == 0.0 && z[2] == 0.0);
    for (size_t j = 0; j < 3; j++) acc[j] += LAM3[j] * X3[j] + z[j];
  }
  for (size_t j = 0; j < 3; j++) {
    ck_assert_close(x[j], X3[j] - 0.0375 * acc[j] / 3.0, 1e-15);
    ck_assert(x[j] != X3[j]);
  }
  assert_same_position(&ns, &rn);
  assert_same_position(&cs, &rc); /* DSGD never draws compressor randomness */
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_step_dcsgd) {
  const char *const kv[] = {"method",     "dcsgd",
                            "dim",        "4",
                            "agents",     "3",
                            "eta",        "0.0375",
                            "objective",  "quadratic:lam=0.5,1.3,2.1,0.8",
                            "noise",      "gaussian",
                            "sigma",      "0.5,1.2,2.385",
                            "compressor", "bernoulli:p=0.4;rand-k:k=2;qsgd:s=2",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_work *w = work(m);
  double x[4];
  memcpy(x, X4, sizeof x);
  sdv_stream ns, cs, rn, rc;
  sdv_stream_init(&ns, 9, 5, SDV_PURPOSE_NOISE, 0);
  sdv_stream_init(&cs, 9, 5, SDV_PURPOSE_COMPRESSOR, 0);
  ck_assert_int_eq(sdv_model_step(m, w, x, &ns, &cs), SDV_OK);
  sdv_stream_init(&rn, 9, 5, SDV_PURPOSE_NOISE, 0);
  sdv_stream_init(&rc, 9, 5, SDV_PURPOSE_COMPRESSOR, 0);
  double acc[4] = {0, 0, 0, 0}, z[4], v[4], c[4];
  for (size_t i = 0; i < 3; i++) {
    sdv_compressor *ci = sdv_compressor_clone(m->compressor[i]);
    ck_assert_ptr_nonnull(ci);
    sdv_model_draw_noise(m, i, &rn, z);
    for (size_t j = 0; j < 4; j++) v[j] = LAM4[j] * X4[j] + z[j];
    sdv_compressor_apply(ci, v, c, &rc);
    for (size_t j = 0; j < 4; j++) acc[j] += c[j];
    sdv_compressor_free(ci);
  }
  for (size_t j = 0; j < 4; j++) ck_assert_close(x[j], X4[j] - 0.0375 * acc[j] / 3.0, 1e-15);
  assert_same_position(&ns, &rn);
  assert_same_position(&cs, &rc);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_step_dsignsgd) {
  /* Agent 2 has sigma = 0 and coordinate 2 has d_2 f = 0: its sign is 0 there. */
  const char *const kv[] = {"method",    "dsignsgd",
                            "dim",       "3",
                            "agents",    "3",
                            "eta",       "0.0375",
                            "objective", "quadratic:lam=0.5,1.3,2.1",
                            "noise",     "gaussian;gaussian;student-t:nu=3",
                            "sigma",     "0.8,0,1.7",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_work *w = work(m);
  const double x0[3] = {0.3, 0.0, -1.1};
  double x[3];
  memcpy(x, x0, sizeof x);
  sdv_stream ns, cs, rn, rc;
  sdv_stream_init(&ns, 4, 1, SDV_PURPOSE_NOISE, 0);
  sdv_stream_init(&cs, 4, 1, SDV_PURPOSE_COMPRESSOR, 0);
  ck_assert_int_eq(sdv_model_step(m, w, x, &ns, &cs), SDV_OK);
  sdv_stream_init(&rn, 4, 1, SDV_PURPOSE_NOISE, 0);
  sdv_stream_init(&rc, 4, 1, SDV_PURPOSE_COMPRESSOR, 0);
  double acc[3] = {0, 0, 0}, z[3];
  for (size_t i = 0; i < 3; i++) {
    sdv_model_draw_noise(m, i, &rn, z);
    for (size_t j = 0; j < 3; j++) acc[j] += sign0(LAM3[j] * x0[j] + z[j]);
  }
  /* Agent 2 adds 0 to coordinate 1, so there the sum of the other two signs is even. */
  ck_assert(acc[1] == -2.0 || acc[1] == 0.0 || acc[1] == 2.0);
  for (size_t j = 0; j < 3; j++) ck_assert_close(x[j], x0[j] - 0.0375 * acc[j] / 3.0, 1e-15);
  assert_same_position(&ns, &rn);
  assert_same_position(&cs, &rc);
  sdv_work_free(w);
  sdv_model_free(m);

  /* Without noise the update is eta * sign(grad) exactly, 0 where the gradient is 0. */
  const char *const kv0[] = {
      "method", "dsignsgd", "dim",    "3",         "agents",
      "2",      "eta",      "0.0375", "objective", "quadratic:lam=0.5,1.3,2.1",
      "sigma",  "0",        NULL};
  m = sdv_test_model(kv0);
  w = work(m);
  memcpy(x, x0, sizeof x);
  ck_assert_int_eq(sdv_model_step(m, w, x, &ns, &cs), SDV_OK);
  ck_assert(x[0] == 0.3 - 0.0375 && x[1] == 0.0 && x[2] == -1.1 + 0.0375);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

/* ================= (b) drift and Sigma against the theory formulas ================= */

/* Drift must be -grad f for DSGD and DCSGD. */
static void assert_drift_minus_grad(const sdv_model *m, sdv_work *w, const double *x,
                                    const double *lam) {
  double b[4];
  sdv_model_drift(m, w, x, b);
  for (size_t j = 0; j < m->dim; j++) assert_rel0(b[j], -lam[j] * x[j], 1e-15);
}

START_TEST(test_theory_dsgd) {
  const char *const kv[] = {"method",    "dsgd",
                            "dim",       "3",
                            "agents",    "4",
                            "batch",     "3",
                            "objective", "quadratic:lam=0.5,1.3,2.1",
                            "noise",     "gaussian;gaussian;student-t:nu=5;gaussian",
                            "sigma",     "0.5,1.25,2.385,0.1",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_work *w = work(m);
  assert_drift_minus_grad(m, w, X3, LAM3);
  /* Sigma = (1/N^2) sum_i v_i I, v_i = sigma_i^2 Var T / B. */
  const double v = (0.25 + 1.5625 + 2.385 * 2.385 * 5.0 / 3.0 + 0.01) / 3.0;
  double *S = sigma_dense(m, w, X3, SDV_DIFFUSION_SCALAR);
  for (size_t j = 0; j < 3; j++)
    for (size_t l = 0; l < 3; l++) assert_rel0(S[j * 3 + l], j == l ? v / 16.0 : 0.0, 1e-12);
  free(S);
  sdv_work_free(w);
  sdv_model_free(m);

  /* Reference value of lib/optimizer/dsgd.c. */
  const char *const ref[] = {"agents", "2", "batch", "2", "sigma", "0.5,1.5", NULL};
  m = sdv_test_model(ref);
  w = work(m);
  sdv_diffusion *D;
  ck_assert_int_eq(sdv_model_diffusion(m, w, m->x0, &D), SDV_OK);
  assert_rel0(D->scalar, 0.3125, 1e-15);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_theory_dcsgd_bernoulli) {
  const char *const kv[] = {
      "method", "dcsgd",   "dim",        "3",
      "agents", "3",       "objective",  "quadratic:lam=0.5,1.3,2.1",
      "sigma",  "1,2,0.7", "compressor", "bernoulli:p=0.5;bernoulli:p=0.25;bernoulli:p=0.8",
      NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_work *w = work(m);
  assert_drift_minus_grad(m, w, X3, LAM3);
  /* D_j = (1/N) [mean v + mean omega v + mean omega g_j^2], omega = 1/p - 1. */
  const double om[3] = {1.0, 3.0, 0.25}, v[3] = {1.0, 4.0, 0.49};
  double s2 = 0, os2 = 0, ob = 0;
  for (size_t i = 0; i < 3; i++) s2 += v[i] / 3, os2 += om[i] * v[i] / 3, ob += om[i] / 3;
  double *S = sigma_dense(m, w, X3, SDV_DIFFUSION_DIAGONAL);
  for (size_t j = 0; j < 3; j++)
    for (size_t l = 0; l < 3; l++) {
      const double g = LAM3[j] * X3[j];
      assert_rel0(S[j * 3 + l], j == l ? (s2 + os2 + ob * g * g) / 3.0 : 0.0, 1e-12);
    }
  free(S);
  sdv_work_free(w);
  sdv_model_free(m);

  /* Reference value of lib/optimizer/dcsgd.c: D_j = 8.5 at g_j = 2. */
  const char *const ref[] = {
      "method", "dcsgd", "agents", "2",          "sigma",
      "1,2",    "x0",    "2",      "compressor", "bernoulli:p=0.5;bernoulli:p=0.25",
      NULL};
  m = sdv_test_model(ref);
  w = work(m);
  S = sigma_dense(m, w, m->x0, SDV_DIFFUSION_DIAGONAL);
  assert_rel0(S[0], 8.5, 1e-15);
  free(S);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_theory_dcsgd_randk) {
  const char *const kv[] = {"method",     "dcsgd",
                            "dim",        "4",
                            "agents",     "3",
                            "batch",      "2",
                            "objective",  "quadratic:lam=0.5,1.3,2.1,0.8",
                            "sigma",      "0.5,1.2,2.385",
                            "compressor", "rand-k:k=1;rand-k:k=2;rand-k:k=3",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_work *w = work(m);
  assert_drift_minus_grad(m, w, X4, LAM4);
  /* D_j = (1/N^2) sum_i [(1+omega_i) v_i + omega_i d/(d-1) g_j^2],
   * beta = (1/N^2) sum_i omega_i/(d-1); Sigma = Diag(D) - beta g g^T, so its own diagonal
   * is D_j - beta g_j^2, the Bernoulli diagonal. */
  const double sig[3] = {0.5, 1.2, 2.385}, d = 4.0;
  double *S = sigma_dense(m, w, X4, SDV_DIFFUSION_DIAG_RANK1);
  for (size_t j = 0; j < 4; j++)
    for (size_t l = 0; l < 4; l++) {
      const double gj = LAM4[j] * X4[j], gl = LAM4[l] * X4[l];
      double want = 0.0;
      for (size_t i = 0; i < 3; i++) {
        const double om = d / (double)(i + 1) - 1.0, v = sig[i] * sig[i] / 2.0;
        want += (j == l ? (1.0 + om) * v + om * d / (d - 1.0) * gj * gj : 0.0) -
                om / (d - 1.0) * gj * gl;
      }
      assert_rel0(S[j * 4 + l], want / 9.0, 1e-12);
    }
  free(S);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

/* General moment form (1/N^2) sum_i [V_i + Phihat_i(g g^T + V_i)], Phihat written out per
 * compressor as in the theory: identity 0, Bernoulli omega diag(M),
 * rand-k (omega/(d-1)) (d diag(M) - M). */
START_TEST(test_theory_dcsgd_mixed) {
  const char *const kv[] = {"method",     "dcsgd",
                            "dim",        "4",
                            "agents",     "3",
                            "objective",  "quadratic:lam=0.5,1.3,2.1,0.8",
                            "noise",      "gaussian;student-t:nu=5;gaussian",
                            "sigma",      "0.9,1.1,0.6",
                            "compressor", "bernoulli:p=0.3;rand-k:k=2;identity",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_work *w = work(m);
  assert_drift_minus_grad(m, w, X4, LAM4);
  const double v[3] = {0.81, 1.21 * 5.0 / 3.0, 0.36};
  double want[16] = {0};
  for (size_t i = 0; i < 3; i++)
    for (size_t j = 0; j < 4; j++)
      for (size_t l = 0; l < 4; l++) {
        const double M = LAM4[j] * X4[j] * LAM4[l] * X4[l] + (j == l ? v[i] : 0.0);
        double phat = 0.0;
        if (i == 0) phat = j == l ? (1.0 / 0.3 - 1.0) * M : 0.0;
        if (i == 1) phat = (1.0 / 3.0) * ((j == l ? 4.0 * M : 0.0) - M); /* omega = 1 */
        want[j * 4 + l] += ((j == l ? v[i] : 0.0) + phat) / 9.0;
      }
  double *S = sigma_dense(m, w, X4, SDV_DIFFUSION_DIAG_RANK1);
  for (size_t k = 0; k < 16; k++) assert_rel0(S[k], want[k], 1e-12);
  free(S);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

/* Sign means and 1 - m^2 for the laws, written independently of lib/noise:
 * Gaussian erf / erfc, t_3 and Cauchy closed forms (theory §4.3, §12). tail = 1 - |m|. */
enum law { GAUSS, T3, CAUCHY };
static void sign_moments(enum law law, double y, double *m, double *var) {
  const double a = fabs(y);
  double tail;
  if (law == GAUSS) {
    tail = gsl_sf_erfc(a / M_SQRT2);
  } else if (law == CAUCHY) {
    tail = M_2_PI * atan(1.0 / a);
  } else {
    const double phi = atan(sqrt(3.0) / a);
    tail = M_2_PI * (phi - sin(phi) * cos(phi));
  }
  if (law == GAUSS)
    *m = gsl_sf_erf(y / M_SQRT2);
  else if (law == CAUCHY)
    *m = M_2_PI * atan(y);
  else
    *m = M_2_PI * (atan(y / sqrt(3.0)) + sqrt(3.0) * y / (3.0 + y * y));
  *var = tail * (2.0 - tail);
}

/* Checks drift and diagonal Sigma of a DSignSGD model whose agent i has law[i], effective
 * scale sc[i] (0 = noiseless). */
static void check_dsignsgd(const sdv_model *m, const double *x, const double *lam,
                           const enum law *law, const double *sc) {
  const size_t d = m->dim, n = m->agents;
  sdv_work *w = work(m);
  double b[4], wantb[4] = {0}, wantd[4] = {0};
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < d; j++) {
      const double g = lam[j] * x[j];
      double mm, vv;
      if (sc[i] == 0.0)
        mm = sign0(g), vv = 0.0;
      else
        sign_moments(law[i], g / sc[i], &mm, &vv);
      wantb[j] -= mm / (double)n;
      wantd[j] += vv / ((double)n * (double)n);
    }
  sdv_model_drift(m, w, x, b);
  double *S = sigma_dense(m, w, x, SDV_DIFFUSION_DIAGONAL);
  for (size_t j = 0; j < d; j++) {
    assert_rel0(b[j], wantb[j], 1e-12);
    for (size_t l = 0; l < d; l++) assert_rel0(S[j * d + l], j == l ? wantd[j] : 0.0, 1e-12);
  }
  free(S);
  sdv_work_free(w);
}

START_TEST(test_theory_dsignsgd) {
  /* Gaussian, B = 2: scale sigma / sqrt(2). */
  const char *const gauss[] = {
      "method", "dsignsgd",  "dim", "3",         "agents",
      "2",      "batch",     "2",   "objective", "quadratic:lam=0.5,1.3,2.1",
      "sigma",  "0.9,2.385", NULL};
  sdv_model *m = sdv_test_model(gauss);
  const enum law lg[2] = {GAUSS, GAUSS};
  const double sg[2] = {0.9 / M_SQRT2, 2.385 / M_SQRT2};
  check_dsignsgd(m, X3, LAM3, lg, sg);
  sdv_model_free(m);
  /* Student-t nu = 3, B = 1. */
  const char *const t3[] = {"method",    "dsignsgd",
                            "dim",       "3",
                            "agents",    "2",
                            "objective", "quadratic:lam=0.5,1.3,2.1",
                            "noise",     "student-t:nu=3",
                            "sigma",     "1.5,3.2",
                            NULL};
  m = sdv_test_model(t3);
  const enum law lt[2] = {T3, T3};
  const double st[2] = {1.5, 3.2};
  check_dsignsgd(m, X3, LAM3, lt, st);
  sdv_model_free(m);
  /* Cauchy, B = 3: batching does not shrink the scale. */
  const char *const cauchy[] = {
      "method", "dsignsgd", "dim",   "3",         "agents",
      "2",      "batch",    "3",     "objective", "quadratic:lam=0.5,1.3,2.1",
      "noise",  "cauchy",   "sigma", "1.1,2.4",   NULL};
  m = sdv_test_model(cauchy);
  const enum law lc[2] = {CAUCHY, CAUCHY};
  const double scc[2] = {1.1, 2.4};
  check_dsignsgd(m, X3, LAM3, lc, scc);
  sdv_model_free(m);
  /* Heterogeneous laws and scales, one noiseless agent, a zero gradient coordinate. */
  const double xz[4] = {0.3, 0.0, -1.1, 2.385};
  const char *const het[] = {"method",    "dsignsgd",
                             "dim",       "4",
                             "agents",    "4",
                             "objective", "quadratic:lam=0.5,1.3,2.1,0.8",
                             "noise",     "gaussian;student-t:nu=3;cauchy;gaussian",
                             "sigma",     "0.5,2.385,1.25,0",
                             NULL};
  m = sdv_test_model(het);
  const enum law lh[4] = {GAUSS, T3, CAUCHY, GAUSS};
  const double sh[4] = {0.5, 2.385, 1.25, 0.0};
  check_dsignsgd(m, xz, LAM4, lh, sh);
  sdv_model_free(m);
  /* Reference value of lib/optimizer/dsignsgd.c. */
  const char *const ref[] = {"method", "dsignsgd", "agents", "2", "sigma",
                             "0.5,2",  "x0",       "0.75",   NULL};
  m = sdv_test_model(ref);
  sdv_work *w = work(m);
  double b;
  sdv_model_drift(m, w, m->x0, &b);
  double *S = sigma_dense(m, w, m->x0, SDV_DIFFUSION_DIAGONAL);
  assert_rel0(b, -0.5793625654038657, 1e-14);
  assert_rel0(S[0], 0.29097839843832185, 1e-14);
  free(S);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

/* ================= (c) one-step moment matching ================= */

START_TEST(test_moments_dsgd) {
  /* t_5 with B = 2 exercises the literal minibatch mean (finite fourth moment). */
  const char *const kv[] = {"method",    "dsgd",
                            "dim",       "3",
                            "agents",    "3",
                            "batch",     "2",
                            "eta",       "0.05",
                            "objective", "quadratic:lam=0.5,1.3,2.1",
                            "noise",     "gaussian;student-t:nu=5;gaussian",
                            "sigma",     "0.7,1.3,2.385",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  ck_assert_int_eq(step_moments("dsgd", m, X3, N_QUICK, 101, K_SE, SDV_DIFFUSION_SCALAR), 0);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_moments_dcsgd_bernoulli) {
  const char *const kv[] = {"method",     "dcsgd",
                            "dim",        "3",
                            "agents",     "3",
                            "eta",        "0.05",
                            "objective",  "quadratic:lam=0.5,1.3,2.1",
                            "sigma",      "1,2,0.7",
                            "compressor", "bernoulli:p=0.5;bernoulli:p=0.25;bernoulli:p=0.8",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  ck_assert_int_eq(
      step_moments("dcsgd-bernoulli", m, X3, N_QUICK, 102, K_SE, SDV_DIFFUSION_DIAGONAL), 0);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_moments_dcsgd_randk) {
  const char *const kv[] = {"method",     "dcsgd",
                            "dim",        "4",
                            "agents",     "3",
                            "batch",      "2",
                            "eta",        "0.05",
                            "objective",  "quadratic:lam=0.5,1.3,2.1,0.8",
                            "sigma",      "0.5,1.2,2.385",
                            "compressor", "rand-k:k=1;rand-k:k=2;rand-k:k=3",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  ck_assert_int_eq(
      step_moments("dcsgd-rand-k", m, X4, N_QUICK, 103, K_SE, SDV_DIFFUSION_DIAG_RANK1), 0);
  /* Power: the same sample must reject the Bernoulli-like diagonal (rank-1 term dropped). */
  sdv_work *w = work(m);
  double *S = sigma_dense(m, w, X4, SDV_DIFFUSION_DIAG_RANK1);
  for (size_t j = 0; j < 4; j++)
    for (size_t l = 0; l < 4; l++)
      if (j != l) S[j * 4 + l] = 0.0;
  double mb[4];
  minus_drift(m, X4, mb);
  double *u = sample_steps(m, X4, N_QUICK, 103);
  fprintf(stderr, "(expected failures of a deliberately wrong Sigma follow)\n");
  ck_assert_int_ge(check_moments("wrong-sigma", u, N_QUICK, 4, mb, S, NULL, K_SE, 0), 3);
  free(u), free(S);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

/* qsgd and natural compression: no closed form, Sigma is referenced by averaging the exact
 * Phi_C(g + Z) over noise draws (its own error enters the tolerance). */
static void moments_phi(const char *label, const char *const *kv, const double *x, uint64_t seed) {
  sdv_model *m = sdv_test_model(kv);
  const size_t d = m->dim;
  sdv_work *w = work(m);
  sdv_diffusion *D;
  ck_assert_int_eq(sdv_model_diffusion(m, w, x, &D), SDV_OK);
  ck_assert_int_eq(D->structure, SDV_DIFFUSION_SAMPLED);
  double *S = malloc(d * d * sizeof *S), *se = malloc(d * d * sizeof *se), mb[4];
  ck_assert(S && se);
  phi_reference(m, x, N_QUICK, seed, S, se);
  minus_drift(m, x, mb);
  double *u = sample_steps(m, x, N_QUICK, seed + 1);
  ck_assert_int_eq(check_moments(label, u, N_QUICK, d, mb, S, se, K_SE, 0), 0);
  free(u);
  /* (d) the generic route's increments: mean 0, the same covariance, odd moments 0. */
  const double zero[4] = {0, 0, 0, 0};
  u = sample_increments(m, x, N_QUICK, seed + 2);
  ck_assert_int_eq(check_moments(label, u, N_QUICK, d, zero, S, se, K_SE, 1), 0);
  free(u), free(S), free(se);
  sdv_work_free(w);
  sdv_model_free(m);
}

START_TEST(test_moments_dcsgd_qsgd) {
  const char *const kv[] = {"method",     "dcsgd",
                            "dim",        "4",
                            "agents",     "3",
                            "eta",        "0.05",
                            "objective",  "quadratic:lam=0.5,1.3,2.1,0.8",
                            "sigma",      "0.5,1.2,0.9",
                            "compressor", "qsgd:s=2;qsgd:s=1;qsgd:s=4",
                            NULL};
  moments_phi("dcsgd-qsgd", kv, X4, 104);
}
END_TEST

START_TEST(test_moments_dcsgd_natural) {
  const char *const kv[] = {
      "method", "dcsgd",       "dim",        "3",         "agents",
      "3",      "eta",         "0.05",       "objective", "quadratic:lam=0.5,1.3,2.1",
      "sigma",  "0.5,1.2,0.9", "compressor", "natural",   NULL};
  moments_phi("dcsgd-natural", kv, X3, 105);
}
END_TEST

START_TEST(test_moments_dsignsgd_gaussian) {
  /* The noiseless agent 3 makes coordinate 2 (d_2 f = 0) a case where its sign is exactly
   * 0 with no variance: Sigma_22 = (1 + 1 + 0)/9, not 3/9. */
  const double x[3] = {0.3, 0.0, -1.1};
  const char *const kv[] = {
      "method", "dsignsgd",    "dim",  "3",         "agents",
      "3",      "eta",         "0.05", "objective", "quadratic:lam=0.5,1.3,2.1",
      "sigma",  "0.9,2.385,0", NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_work *w = work(m);
  double *S = sigma_dense(m, w, x, SDV_DIFFUSION_DIAGONAL);
  assert_rel0(S[4], 2.0 / 9.0, 1e-15);
  free(S);
  sdv_work_free(w);
  ck_assert_int_eq(
      step_moments("dsignsgd-gaussian", m, x, N_QUICK, 106, K_SE, SDV_DIFFUSION_DIAGONAL), 0);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_moments_dsignsgd_t3) {
  const char *const kv[] = {"method",    "dsignsgd",
                            "dim",       "3",
                            "agents",    "3",
                            "eta",       "0.05",
                            "objective", "quadratic:lam=0.5,1.3,2.1",
                            "noise",     "student-t:nu=3",
                            "sigma",     "0.5,1.5,3.2",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  ck_assert_int_eq(step_moments("dsignsgd-t3", m, X3, N_QUICK, 107, K_SE, SDV_DIFFUSION_DIAGONAL),
                   0);
  sdv_model_free(m);
}
END_TEST

/* ================= (d) sampled route against the closed form ================= */

static void sampled_vs_closed(const char *label, const char *const *kv, const char *sampled,
                              const double *x, sdv_diffusion_structure structure, uint64_t seed) {
  sdv_model *ma = sdv_test_model(kv);
  /* The same model with --sde sampled: kv plus the route. */
  sdv_model_options o;
  sdv_test_model_options(&o, kv);
  ck_assert_int_eq(sdv_model_options_set(&o, "sde", sampled), SDV_OK);
  sdv_model *ms = sdv_test_model_alloc(&o);
  const size_t d = ma->dim;
  sdv_work *wa = work(ma), *ws = work(ms);
  double *S = sigma_dense(ma, wa, x, structure);
  sdv_diffusion *D;
  ck_assert_int_eq(sdv_model_diffusion(ms, ws, x, &D), SDV_OK);
  ck_assert_int_eq(D->structure, SDV_DIFFUSION_SAMPLED);
  double xi[4] = {0.3, -0.2, 1.1, 0.5}, out[4];
  ck_assert_int_eq(sdv_model_diffusion_apply(ms, ws, x, xi, out), SDV_ENOTSUP);
  const double zero[4] = {0, 0, 0, 0};
  double *u = sample_increments(ms, x, N_QUICK, seed);
  ck_assert_int_eq(check_moments(label, u, N_QUICK, d, zero, S, NULL, K_SE, 1), 0);
  free(u), free(S);
  sdv_work_free(wa), sdv_work_free(ws);
  sdv_model_free(ma), sdv_model_free(ms);
}

START_TEST(test_sampled_bernoulli) {
  const char *const kv[] = {
      "method", "dcsgd",   "dim",        "3",
      "agents", "3",       "objective",  "quadratic:lam=0.5,1.3,2.1",
      "sigma",  "1,2,0.7", "compressor", "bernoulli:p=0.5;bernoulli:p=0.25;bernoulli:p=0.8",
      NULL};
  sampled_vs_closed("sampled-bernoulli", kv, "sampled", X3, SDV_DIFFUSION_DIAGONAL, 201);
}
END_TEST

START_TEST(test_sampled_randk) {
  const char *const kv[] = {"method",     "dcsgd",
                            "dim",        "4",
                            "agents",     "3",
                            "batch",      "2",
                            "objective",  "quadratic:lam=0.5,1.3,2.1,0.8",
                            "sigma",      "0.5,1.2,2.385",
                            "compressor", "rand-k:k=1;rand-k:k=2;rand-k:k=3",
                            NULL};
  sampled_vs_closed("sampled-rand-k", kv, "sampled", X4, SDV_DIFFUSION_DIAG_RANK1, 202);
}
END_TEST

/* ================= (e) heavy tails ================= */

START_TEST(test_heavy_tails) {
  static const char *const methods[] = {"dsgd", "dcsgd"};
  for (size_t k = 0; k < 2; k++) {
    const char *const kv[] = {"method",     methods[k],
                              "dim",        "3",
                              "agents",     "2",
                              "objective",  "quadratic:lam=0.5,1.3,2.1",
                              "noise",      "gaussian;student-t:nu=1.5",
                              "sigma",      "0.5,1.2",
                              "compressor", k ? "bernoulli:p=0.5" : "identity",
                              NULL};
    sdv_model *m = sdv_test_model(kv);
    ck_assert(isinf(m->var[1]));
    sdv_work *w = work(m);
    double x[3];
    memcpy(x, X3, sizeof x);
    sdv_stream ns, cs;
    sdv_stream_init(&ns, 5, 0, SDV_PURPOSE_NOISE, 0);
    sdv_stream_init(&cs, 5, 0, SDV_PURPOSE_COMPRESSOR, 0);
    for (size_t t = 0; t < 200; t++) ck_assert_int_eq(sdv_model_step(m, w, x, &ns, &cs), SDV_OK);
    for (size_t j = 0; j < 3; j++) ck_assert(isfinite(x[j]) && x[j] != X3[j]);
    sdv_diffusion *D;
    sdv_clear_error();
    ck_assert_int_eq(sdv_model_diffusion(m, w, X3, &D), SDV_ENOTSUP);
    ck_assert_ptr_nonnull(strstr(sdv_last_error(), "no SDE: noise variance is infinite"));
    double xi[3] = {0.1, 0.2, 0.3}, out[3];
    ck_assert_int_eq(sdv_model_diffusion_apply(m, w, X3, xi, out), SDV_ENOTSUP);
    ck_assert_int_eq(sdv_model_noise_increment(m, w, X3, &ns, out), SDV_ENOTSUP);
    /* The drift is still -grad f: E Z exists for nu > 1. */
    assert_drift_minus_grad(m, w, X3, LAM3);
    sdv_work_free(w);
    sdv_model_free(m);
  }
  /* DSignSGD has an SDE for every nu, Cauchy included. */
  const char *const kv[] = {"method", "dsignsgd", "dim", "3", "noise", "cauchy", NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_work *w = work(m);
  sdv_diffusion *D;
  ck_assert_int_eq(sdv_model_diffusion(m, w, X3, &D), SDV_OK);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

/* ================= registry and wrappers ================= */

START_TEST(test_registry) {
  ck_assert_ptr_eq(sdv_method_type_from_name("dsgd"), sdv_method_dsgd);
  ck_assert_ptr_eq(sdv_method_type_from_name("dcsgd"), sdv_method_dcsgd);
  ck_assert_ptr_eq(sdv_method_type_from_name("dsignsgd"), sdv_method_dsignsgd);
  ck_assert_ptr_null(sdv_method_type_from_name("signum"));
  ck_assert_ptr_null(sdv_method_type_from_name(NULL));
  const sdv_method_type *list[8];
  ck_assert_uint_eq(sdv_method_types(list, 8), 3);
  ck_assert_uint_eq(sdv_method_types(list, 1), 3);
  ck_assert_str_eq(list[0]->name, "dsgd");
  const sdv_method_type *const all[] = {sdv_method_dsgd, sdv_method_dcsgd, sdv_method_dsignsgd};
  for (size_t k = 0; k < 3; k++) {
    ck_assert(all[k]->help && all[k]->validate && all[k]->step && all[k]->drift &&
              all[k]->diffusion);
    ck_assert(all[k]->uses_compressor == (k == 1));
    ck_assert((all[k]->increment != NULL) == (k != 2)); /* DSGD: minibatch noise */
  }
}
END_TEST

START_TEST(test_wrappers) {
  /* rand-k DCSGD (DIAG_RANK1) at diffusion_scale 1 and 0.5. */
  const char *const kv[] = {"method", "dcsgd",   "dim",        "4",
                            "agents", "2",       "objective",  "quadratic:lam=0.5,1.3,2.1,0.8",
                            "sigma",  "0.5,1.2", "compressor", "rand-k:k=2",
                            NULL};
  const char *const kvh[] = {
      "method",          "dcsgd",   "dim",        "4",
      "agents",          "2",       "objective",  "quadratic:lam=0.5,1.3,2.1,0.8",
      "sigma",           "0.5,1.2", "compressor", "rand-k:k=2",
      "diffusion-scale", "0.5",     NULL};
  sdv_model *m1 = sdv_test_model(kv), *mh = sdv_test_model(kvh);
  sdv_work *w1 = work(m1), *wh = work(mh);
  double *S1 = sigma_dense(m1, w1, X4, SDV_DIFFUSION_DIAG_RANK1);
  double *Sh = sigma_dense(mh, wh, X4, SDV_DIFFUSION_DIAG_RANK1);
  for (size_t k = 0; k < 16; k++) assert_rel0(Sh[k], 0.25 * S1[k], 1e-15);
  /* Structured increments are S xi with xi the next d normals of the stream. */
  double out1[4], outh[4], ref[4], xi[4];
  sdv_stream s, r;
  sdv_stream_init(&s, 3, 1, SDV_PURPOSE_BROWNIAN, 0);
  sdv_stream_init(&r, 3, 1, SDV_PURPOSE_BROWNIAN, 0);
  ck_assert_int_eq(sdv_model_noise_increment(m1, w1, X4, &s, out1), SDV_OK);
  sdv_stream_normals(&r, xi, 4);
  ck_assert_int_eq(sdv_model_diffusion_apply(m1, w1, X4, xi, ref), SDV_OK);
  for (size_t j = 0; j < 4; j++) ck_assert(out1[j] == ref[j]);
  ck_assert_int_eq(sdv_model_diffusion_apply(mh, wh, X4, xi, outh), SDV_OK);
  for (size_t j = 0; j < 4; j++) ck_assert_close(outh[j], 0.5 * ref[j], 1e-14);
  /* S xi has covariance Sigma: (S xi)(S xi)^T summed over the basis vectors xi = e_k. */
  double SS[16] = {0};
  for (size_t k = 0; k < 4; k++) {
    double e[4] = {0, 0, 0, 0}, col[4];
    e[k] = 1.0;
    ck_assert_int_eq(sdv_model_diffusion_apply(m1, w1, X4, e, col), SDV_OK);
    for (size_t j = 0; j < 4; j++)
      for (size_t l = 0; l < 4; l++) SS[j * 4 + l] += col[j] * col[l];
  }
  for (size_t k = 0; k < 16; k++) ck_assert_close(SS[k], S1[k], 1e-13);
  free(S1), free(Sh);
  sdv_work_free(w1), sdv_work_free(wh);
  sdv_model_free(m1), sdv_model_free(mh);

  /* Sampled route: the increment scales by diffusion_scale, same draws. */
  const char *const ks[] = {"method", "dcsgd",      "dim",     "3", "agents",
                            "2",      "compressor", "natural", NULL};
  const char *const ksh[] = {"method",  "dcsgd",           "dim", "3", "agents", "2", "compressor",
                             "natural", "diffusion-scale", "0.5", NULL};
  m1 = sdv_test_model(ks), mh = sdv_test_model(ksh);
  w1 = work(m1), wh = work(mh);
  sdv_stream_init(&s, 3, 2, SDV_PURPOSE_BROWNIAN, 0);
  sdv_stream_init(&r, 3, 2, SDV_PURPOSE_BROWNIAN, 0);
  ck_assert_int_eq(sdv_model_noise_increment(m1, w1, X3, &s, out1), SDV_OK);
  ck_assert_int_eq(sdv_model_noise_increment(mh, wh, X3, &r, outh), SDV_OK);
  for (size_t j = 0; j < 3; j++) ck_assert_close(outh[j], 0.5 * out1[j], 1e-15);
  ck_assert(out1[0] != 0.0 || out1[1] != 0.0 || out1[2] != 0.0);
  sdv_work_free(w1), sdv_work_free(wh);
  sdv_model_free(m1), sdv_model_free(mh);
}
END_TEST

static Suite *optimizer_suite(void) {
  Suite *s = suite_create("optimizer");
  struct {
    const char *name;
    const TTest *test;
    double timeout;
  } cases[] = {{"step_dsgd", test_step_dsgd, 0},
               {"step_dcsgd", test_step_dcsgd, 0},
               {"step_dsignsgd", test_step_dsignsgd, 0},
               {"theory_dsgd", test_theory_dsgd, 0},
               {"theory_dcsgd_bernoulli", test_theory_dcsgd_bernoulli, 0},
               {"theory_dcsgd_randk", test_theory_dcsgd_randk, 0},
               {"theory_dcsgd_mixed", test_theory_dcsgd_mixed, 0},
               {"theory_dsignsgd", test_theory_dsignsgd, 0},
               {"moments_dsgd", test_moments_dsgd, 20},
               {"moments_dcsgd_bernoulli", test_moments_dcsgd_bernoulli, 20},
               {"moments_dcsgd_randk", test_moments_dcsgd_randk, 20},
               {"moments_dcsgd_qsgd", test_moments_dcsgd_qsgd, 20},
               {"moments_dcsgd_natural", test_moments_dcsgd_natural, 20},
               {"moments_dsignsgd_gaussian", test_moments_dsignsgd_gaussian, 20},
               {"moments_dsignsgd_t3", test_moments_dsignsgd_t3, 20},
               {"sampled_bernoulli", test_sampled_bernoulli, 20},
               {"sampled_randk", test_sampled_randk, 20},
               {"heavy_tails", test_heavy_tails, 0},
               {"registry", test_registry, 0},
               {"wrappers", test_wrappers, 0}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    TCase *tc = tcase_create(cases[k].name);
    tcase_add_test(tc, cases[k].test);
    if (cases[k].timeout > 0) tcase_set_timeout(tc, cases[k].timeout);
    suite_add_tcase(s, tc);
  }
  return s;
}

int main(void) { return sdv_test_run(optimizer_suite()); }
