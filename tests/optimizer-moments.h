/* Shared by tests/test-optimizer.c and tests/slow-optimizer.c: building models, sampling
 * one-step updates and SDE increments, and comparing sample moments with k standard errors
 * of the estimators themselves. Static functions only: each test binary includes it once. */
#ifndef SDV_TEST_OPTIMIZER_MOMENTS_H
#define SDV_TEST_OPTIMIZER_MOMENTS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/model.h>

#include "core/work.h"
#include "testutil.h"

static sdv_work *work(const sdv_model *m) {
  sdv_work *w = NULL;
  ck_assert_msg(sdv_work_alloc(&w, m) == SDV_OK, "work: %s", sdv_last_error());
  return w;
}

/* Sigma(x) as a dense d x d matrix (malloc'd); checks the structure. */
static double *sigma_dense(const sdv_model *m, sdv_work *w, const double *x,
                           sdv_diffusion_structure expect) {
  sdv_diffusion *D = NULL;
  ck_assert_msg(sdv_model_diffusion(m, w, x, &D) == SDV_OK, "diffusion: %s", sdv_last_error());
  ck_assert_int_eq(D->structure, expect);
  double *S = malloc(m->dim * m->dim * sizeof *S);
  ck_assert_ptr_nonnull(S);
  ck_assert_int_eq(sdv_diffusion_to_dense(D, S), SDV_OK);
  return S;
}

/* n one-step updates U = (x - x_next)/eta at fixed x; draw t uses the streams
 * (seed, t, NOISE, 0) and (seed, t, COMPRESSOR, 0). Returns n*d values (malloc'd). */
static double *sample_steps(const sdv_model *m, const double *x, size_t n, uint64_t seed) {
  const size_t d = m->dim;
  sdv_work *w = work(m);
  double *u = malloc(n * d * sizeof *u), *y = malloc(d * sizeof *y);
  ck_assert(u && y);
  for (size_t t = 0; t < n; t++) {
    sdv_stream ns, cs;
    sdv_stream_init(&ns, seed, t, SDV_PURPOSE_NOISE, 0);
    sdv_stream_init(&cs, seed, t, SDV_PURPOSE_COMPRESSOR, 0);
    memcpy(y, x, d * sizeof *y);
    ck_assert_int_eq(sdv_model_step(m, w, y, &ns, &cs), SDV_OK);
    for (size_t j = 0; j < d; j++) u[t * d + j] = (x[j] - y[j]) / m->eta;
  }
  free(y);
  sdv_work_free(w);
  return u;
}

/* n draws of sdv_model_noise_increment at fixed x from one stream (seed, 0, AUX, 0). */
static double *sample_increments(const sdv_model *m, const double *x, size_t n, uint64_t seed) {
  const size_t d = m->dim;
  sdv_work *w = work(m);
  double *u = malloc(n * d * sizeof *u);
  ck_assert_ptr_nonnull(u);
  sdv_stream s;
  sdv_stream_init(&s, seed, 0, SDV_PURPOSE_AUX, 0);
  for (size_t t = 0; t < n; t++)
    ck_assert_msg(sdv_model_noise_increment(m, w, x, &s, u + t * d) == SDV_OK, "increment: %s",
                  sdv_last_error());
  sdv_work_free(w);
  return u;
}

/* Reference Sigma(x) for DCSGD with compressors that only declare Phi_C(v) exactly
 * (qsgd, natural): (1/N^2) sum_i [v_i I + E_Z Phi_i(g + Z_i)], the expectation by averaging
 * Phi_i over n independent noise draws (stream (seed, i, SAMPLING, 0)). se receives the
 * standard error of each entry. Independent of the step and increment code paths except
 * for sdv_model_draw_noise. */
static void phi_reference(const sdv_model *m, const double *x, size_t n, uint64_t seed, double *S,
                          double *se) {
  const size_t d = m->dim, N = m->agents;
  double *g = malloc(d * sizeof *g), *z = malloc(d * sizeof *z), *v = malloc(d * sizeof *v);
  double *diag = malloc(d * sizeof *diag), *uu = malloc(d * sizeof *uu);
  double *mean = malloc(d * d * sizeof *mean), *m2 = malloc(d * d * sizeof *m2);
  ck_assert(g && z && v && diag && uu && mean && m2);
  sdv_objective_gradient(m->objective, x, g);
  const double n2 = (double)N * (double)N;
  for (size_t k = 0; k < d * d; k++) S[k] = se[k] = 0.0;
  for (size_t i = 0; i < N; i++) {
    sdv_stream s;
    sdv_stream_init(&s, seed, i, SDV_PURPOSE_SAMPLING, 0);
    for (size_t k = 0; k < d * d; k++) mean[k] = m2[k] = 0.0;
    for (size_t t = 0; t < n; t++) {
      sdv_model_draw_noise(m, i, &s, z);
      for (size_t j = 0; j < d; j++) v[j] = g[j] + z[j];
      double beta;
      ck_assert_int_eq(sdv_compressor_covariance(m->compressor[i], v, diag, &beta, uu), SDV_OK);
      for (size_t j = 0; j < d; j++)
        for (size_t l = 0; l < d; l++) {
          const double phi = (j == l ? diag[j] : 0.0) - beta * uu[j] * uu[l];
          const double delta = phi - mean[j * d + l];
          mean[j * d + l] += delta / (double)(t + 1);
          m2[j * d + l] += delta * (phi - mean[j * d + l]);
        }
    }
    for (size_t j = 0; j < d; j++)
      for (size_t l = 0; l < d; l++) {
        S[j * d + l] += ((j == l ? m->var[i] : 0.0) + mean[j * d + l]) / n2;
        se[j * d + l] += m2[j * d + l] / ((double)n - 1.0) / (double)n / (n2 * n2);
      }
  }
  for (size_t k = 0; k < d * d; k++) se[k] = sqrt(se[k]);
  free(g), free(z), free(v), free(diag), free(uu), free(mean), free(m2);
}

