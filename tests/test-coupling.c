/* Coupled estimators (docs/math/coupling.md): the methods' coupled normals, the COUPLED
 * process and its Monte Carlo columns.
 *
 * What must hold, and how it is tested here:
 *   1. step_coupled makes step()'s update bit for bit (same draws);
 *   2. its normals xi are N(0, 1) exactly, uncorrelated across coordinates and steps, and
 *      positively correlated with the step's fluctuation (otherwise nothing is coupled);
 *   3. the COUPLED process's optimizer column is the DISCRETE run bit for bit;
 *   4. its SDE column has the SDE process's law (two-sample Kolmogorov–Smirnov);
 *   5. on DSGD with additive Gaussian noise the variance of the per-path difference is far
 *      below the uncoupled one.
 * Statistical tests use fixed seeds; their false-failure rates are stated where they are made.
 */
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/mc.h>
#include <sdv/model.h>
#include <sdv/process.h>

#include "testutil.h"

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* sqrt(n) sup |F_n - Phi| for the sample v[0..n) (sorted in place). */
static double ks_normal(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_double);
  double dmax = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double F = gsl_cdf_ugaussian_P(v[i]);
    const double a = fabs((double)(i + 1) / (double)n - F), b = fabs(F - (double)i / (double)n);
    if (a > dmax) dmax = a;
    if (b > dmax) dmax = b;
  }
  return sqrt((double)n) * dmax;
}

/* sqrt(nm/(n+m)) sup |F_n - G_m| for two samples (sorted in place). */
static double ks_two(double *a, size_t n, double *b, size_t m) {
  qsort(a, n, sizeof *a, cmp_double);
  qsort(b, m, sizeof *b, cmp_double);
  size_t i = 0, j = 0;
  double dmax = 0.0;
  while (i < n && j < m) {
    const double x = a[i] <= b[j] ? a[i] : b[j];
    while (i < n && a[i] <= x) i++;
    while (j < m && b[j] <= x) j++;
    const double dd = fabs((double)i / (double)n - (double)j / (double)m);
    if (dd > dmax) dmax = dd;
  }
  return sqrt((double)n * (double)m / (double)(n + m)) * dmax;
}

/* Kolmogorov's limit law: P(sqrt(n) D > 1.95) = 0.001. */
#define KS_CRIT 1.95
#define MAXD 8

/* Claims 1 and 2 for one model at its x0: M independent coupled steps (path i's streams). */
static void check_normals(const char *const *kv) {
  sdv_model *m = sdv_test_model(kv);
  const size_t d = m->dim, M = 20000;
  ck_assert(d <= MAXD);
  sdv_work *w = NULL;
  ck_assert(sdv_work_alloc(&w, m) == SDV_OK);
  double *xi = malloc(M * d * sizeof *xi), *dx = malloc(M * d * sizeof *dx);
  ck_assert(xi && dx);
  for (size_t i = 0; i < M; i++) {
    double x1[MAXD], x2[MAXD];
    memcpy(x1, m->x0, d * sizeof *x1);
    memcpy(x2, m->x0, d * sizeof *x2);
    sdv_stream n1, c1, n2, c2, aux;
    sdv_stream_init(&n1, m->seed, i, SDV_PURPOSE_NOISE, 0);
    sdv_stream_init(&c1, m->seed, i, SDV_PURPOSE_COMPRESSOR, 0);
    sdv_stream_init(&n2, m->seed, i, SDV_PURPOSE_NOISE, 0);
    sdv_stream_init(&c2, m->seed, i, SDV_PURPOSE_COMPRESSOR, 0);
    sdv_stream_init(&aux, m->seed, i, SDV_PURPOSE_BROWNIAN, 1);
    ck_assert(sdv_model_step(m, w, x1, &n1, &c1) == SDV_OK);
    ck_assert(sdv_model_step_coupled(m, w, x2, &n2, &c2, &aux, xi + i * d) == SDV_OK);
    ck_assert_msg(memcmp(x1, x2, d * sizeof *x1) == 0, "%s: coupled step differs from step()",
                  m->description);
    for (size_t j = 0; j < d; j++) dx[i * d + j] = x2[j] - m->x0[j];
  }
  /* Correlation of xi_j with the step's displacement, and of xi_0 with xi_1. */
  for (size_t j = 0; j < d; j++) {
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, c01 = 0;
    for (size_t i = 0; i < M; i++) {
      const double a = xi[i * d + j], b = dx[i * d + j];
      sx += a, sy += b, sxx += a * a, syy += b * b, sxy += a * b;
      if (j + 1 < d) c01 += a * xi[i * d + j + 1];
    }
    const double n = (double)M, vx = sxx / n - (sx / n) * (sx / n),
                 vy = syy / n - (sy / n) * (sy / n);
    const double r = (sxy / n - sx / n * sy / n) / sqrt(vx * vy);
    /* The fluctuation moves with xi (positively: eta S xi ~ the displacement). */
    ck_assert_msg(r > 0.2, "%s: corr(xi_%zu, step) = %g", m->description, j, r);
    /* Uncorrelated coordinates: |mean of xi_j xi_{j+1}| < 4.4/sqrt(M) (false rate 1e-5). */
    if (j + 1 < d)
      ck_assert_msg(fabs(c01 / n) < 4.4 / sqrt(n), "%s: E xi_%zu xi_%zu = %g", m->description,
                    j, j + 1, c01 / n);
  }
  /* Exactly N(0, 1): KS per coordinate at level 1e-3 each (at most 8e-3 per model). */
  double *col = malloc(M * sizeof *col);
  for (size_t j = 0; j < d; j++) {
    for (size_t i = 0; i < M; i++) col[i] = xi[i * d + j];
    const double ks = ks_normal(col, M);
    ck_assert_msg(ks < KS_CRIT, "%s: xi_%zu is not N(0,1): sqrt(n) D = %g", m->description, j,
                  ks);
  }
  free(col);
  free(xi);
  free(dx);
  sdv_work_free(w);
  sdv_model_free(m);
}

