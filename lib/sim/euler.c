/* Euler–Maruyama for dX = b(X) dt + sqrt(eta) S(X) dW (docs/math/integrators.md).
 *
 * One step of size h with Brownian increment dW = sqrt(h) xi, xi ~ N(0, I_d):
 *     X' = X + h b(X) + sqrt(eta h) s S(X) xi,         s = model->diffusion_scale,
 * b and S both taken at the old X. On the sampled route S(X) xi is replaced by the model's
 * increment zeta (mean 0, covariance Sigma(X), symmetric law), which keeps the first three
 * moments of the Gaussian step and hence weak order 1 (Kloeden & Platen 1992, Thm 14.5.2).
 * Weak order 1 in h for smooth b, S with polynomially bounded derivatives (Milstein; Talay
 * & Tubaro 1990 give the error expansion E g(X_h) - E g(X) = C h + O(h^2) that Richardson
 * extrapolation uses).
 * Reference value (tests/test-integrator.c): DSGD, d = 1, lambda = 1.7, sigma = 0.8, N = 2,
 * eta = 0.3, x = 2.385, h = 0.05, xi = -0.61:
 *     x' = 2.385 - 0.05 * 1.7 * 2.385 + sqrt(0.3 * 0.05) * sqrt(0.64 / 2) * (-0.61)
 *        = 2.182275 - 0.0422620397... = 2.1400129602953...
 */
#include <math.h>

#include <sdv/errors.h>
#include <sdv/process.h>

#include "core/clones.h"
#include "core/work.h"

/* x_j += h b_j + c z_j, in this order of operations for every j (both clones, same bits). */
static SDV_CLONES void em_update(size_t d, double *restrict x, double h, const double *restrict b,
                                 double c, const double *restrict z) {
  for (size_t j = 0; j < d; j++) x[j] += h * b[j] + c * z[j];
}

int sdv_integrator_em_step(const sdv_model *m, sdv_work *w, double h, double *x, const double *xi,
                           sdv_stream *s, double *scratch) {
  const size_t d = m->dim;
  if (xi && !m->literal && m->method->em_step) {
    bool done = false;
    const int rc = m->method->em_step(m, w, h, sqrt(m->eta * h), x, xi, scratch, &done);
    if (rc || done) return rc;
  }
  double *b = scratch, *z = scratch + d;
  /* Drift and diffusion at one x: the method may pass its work from one to the other. */
  w->pair_x = true;
  sdv_model_drift(m, w, x, b);
  if (m->diffusion_scale == 0.0) {
    w->pair_x = false;
    for (size_t j = 0; j < d; j++) x[j] += h * b[j];
    return SDV_OK;
  }
  const int rc =
      xi ? sdv_model_diffusion_apply(m, w, x, xi, z) : sdv_model_noise_increment(m, w, x, s, z);
  w->pair_x = false;
  if (rc) return rc;
  em_update(d, x, h, b, sqrt(m->eta * h), z);
  return SDV_OK;
}

static int euler_step(const sdv_model *m, sdv_work *w, double h, double *const *x, const double *xi,
                      sdv_stream *s, double *scratch) {
  return sdv_integrator_em_step(m, w, h, x[0], xi, s, scratch);
}

static const sdv_integrator_type euler_type = {
    .name = "euler",
    .help = "Euler-Maruyama, weak order 1",
    .weak_order = 1.0,
    .replicas = 1,
    .weight = {1.0},
    .normals = 1,
    .scratch = 2,
    .step = euler_step,
};

const sdv_integrator_type *const sdv_integrator_euler = &euler_type;