/* Compares the sample mean and covariance of n draws u (n x d) with mean and sigma
 * (d x d; sigma_se: standard errors of sigma itself, or NULL if exact). A statistic fails
 * if it is more than k standard errors of its estimator away (the errors add in
 * quadrature with sigma_se), plus 1e-13 relative slack for exact constants. With
 * third != 0 the sample third moments E u_j^3 must also be within k errors of 0.
 * Returns the number of failed statistics and prints them. */
static int check_moments(const char *label, const double *u, size_t n, size_t d, const double *mean,
                         const double *sigma, const double *sigma_se, double k, int third) {
  double *mu = calloc(d, sizeof *mu);
  ck_assert_ptr_nonnull(mu);
  int fails = 0;
  const double nn = (double)n;
  for (size_t t = 0; t < n; t++)
    for (size_t j = 0; j < d; j++) mu[j] += u[t * d + j];
  for (size_t j = 0; j < d; j++) mu[j] /= nn;
  for (size_t j = 0; j < d; j++)
    for (size_t l = j; l < d; l++) {
      /* Sample covariance and the standard error of its estimator, from the products. */
      double c = 0.0;
      for (size_t t = 0; t < n; t++) c += (u[t * d + j] - mu[j]) * (u[t * d + l] - mu[l]);
      c /= nn - 1.0;
      double vp = 0.0;
      for (size_t t = 0; t < n; t++) {
        const double p = (u[t * d + j] - mu[j]) * (u[t * d + l] - mu[l]) - c;
        vp += p * p;
      }
      double se2 = vp / (nn - 1.0) / nn;
      if (sigma_se) se2 += sigma_se[j * d + l] * sigma_se[j * d + l];
      const double want = sigma[j * d + l];
      const double tol = k * sqrt(se2) + 1e-13 * fabs(want);
      if (!(fabs(c - want) <= tol)) {
        fprintf(stderr, "%s: cov[%zu][%zu] = %.6g, expected %.6g (se %.3g, %.1f se)\n", label, j, l,
                c, want, sqrt(se2), fabs(c - want) / sqrt(se2));
        fails++;
      }
      if (j != l) continue;
      const double sem = sqrt(c / nn);
      if (!(fabs(mu[j] - mean[j]) <= k * sem + 1e-13 * fabs(mean[j]))) {
        fprintf(stderr, "%s: mean[%zu] = %.8g, expected %.8g (se %.3g, %.1f se)\n", label, j, mu[j],
                mean[j], sem, fabs(mu[j] - mean[j]) / sem);
        fails++;
      }
      if (!third) continue;
      double m3 = 0.0, s6 = 0.0;
      for (size_t t = 0; t < n; t++) m3 += u[t * d + j] * u[t * d + j] * u[t * d + j];
      m3 /= nn;
      for (size_t t = 0; t < n; t++) {
        const double q = u[t * d + j] * u[t * d + j] * u[t * d + j] - m3;
        s6 += q * q;
      }
      const double se3 = sqrt(s6 / (nn - 1.0) / nn);
      if (!(fabs(m3) <= k * se3)) {
        fprintf(stderr, "%s: third moment[%zu] = %.6g, expected 0 (se %.3g)\n", label, j, m3, se3);
        fails++;
      }
    }
  free(mu);
  return fails;
}

/* The expected mean of U = (x - x_next)/eta is -b(x). */
static void minus_drift(const sdv_model *m, const double *x, double *mb) {
  sdv_work *w = work(m);
  sdv_model_drift(m, w, x, mb);
  for (size_t j = 0; j < m->dim; j++) mb[j] = -mb[j];
  sdv_work_free(w);
}

/* Full one-step check of a model whose Sigma has a closed form: returns failures. */
static int step_moments(const char *label, const sdv_model *m, const double *x, size_t n,
                        uint64_t seed, double k, sdv_diffusion_structure structure) {
  sdv_work *w = work(m);
  double *S = sigma_dense(m, w, x, structure);
  double *mb = malloc(m->dim * sizeof *mb);
  ck_assert_ptr_nonnull(mb);
  minus_drift(m, x, mb);
  double *u = sample_steps(m, x, n, seed);
  const int fails = check_moments(label, u, n, m->dim, mb, S, NULL, k, 0);
  free(u), free(mb), free(S);
  sdv_work_free(w);
  return fails;
}

#endif