START_TEST(normals_dsgd) {
  check_normals((const char *const[]){"method", "dsgd", "dim", "3", "agents", "3", "sigma",
                                      "1,0.5,2", "x0", "1,-0.5,0.2", NULL});
  check_normals((const char *const[]){"method", "dsgd", "dim", "2", "agents", "2", "literal",
                                      "yes", "sigma", "1,0", NULL});
  check_normals((const char *const[]){"method", "dsgd", "dim", "3", "agents", "2", "batch", "2",
                                      "noise", "student-t:nu=3", "objective", "quartic", NULL});
  check_normals((const char *const[]){"method", "dsgd", "dim", "2", "agents", "2", "noise",
                                      "student-t:nu=5;gaussian", NULL});
}
END_TEST

START_TEST(normals_dcsgd) {
  check_normals((const char *const[]){"method", "dcsgd", "dim", "4", "agents", "2",
                                      "compressor", "rand-k:k=1", "x0", "0.3", NULL});
  check_normals((const char *const[]){"method", "dcsgd", "dim", "4", "agents", "2",
                                      "compressor", "rand-k:k=2", "noise", "student-t:nu=4",
                                      NULL});
  check_normals((const char *const[]){"method", "dcsgd", "dim", "3", "agents", "2",
                                      "compressor", "bernoulli:p=0.5", "sigma", "1,2", NULL});
}
END_TEST

START_TEST(normals_dsignsgd) {
  /* Binomial shortcut: near the optimum (q ~ 1/2), far from it (q small: the score's tails),
   * and heavy-tailed noise; then unequal agents (literal). */
  check_normals((const char *const[]){"method", "dsignsgd", "dim", "3", "agents", "4", "x0",
                                      "0.1,-1,3", NULL});
  check_normals((const char *const[]){"method", "dsignsgd", "dim", "2", "agents", "16", "sigma",
                                      "0.3", "x0", "1,-0.6", NULL});
  check_normals((const char *const[]){"method", "dsignsgd", "dim", "2", "agents", "3", "noise",
                                      "student-t:nu=3", NULL});
  check_normals((const char *const[]){"method", "dsignsgd", "dim", "2", "agents", "3", "sigma",
                                      "1,0.5,2", NULL});
}
END_TEST

