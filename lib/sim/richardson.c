/* Richardson extrapolation of Euler–Maruyama in h, on coupled paths
 * (docs/math/integrators.md).
 *
 * Talay & Tubaro (Stoch. Anal. Appl. 8, 1990): for smooth coefficients and g,
 *     E g(X^h_T) = E g(X_T) + C_1 h + O(h^2),
 * so 2 E g(X^{h/2}_T) - E g(X^h_T) = E g(X_T) + O(h^2): weak order 2. Each step draws two
 * independent unit normal vectors xi1, xi2 (the two half-step increments dW = sqrt(h/2) xi);
 * the fine replica makes two EM steps of h/2 with xi1 then xi2, and the coarse replica one
 * EM step of h with (xi1 + xi2)/sqrt 2, which is exactly the coarse Brownian increment
 * sqrt(h/2)(xi1 + xi2) = sqrt(h) (xi1 + xi2)/sqrt 2. Both replicas are EM discretisations
 * of the same Brownian path, so the per-path value 2 g(X_fine) - g(X_coarse) is an unbiased
 * estimator of the extrapolated moment whose variance stays close to Var g(X) (the two
 * discretisation errors are small and correlated); its confidence interval is ordinary
 * Monte Carlo. On the sampled route the model draws the increments itself, so the fine and
 * coarse replicas get independent increments: still unbiased for the same extrapolated
 * moment, only with a larger variance.
 * Reference value (tests/test-integrator.c): DSGD, d = 1, lambda = 1.7, sigma = 0.8, N = 2,
 * eta = 0.3, x = 2.385, h = 0.05, xi1 = -0.61, xi2 = 1.3:
 *     fine 2.2216559251320..., coarse 2.2160779584504..., 2 fine - coarse 2.2272338918136...
 */
#include <math.h>

#include <sdv/errors.h>
#include <sdv/process.h>

static int richardson_step(const sdv_model *m, sdv_work *w, double h, double *const *x,
                           const double *xi, sdv_stream *s, double *scratch) {
  const size_t d = m->dim;
  int rc;
  if (!xi) { /* sampled route or no noise: independent draws (see above) */
    if ((rc = sdv_integrator_em_step(m, w, 0.5 * h, x[0], NULL, s, scratch))) return rc;
    if ((rc = sdv_integrator_em_step(m, w, 0.5 * h, x[0], NULL, s, scratch))) return rc;
    return sdv_integrator_em_step(m, w, h, x[1], NULL, s, scratch);
  }
  const double *xi1 = xi, *xi2 = xi + d;
  double *xc = scratch + 2 * d;
  for (size_t j = 0; j < d; j++) xc[j] = (xi1[j] + xi2[j]) * M_SQRT1_2;
  if ((rc = sdv_integrator_em_step(m, w, 0.5 * h, x[0], xi1, s, scratch))) return rc;
  if ((rc = sdv_integrator_em_step(m, w, 0.5 * h, x[0], xi2, s, scratch))) return rc;
  return sdv_integrator_em_step(m, w, h, x[1], xc, s, scratch);
}

static const sdv_integrator_type richardson_type = {
    .name = "richardson",
    .help = "coupled Euler-Maruyama pair (h, h/2), 2 g(fine) - g(coarse): weak order 2",
    .weak_order = 2.0,
    .replicas = 2,
    .weight = {2.0, -1.0},
    .normals = 2,
    .scratch = 3,
    .step = richardson_step,
};

const sdv_integrator_type *const sdv_integrator_richardson = &richardson_type;
