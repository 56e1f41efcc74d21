/* Slow tier of lib/sim: each integrator's weak order, fitted by weighted least squares on an
 * SDE with exactly known moments, must lie within 0.2 of the type's declaration.
 *
 * Test SDE: DCSGD with Bernoulli(p) compression, sigma = 0, d = 1, f = lam x^2 / 2. Its SDE
 * (theory §4.2 with sigma = 0) is geometric Brownian motion
 *     dX = -lam X dt + c |X| dW,   c^2 = eta omega lam^2 / N,   omega = 1/p - 1,
 * with E X_t = x0 e^{-lam t} and E X_t^2 = x0^2 e^{-(2 lam - eta omega lam^2/N) t}, and for
 * x0 > 0 the pathwise solution X_t = x0 exp((-lam - c^2/2) t + c W_t).
 *
 * Estimator of the weak error e(h) = E g(X^h_T) - E g(X_T): the mean over paths of
 * D = ghat - g(X_T(W)), where ghat is the process's value (g(X^h) for euler,
 * 2 g(X^{h/2}) - g(X^h) for richardson) and X_T(W) the exact solution driven by the SAME
 * Brownian path, rebuilt from the documented stream (seed, path, BROWNIAN, sub) and draw
 * order. E D = e(h) exactly, and the coupling makes Var D = O(h) instead of Var g(X_T), so
 * the bias dominates the Monte Carlo noise down to small h.
 *
 * Parameters: eta = 0.5 (T = one optimizer step = 0.5), lam = 1.5, p = 0.9, N = 2, so
 * c^2 = 0.0625; euler on m = 2, 4, 8, 16 (M = 2e5 paths), richardson on m = 4, 8, 16
 * (M = 1e6). The slope of log|e| on log h is fitted with gsl_fit_wlinear, weights
 * (e/se)^2 (delta method: se(log|e|) = se/|e|), and printed with its 95% interval.
 *
 * False-failure reasoning. EM on this linear SDE has exactly computable moments
 * (E X_{n+1} = (1 - lam h) E X_n, E X_{n+1}^2 = ((1 - lam h)^2 + c^2 h) E X_n^2), so the test
 * also computes the exact e(h), asserts that each Monte Carlo error agrees with it within
 * K = 5 standard errors (two-sided 5.7e-7 each, 14 comparisons), and asserts that the exact
 * slope over the same ladder is within 0.1 of the declared order (the premise: these h are
 * in the asymptotic regime). The fitted slope can then only fail if it strays from the exact
 * slope by the margin 0.2 - |exact - declared|; the test asserts that this margin is at
 * least 4 standard errors of the fitted slope (printed as "margin/se"; 6 to 400 here),
 * so a false failure has probability below 6e-5 per fit and 2.5e-4 for the 4 fits. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gsl/gsl_fit.h>

#include <sdv/errors.h>
#include <sdv/process.h>
#include <sdv/stats.h>

#include "testutil.h"

#define K_SE 5.0
#define LAM 1.5
#define ETA 0.5
#define P_KEEP 0.9
#define AGENTS 2
#define X0 2.385
#define SEED 4242

static double c2(void) { return ETA * (1.0 / P_KEEP - 1.0) * LAM * LAM / AGENTS; }

static sdv_model *reference_model(void) {
  const char *const kv[] = {"method", "dcsgd", "agents",     "2",
                            "eta",    "0.5",   "objective",  "quadratic:lam=1.5",
                            "sigma",  "0",     "compressor", "bernoulli:p=0.9",
                            "x0",     "2.385", "seed",       "4242",
                            NULL};
  return sdv_test_model(kv);
}

/* Exact E g(X^h_T) of EM (n steps of h), g = x (power 1) or x^2 (power 2). */
static double em_exact(int power, double h, size_t n) {
  const double f = power == 1 ? 1.0 - LAM * h : (1.0 - LAM * h) * (1.0 - LAM * h) + c2() * h;
  return pow(X0, power) * pow(f, (double)n);
}

static double sde_exact(int power, double t) {
  return power == 1 ? X0 * exp(-LAM * t) : X0 * X0 * exp(-(2 * LAM - c2()) * t);
}

typedef struct fit_point {
  double h, err[2], se[2], exact[2];
} fit_point;