/* Claim 3: the optimizer column of a COUPLED run is the DISCRETE run, bit for bit. */
START_TEST(discrete_column_identical) {
  const char *const specs[][16] = {
      {"method", "dsgd", "dim", "2", "agents", "2", "objective", "quartic", NULL},
      {"method", "dcsgd", "dim", "4", "agents", "2", "compressor", "rand-k:k=2", NULL},
      {"method", "dsignsgd", "dim", "2", "agents", "3", "noise", "student-t:nu=3", NULL}};
  for (size_t c = 0; c < 3; c++) {
    sdv_model *m = sdv_test_model(specs[c]);
    const size_t steps[3] = {0, 5, 20};
    const sdv_observable obs[2] = {{.kind = SDV_OBS_F}, {.kind = SDV_OBS_X, .index = 1}};
    sdv_mc_options mo;
    sdv_mc_options_default(&mo);
    mo.paths = 600;
    sdv_process_options pd, pc;
    sdv_process_options_default(&pd);
    sdv_process_options_default(&pc);
    pd.sub = pc.sub = 4;
    pc.kind = SDV_PROCESS_COUPLED;
    pc.integrator = sdv_integrator_richardson;
    pc.substeps = 3;
    sdv_mc_result *rd = NULL, *rc = NULL;
    ck_assert(sdv_mc_run(&rd, m, &pd, steps, 3, obs, 2, &mo) == SDV_OK);
    ck_assert_msg(sdv_mc_run(&rc, m, &pc, steps, 3, obs, 2, &mo) == SDV_OK, "%s",
                  sdv_last_error());
    ck_assert_uint_eq(sdv_mc_result_observables(rc), 6);
    for (size_t t = 0; t < 3; t++)
      for (size_t o = 0; o < 2; o++) {
        sdv_mc_summary a, b, df, s;
        ck_assert(sdv_mc_result_get(rd, t, o, &a) == SDV_OK);
        ck_assert(sdv_mc_result_get(rc, t, 2 + o, &b) == SDV_OK);
        ck_assert(sdv_mc_result_get(rc, t, o, &df) == SDV_OK);
        ck_assert(sdv_mc_result_get(rc, t, 4 + o, &s) == SDV_OK);
        ck_assert_msg(a.mean == b.mean && (t == 0 || a.var == b.var),
                      "%s t %zu obs %zu: %.17g vs %.17g", m->description, t, o, a.mean, b.mean);
        /* The difference column is the mean of the per-path differences. */
        ck_assert_double_eq_tol(df.mean, b.mean - s.mean, 1e-12 * (1 + fabs(b.mean)));
      }
    sdv_mc_result_free(rd);
    sdv_mc_result_free(rc);
    sdv_model_free(m);
  }
}
END_TEST

/* Final values of g on M paths (paths first..first+M) of process options po. */
static void path_values(const sdv_model *m, const sdv_process_options *po, size_t steps,
                        size_t first, size_t M, const sdv_observable *g, double *sde,
                        double *disc) {
  sdv_process *p = NULL;
  ck_assert_msg(sdv_process_alloc(&p, m, po) == SDV_OK, "%s", sdv_last_error());
  for (size_t i = 0; i < M; i++) {
    sdv_process_start(p, first + i);
    ck_assert(sdv_process_advance(p, steps) == SDV_OK);
    double a, b;
    sdv_process_observe_pair(p, g, &a, &b);
    sde[i] = b;
    if (disc) disc[i] = a;
  }
  sdv_process_free(p);
}

/* Claim 4: the SDE column has the SDE's law. Two independent samples (other paths, other
 * streams) of g(X_T), coupled and uncoupled, Kolmogorov–Smirnov at level 1e-3 per
 * (model, observable), 6 tests: false-failure rate <= 6e-3. */
START_TEST(sde_column_law) {
  const char *const specs[][20] = {
      {"method", "dsgd", "dim", "2", "agents", "2", "objective", "quartic", "eta", "0.1",
       "sigma", "1.5", NULL},
      {"method", "dcsgd", "dim", "4", "agents", "2", "compressor", "rand-k:k=2", "eta", "0.1",
       NULL},
      {"method", "dsignsgd", "dim", "2", "agents", "3", "noise", "student-t:nu=3", "eta",
       "0.1", NULL}};
  const sdv_observable obs[2] = {{.kind = SDV_OBS_F}, {.kind = SDV_OBS_X, .index = 0}};
  const size_t M = 3000;
  double *a = malloc(M * sizeof *a), *b = malloc(M * sizeof *b);
  for (size_t c = 0; c < 3; c++) {
    sdv_model *m = sdv_test_model(specs[c]);
    for (size_t o = 0; o < 2; o++) {
      sdv_process_options ps, pc;
      sdv_process_options_default(&ps);
      ps.kind = SDV_PROCESS_SDE;
      ps.integrator = sdv_integrator_richardson;
      ps.substeps = 2;
      ps.sub = 3;
      pc = ps;
      pc.kind = SDV_PROCESS_COUPLED;
      pc.sub = 0;
      pc.sde_sub = 1;
      path_values(m, &ps, 10, 0, M, &obs[o], a, NULL);
      path_values(m, &pc, 10, M, M, &obs[o], b, NULL);
      const double ks = ks_two(a, M, b, M);
      ck_assert_msg(ks < KS_CRIT, "%s obs %zu: coupled SDE law differs: sqrt(nm/(n+m)) D = %g",
                    m->description, o, ks);
    }
    sdv_model_free(m);
  }
  free(a);
  free(b);
}
END_TEST

