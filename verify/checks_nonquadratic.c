/* Claim-suite family "nonquadratic" (see verify/checks.h and docs/claims/nonquadratic.md).
 *
 * Beyond quadratics no exact reference exists on either side, so both checks are Monte Carlo
 * weak studies with the harness's diffusion-sensitive fluctuation statistic (theory T1): the
 * noise-induced parts F_disc = [E f(x_k) - f(xbar_k)]/eta and F_sde = [E f(X_t) - f(x~(t))]/eta
 * must share their eta -> 0 limit L, which the ODE (diffusion x0) and a doubled diffusion (x2)
 * do not. The SDE side uses Euler-Maruyama with h = eta/2: its O(h) = O(eta) bias moves the
 * slope of F_disc - F_sde = a + b eta, not the intercept a that is tested, and its drift part
 * cancels against the noise-free reference computed with the same integrator.
 *
 * Calibration: the harness tests at family-wise level alpha = 1e-3 (Bonferroni over its order
 * and fluctuation tests), so a correct model fails with probability <= 1e-3 per run. The
 * parameters below put the standard error of a/L near 0.05 (quartic) and 0.03 (logistic), so
 * the controls (a/L = 1 and about -3) sit >= 15 standard errors away. A deterministic grid
 * propagation of the quartic chain (a throw-away cross-check) puts the curvature bias of the
 * linear fit in eta at about -0.5% of L, far inside one standard error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <sdv/errors.h>
#include <sdv/process.h>

#include "checks.h"
#include "checks_util.h"

#ifndef SDV_DATA_DIR
#define SDV_DATA_DIR "data"
#endif

/* Runs one fluctuation study and turns it into the check's result. */
static int fluctuation_check(const sdv_check_ctx *ctx, sdv_check_result *res, const char *label,
                             const sdv_model_options *mo, const double *eta, size_t neta, double t,
                             size_t paths) {
  sdv_weak_options wo;
  sdv_weak_options_default(&wo);
  wo.eta = eta;
  wo.neta = neta;
  wo.times = &t;
  wo.ntimes = 1;
  wo.paths = ctx->full ? 4 * paths : paths;
  wo.substeps = 2;
  wo.integrator = sdv_integrator_euler;
  wo.alpha = 1e-3;
  sdv_weak_result *w = NULL;
  int rc = sdv_check_weak(ctx, label, mo, NULL, &wo, &w);
  if (rc) return rc;
  sdv_check_from_weak(res, w, "fluctuation");
  const sdv_weak_test *T = &w->tests[0];
  sdv_check_note(res,
                 "%zu paths per side and rung, eta = %g..%g, t = %g, Euler h = eta/2; test "
                 "|a| <= %.2f se(a) (family-wise alpha = 1e-3 with the order test, so the "
                 "false-failure rate is <= 1e-3); se(a)/L = %.3g; controls x0, x2: a/L = %.3g, "
                 "%.3g",
                 wo.paths, eta[neta - 1], eta[0], t, w->z_test, T->intercept_se / T->limit,
                 w->ncontrols > 0 ? w->controls[0].tests[0].rel : NAN,
                 w->ncontrols > 1 ? w->controls[1].tests[0].rel : NAN);
  sdv_weak_result_free(w);
  return SDV_OK;
}

/* T1 on f = x^4/4 + x^2/2: x0 = 1 starts where the quartic term is as large as the quadratic
 * one (Hessian 4 at x0 against 1 at the minimum), and t = 1/2 observes the path while it is
 * still there; sigma = 2 makes L = O(sigma^2) large against the Monte Carlo error. */
static int run_quartic(const sdv_check_ctx *ctx, sdv_check_result *res) {
  sdv_model_options mo;
  sdv_model_options_default(&mo);
  mo.method = "dsgd";
  mo.dim = 1;
  mo.agents = 2;
  mo.batch = 2;
  mo.objective = "quartic:lam=1";
  mo.sigma = "2.5,4";
  mo.x0 = "1";
  mo.seed = sdv_check_seed(ctx, "quartic-fluctuation", 0);
  static const double eta[] = {0.1, 0.05, 0.025};
  return fluctuation_check(ctx, res, "quartic", &mo, eta, 3, 0.5, 30000);
}

/* DSGD with Gaussian gradient noise on the L2-regularised logistic loss of real data (Iris
 * versicolor vs virginica, 4 standardised features + intercept, d = 5). From x0 = 0 the
 * Hessian's spectrum moves from [0.12, 0.83] to [0.11, 0.32] at the minimizer, so the path
 * crosses a visibly non-quadratic region; t = 4 is about half the slowest relaxation time. */
static int run_logistic(const sdv_check_ctx *ctx, sdv_check_result *res) {
  const char *dir = getenv("SDV_DATA_DIR");
  char spec[1024];
  snprintf(spec, sizeof spec, "logistic:data=%s/iris-versicolor-virginica.csv:l2=0.1",
           dir && *dir ? dir : SDV_DATA_DIR);
  sdv_model_options mo;
  sdv_model_options_default(&mo);
  mo.method = "dsgd";
  mo.dim = 5;
  mo.agents = 2;
  mo.batch = 2;
  mo.objective = spec;
  mo.sigma = "1.4,2.4";
  mo.x0 = "0";
  mo.seed = sdv_check_seed(ctx, "logistic-weak", 0);
  static const double eta[] = {0.4, 0.2, 0.1};
  const int rc = fluctuation_check(ctx, res, "logistic", &mo, eta, 3, 4.0, 3000);
  if (rc == SDV_OK)
    sdv_check_note(res, "data %s (set SDV_DATA_DIR to move it)", dir && *dir ? dir : SDV_DATA_DIR);
  return rc;
}

const sdv_check sdv_checks_nonquadratic[] = {
    {"quartic-fluctuation",
     "T1 beyond quadratics: on f = x^4/4 + x^2/2 the DSGD SDE (N = 2, B = 2, unequal sigma) "
     "reproduces the noise-induced part of E f(x_k)",
     "nonquadratic", run_quartic},
    {"logistic-weak",
     "DSGD on L2-regularised logistic regression (Iris data): the SDE reproduces the "
     "noise-induced part of E f(x_k)",
     "nonquadratic", run_logistic},
    {NULL, NULL, NULL, NULL},
};
