/* Slow tier of the optimizer tests: the one-step moment matching of tests/test-optimizer.c
 * with 10^6 draws per case and more configurations (minibatches with literal averaging,
 * Cauchy and Gaussian minibatches for DSignSGD, mixed compressors on the sampled route,
 * larger d). Same criterion: K = 5 standard errors of each estimator (two-sided
 * false-failure probability 5.7e-7 per statistic); about 200 statistics in total, so the
 * family-wise false-failure rate is below 1.2e-4. Fixed seeds. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer-moments.h"

#define K_SE 5.0
#define N_SLOW 1000000

static const double X4[4] = {0.3, -1.2, 2.385, 0.7};
static const double X6[6] = {0.3, -1.2, 2.385, 0.7, -0.45, 1.6};

START_TEST(test_slow_dsgd) {
  const char *const kv[] = {"method",    "dsgd",
                            "dim",       "4",
                            "agents",    "5",
                            "batch",     "4",
                            "eta",       "0.02",
                            "objective", "quadratic:lam=0.5..2",
                            "noise",     "gaussian;student-t:nu=6;gaussian;student-t:nu=5;gaussian",
                            "sigma",     "0.7,1.3,2.385,0.2,1",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  ck_assert_int_eq(step_moments("slow-dsgd", m, X4, N_SLOW, 301, K_SE, SDV_DIFFUSION_SCALAR), 0);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_slow_dcsgd_bernoulli_t5) {
  const char *const kv[] = {"method",     "dcsgd",
                            "dim",        "4",
                            "agents",     "3",
                            "batch",      "3",
                            "eta",        "0.02",
                            "objective",  "quadratic:lam=0.5..2",
                            "noise",      "student-t:nu=5",
                            "sigma",      "1,2,0.7",
                            "compressor", "bernoulli:p=0.5;bernoulli:p=0.25;bernoulli:p=0.8",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  ck_assert_int_eq(
      step_moments("slow-bernoulli-t5", m, X4, N_SLOW, 302, K_SE, SDV_DIFFUSION_DIAGONAL), 0);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_slow_dcsgd_randk) {
  const char *const kv[] = {"method",     "dcsgd",
                            "dim",        "6",
                            "agents",     "3",
                            "eta",        "0.02",
                            "objective",  "quadratic:lam=0.5..2",
                            "sigma",      "0.5,1.2,2.385",
                            "compressor", "rand-k:k=1;rand-k:k=3;rand-k:k=5",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  ck_assert_int_eq(step_moments("slow-rand-k", m, X6, N_SLOW, 303, K_SE, SDV_DIFFUSION_DIAG_RANK1),
                   0);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_slow_dcsgd_mixed) {
  const char *const kv[] = {"method",     "dcsgd",
                            "dim",        "4",
                            "agents",     "3",
                            "eta",        "0.02",
                            "objective",  "quadratic:lam=0.5..2",
                            "sigma",      "0.9,1.1,0.6",
                            "compressor", "bernoulli:p=0.3;rand-k:k=2;identity",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  ck_assert_int_eq(step_moments("slow-mixed", m, X4, N_SLOW, 304, K_SE, SDV_DIFFUSION_DIAG_RANK1),
                   0);
  sdv_model_free(m);
}
END_TEST

/* Non-linear compressors: reference Sigma from the exact Phi_C averaged over the noise. */
static void slow_phi(const char *label, const char *const *kv, const double *x, uint64_t seed) {
  sdv_model *m = sdv_test_model(kv);
  const size_t d = m->dim;
  double *S = malloc(d * d * sizeof *S), *se = malloc(d * d * sizeof *se), mb[6];
  const double zero[6] = {0};
  ck_assert(S && se);
  phi_reference(m, x, N_SLOW, seed, S, se);
  minus_drift(m, x, mb);
  double *u = sample_steps(m, x, N_SLOW, seed + 1);
  ck_assert_int_eq(check_moments(label, u, N_SLOW, d, mb, S, se, K_SE, 0), 0);
  free(u);
  u = sample_increments(m, x, N_SLOW, seed + 2);
  ck_assert_int_eq(check_moments(label, u, N_SLOW, d, zero, S, se, K_SE, 1), 0);
  free(u), free(S), free(se);
  sdv_model_free(m);
}