/* Monte Carlo weak errors of one integrator at substeps m (T = one optimizer step). */
static void measure(const sdv_model *m, const sdv_integrator_type *t, size_t sub, size_t paths,
                    fit_point *pt) {
  sdv_process_options po;
  sdv_process_options_default(&po);
  po.kind = SDV_PROCESS_SDE;
  po.integrator = t;
  po.substeps = sub;
  po.sub = 3;
  sdv_process *p = NULL;
  ck_assert_msg(sdv_process_alloc(&p, m, &po) == SDV_OK, "%s", sdv_last_error());
  const double h = ETA / (double)sub, c = sqrt(c2());
  const size_t per_step = t->normals; /* normals per integrator step (d = 1) */
  const double dw = sqrt(h / (double)per_step);
  const sdv_observable g[2] = {{.kind = SDV_OBS_X}, {.kind = SDV_OBS_X2}};
  sdv_acc acc[2];
  sdv_acc_reset(&acc[0]);
  sdv_acc_reset(&acc[1]);
  int rc = SDV_OK; /* asserted once: Check makes a system call per ck_assert */
  for (size_t i = 0; i < paths; i++) {
    sdv_process_start(p, i);
    rc |= sdv_process_advance(p, 1);
    sdv_stream s;
    sdv_stream_init(&s, SEED, i, SDV_PURPOSE_BROWNIAN, 3);
    double w = 0.0;
    for (size_t k = 0; k < sub * per_step; k++) w += sdv_stream_normal(&s);
    const double xt = X0 * exp((-LAM - 0.5 * c2()) * ETA + c * dw * w);
    sdv_acc_add(&acc[0], sdv_process_observe(p, &g[0]) - xt);
    sdv_acc_add(&acc[1], sdv_process_observe(p, &g[1]) - xt * xt);
  }
  ck_assert_int_eq(rc, SDV_OK);
  pt->h = h;
  for (int q = 0; q < 2; q++) {
    pt->err[q] = sdv_acc_mean(&acc[q]);
    pt->se[q] = sdv_acc_se(&acc[q]);
    const double e = em_exact(q + 1, h, sub);
    const double coarse_fine = t->replicas == 2 ? 2 * em_exact(q + 1, h / 2, 2 * sub) - e : e;
    pt->exact[q] = coarse_fine - sde_exact(q + 1, ETA);
    ck_assert_msg(fabs(pt->err[q] - pt->exact[q]) <= K_SE * pt->se[q],
                  "%s m=%zu g=x^%d: MC error %.4g +- %.2g, exact EM error %.4g", t->name, sub,
                  q + 1, pt->err[q], pt->se[q], pt->exact[q]);
  }
  sdv_process_free(p);
}

/* Weighted LS slope of log|e| on log h; *se_out its standard error. */
static double slope(const fit_point *pts, size_t n, int q, bool exact, double *se_out) {
  double x[8], y[8], w[8];
  for (size_t i = 0; i < n; i++) {
    x[i] = log(pts[i].h);
    const double e = exact ? pts[i].exact[q] : pts[i].err[q];
    y[i] = log(fabs(e));
    w[i] = exact ? 1.0 : (e / pts[i].se[q]) * (e / pts[i].se[q]);
  }
  double c0, c1, cov00, cov01, cov11, sumsq;
  ck_assert_int_eq(gsl_fit_wlinear(x, 1, w, 1, y, 1, n, &c0, &c1, &cov00, &cov01, &cov11, &sumsq),
                   0);
  *se_out = sqrt(cov11);
  return c1;
}

static void check_order(const sdv_integrator_type *t, const size_t *ladder, size_t n,
                        size_t paths) {
  sdv_model *m = reference_model();
  fit_point pts[8];
  for (size_t i = 0; i < n; i++) measure(m, t, ladder[i], paths, &pts[i]);
  for (int q = 0; q < 2; q++) {
    double se, se_exact;
    const double b = slope(pts, n, q, false, &se), b_exact = slope(pts, n, q, true, &se_exact);
    printf(
        "weak order %-10s g = x^%d: slope %.3f, 95%% CI [%.3f, %.3f] (se %.3f); exact EM "
        "slope %.3f; declared %.0f; m =",
        t->name, q + 1, b, b - 1.96 * se, b + 1.96 * se, se, b_exact, t->weak_order);
    for (size_t i = 0; i < n; i++) printf(" %zu", ladder[i]);
    printf(", M = %zu\n", paths);
    for (size_t i = 0; i < n; i++)
      printf("    h = %.5f  error %+.4e +- %.1e  (exact %+.4e)\n", pts[i].h, pts[i].err[q],
             pts[i].se[q], pts[i].exact[q]);
    const double margin = 0.2 - fabs(b_exact - t->weak_order);
    printf("    margin/se = %.1f\n", margin / se);
    ck_assert_msg(fabs(b_exact - t->weak_order) <= 0.1, "premise: exact slope %.3f", b_exact);
    ck_assert_msg(margin >= 4.0 * se, "premise: margin %.3f < 4 se = %.3f", margin, 4 * se);
    ck_assert_msg(fabs(b - t->weak_order) <= 0.2, "%s: fitted order %.3f +- %.3f, declared %g",
                  t->name, b, se, t->weak_order);
  }
  fflush(stdout);
  sdv_model_free(m);
}

START_TEST(test_order_euler) {
  const size_t ladder[4] = {2, 4, 8, 16};
  check_order(sdv_integrator_euler, ladder, 4, 200000);
}
END_TEST

START_TEST(test_order_richardson) {
  const size_t ladder[3] = {4, 8, 16};
  check_order(sdv_integrator_richardson, ladder, 3, 1000000);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("integrator-slow");
  TCase *tc = tcase_create("weak order");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_order_euler);
  tcase_add_test(tc, test_order_richardson);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(suite()); }