/* Claim 5: DSGD with additive Gaussian noise on a quartic: the coupled difference has a small
 * fraction of the uncoupled variance (theory: O(eta^2) against O(eta)). */
START_TEST(variance_reduction_dsgd) {
  sdv_model *m = sdv_test_model((const char *const[]){
      "method", "dsgd", "dim", "2", "agents", "2", "objective", "quartic", "eta", "0.05", NULL});
  const size_t M = 4000;
  double *s = malloc(M * sizeof *s), *dd = malloc(M * sizeof *dd);
  sdv_process_options pc;
  sdv_process_options_default(&pc);
  pc.kind = SDV_PROCESS_COUPLED;
  pc.substeps = 4;
  const sdv_observable f = {.kind = SDV_OBS_F};
  path_values(m, &pc, 20, 0, M, &f, s, dd);
  double vd = 0, vs = 0, vdiff = 0, md = 0, ms = 0;
  for (size_t i = 0; i < M; i++) md += dd[i] / M, ms += s[i] / M;
  for (size_t i = 0; i < M; i++) {
    vd += (dd[i] - md) * (dd[i] - md);
    vs += (s[i] - ms) * (s[i] - ms);
    vdiff += (dd[i] - s[i] - md + ms) * (dd[i] - s[i] - md + ms);
  }
  const double vr = (vd + vs) / vdiff;
  ck_assert_msg(vr > 20.0, "variance reduction %g", vr);
  free(s);
  free(dd);
  sdv_model_free(m);
}
END_TEST

START_TEST(errors) {
  sdv_model *m = sdv_test_model(
      (const char *const[]){"method", "dcsgd", "dim", "3", "compressor", "qsgd:s=2", NULL});
  sdv_model *m2 = sdv_test_model((const char *const[]){"method", "dsgd", "dim", "2", NULL});
  sdv_model *m3 =
      sdv_test_model((const char *const[]){"method", "dsgd", "dim", "3", "eta", "0.2", NULL});
  sdv_process_options po;
  sdv_process_options_default(&po);
  po.kind = SDV_PROCESS_COUPLED;
  sdv_process *p = NULL;
  /* qsgd: the sampled route has no coupling. */
  ck_assert_int_eq(sdv_process_alloc(&p, m, &po), SDV_ENOTSUP);
  ck_assert_ptr_null(p);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "sampled"));
  po.sde_model = m2; /* dim 2 against 3 */
  ck_assert_int_eq(sdv_process_alloc(&p, m3, &po), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "dim"));
  sdv_model *m4 = sdv_test_model((const char *const[]){"method", "dsgd", "dim", "3", NULL});
  po.sde_model = m4; /* eta 0.1 against 0.2 */
  ck_assert_int_eq(sdv_process_alloc(&p, m3, &po), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "eta"));
  /* A noise-free SDE (diffusion scale 0) needs no normals: fine even on the sampled route. */
  po.kind = 7;
  ck_assert_int_eq(sdv_process_alloc(&p, m3, &po), SDV_EINVAL);
  sdv_model_free(m);
  sdv_model_free(m2);
  sdv_model_free(m3);
  sdv_model_free(m4);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("coupling");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, normals_dsgd);
  tcase_add_test(tc, normals_dcsgd);
  tcase_add_test(tc, normals_dsignsgd);
  tcase_add_test(tc, discrete_column_identical);
  tcase_add_test(tc, sde_column_law);
  tcase_add_test(tc, variance_reduction_dsgd);
  tcase_add_test(tc, errors);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(suite()); }