START_TEST(test_slow_dcsgd_qsgd_natural) {
  const char *const q[] = {"method",     "dcsgd",
                           "dim",        "4",
                           "agents",     "2",
                           "batch",      "2",
                           "objective",  "quadratic:lam=0.5..2",
                           "sigma",      "0.5,1.2",
                           "compressor", "qsgd:s=1;natural",
                           NULL};
  slow_phi("slow-qsgd-natural", q, X4, 305);
}
END_TEST

/* Sampled route for a mixed set of linear compressors against its closed form. */
START_TEST(test_slow_sampled_mixed) {
  const char *const kv[] = {
      "method", "dcsgd",       "dim",        "4",
      "agents", "3",           "objective",  "quadratic:lam=0.5..2",
      "sigma",  "0.9,1.1,0.6", "compressor", "bernoulli:p=0.3;rand-k:k=2;identity",
      NULL};
  const char *const ks[] = {
      "method", "dcsgd",       "dim",        "4",
      "agents", "3",           "objective",  "quadratic:lam=0.5..2",
      "sigma",  "0.9,1.1,0.6", "compressor", "bernoulli:p=0.3;rand-k:k=2;identity",
      "sde",    "sampled",     NULL};
  sdv_model *ma = sdv_test_model(kv), *ms = sdv_test_model(ks);
  sdv_work *wa = work(ma);
  double *S = sigma_dense(ma, wa, X4, SDV_DIFFUSION_DIAG_RANK1);
  const double zero[4] = {0, 0, 0, 0};
  double *u = sample_increments(ms, X4, N_SLOW, 306);
  ck_assert_int_eq(check_moments("slow-sampled-mixed", u, N_SLOW, 4, zero, S, NULL, K_SE, 1), 0);
  free(u), free(S);
  sdv_work_free(wa);
  sdv_model_free(ma), sdv_model_free(ms);
}
END_TEST

START_TEST(test_slow_dsignsgd) {
  /* Gaussian and Cauchy minibatches (B = 4) and a noiseless agent. */
  const char *const kv[] = {"method",    "dsignsgd",
                            "dim",       "4",
                            "agents",    "4",
                            "batch",     "4",
                            "eta",       "0.02",
                            "objective", "quadratic:lam=0.5..2",
                            "noise",     "gaussian;cauchy;gaussian;cauchy",
                            "sigma",     "0.9,2.385,0,1.4",
                            NULL};
  const double x[4] = {0.3, 0.0, -1.1, 2.385};
  sdv_model *m = sdv_test_model(kv);
  ck_assert_int_eq(
      step_moments("slow-dsignsgd-batch", m, x, N_SLOW, 307, K_SE, SDV_DIFFUSION_DIAGONAL), 0);
  sdv_model_free(m);
  /* Heavy tails of every kind at B = 1. */
  const char *const kh[] = {"method",    "dsignsgd",
                            "dim",       "4",
                            "agents",    "4",
                            "eta",       "0.02",
                            "objective", "quadratic:lam=0.5..2",
                            "noise",     "student-t:nu=3;student-t:nu=1.5;cauchy;student-t:nu=0.7",
                            "sigma",     "0.5,1.5,3.2,0.8",
                            NULL};
  m = sdv_test_model(kh);
  ck_assert_int_eq(
      step_moments("slow-dsignsgd-tails", m, X4, N_SLOW, 308, K_SE, SDV_DIFFUSION_DIAGONAL), 0);
  sdv_model_free(m);
}
END_TEST

static Suite *slow_suite(void) {
  Suite *s = suite_create("optimizer-slow");
  struct {
    const char *name;
    const TTest *test;
  } cases[] = {{"slow_dsgd", test_slow_dsgd},
               {"slow_dcsgd_bernoulli_t5", test_slow_dcsgd_bernoulli_t5},
               {"slow_dcsgd_randk", test_slow_dcsgd_randk},
               {"slow_dcsgd_mixed", test_slow_dcsgd_mixed},
               {"slow_dcsgd_qsgd_natural", test_slow_dcsgd_qsgd_natural},
               {"slow_sampled_mixed", test_slow_sampled_mixed},
               {"slow_dsignsgd", test_slow_dsignsgd}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    TCase *tc = tcase_create(cases[k].name);
    tcase_add_test(tc, cases[k].test);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
  }
  return s;
}

int main(void) { return sdv_test_run(slow_suite()); }
