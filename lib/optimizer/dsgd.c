/* DSGD: distributed SGD with server averaging (docs/math/dsgd.md; theory §2, §4.1).
 *
 * Discrete update. Agent i sees g_i = grad f(x) + Z_i, where every coordinate of Z_i is the
 * mean of B per-sample draws sigma_i T (independent over agents, coordinates and steps);
 * the server averages:
 *     x_{k+1} = x_k - eta U,   U = (1/N) sum_i g_i.
 * One-step moments (given x): E U = grad f(x),  Cov U = (1/N^2) sum_i v_i I, with
 * v_i = sigma_i^2 Var(T) / B the per-coordinate variance of Z_i (model->var).
 * SDE (Li, Tai & E moment matching, weak order 1):
 *     dX = -grad f(X) dt + sqrt(eta) S dW,   S S^T = Sigma = ((1/N^2) sum_i v_i) I  (SCALAR).
 * Assumptions: Var T finite. For Student-t with nu <= 2 some v_i is infinite: the discrete
 * step is still well defined (the iterates just have no variance), but there is no SDE, and
 * diffusion() returns SDV_ENOTSUP. For 2 < nu <= 4 the SDE matches two moments only.
 * Randomness: Z_0, ..., Z_{N-1} from the `noise` stream in agent order (sdv_model_draw_noise);
 * the compressor stream is not touched. Shortcut (unless model->literal): with N > 1 normal
 * agents the mean noise (1/N) sum_i Z_i is drawn as one Gaussian vector of per-coordinate
 * variance sum_i scale_i^2 / N^2 (d normals instead of N d; tests/test-shortcuts.c).
 * Reference value (tests/test-optimizer.c): N = 2, B = 2, Gaussian, sigma = (0.5, 1.5):
 *     Sigma = (1/4)(0.25/2 + 2.25/2) = 0.3125 per coordinate.
 */
#include <math.h>

#include <sdv/errors.h>
#include <sdv/model.h>

#include "core/work.h"
#include "optimizer/coupled.h"
#include "optimizer/minibatch.h"

static int dsgd_validate(const sdv_model *m) { return m->minibatch ? sdv_mb_validate(m) : SDV_OK; }

/* step() and, when xi != NULL, its coupled normals (docs/math/coupling.md): the Gaussian
 * shortcut's normals themselves (the step's noise is c times them), else the per-agent
 * coupled normals of the draws weighted by the agents' noise standard deviations. The
 * update and the draws from noise are the same either way. */
static int dsgd_advance(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                        sdv_stream *aux, double *xi) {
  const size_t d = m->dim, n = m->agents;
  sdv_objective_gradient(m->objective, x, w->grad);
  if (!m->literal && w->all_normal && n > 1) {
    /* (1/N) sum_i scale_i xi_ij ~ (sqrt(sum_i scale_i^2) / N) xi_j: one normal per
     * coordinate instead of N (the mean of independent Gaussians is Gaussian). */
    double s2 = 0.0;
    for (size_t i = 0; i < n; i++) s2 += m->scale[i] * m->scale[i];
    const double c = sqrt(s2) / (double)n;
    sdv_stream_normals(noise, w->noise, d);
    for (size_t j = 0; j < d; j++) x[j] -= m->eta * (w->grad[j] + c * w->noise[j]);
    if (xi) {
      if (s2 > 0.0)
        for (size_t j = 0; j < d; j++) xi[j] = -w->noise[j];
      else
        sdv_stream_normals(aux, xi, d);
    }
    return SDV_OK;
  }
  double a2 = 0.0;
  for (size_t j = 0; j < d; j++) w->acc[j] = 0.0;
  if (xi)
    for (size_t j = 0; j < d; j++) w->ci[j] = 0.0;
  for (size_t i = 0; i < n; i++) {
    if (!xi) {
      sdv_model_draw_noise(m, i, noise, w->noise);
    } else {
      sdv_model_draw_noise_coupled(m, i, noise, w->noise, w->tmp);
      const double a = m->sigma[i] > 0.0 ? sqrt(m->var[i]) : 0.0;
      if (a > 0.0 && isfinite(a)) {
        a2 += a * a;
        for (size_t j = 0; j < d; j++) w->ci[j] += a * w->tmp[j];
      }
    }
    for (size_t j = 0; j < d; j++) w->acc[j] += w->grad[j] + w->noise[j];
  }
  for (size_t j = 0; j < d; j++) x[j] -= m->eta * (w->acc[j] / (double)n);
  if (xi) sdv_coupled_finish(d, w->ci, a2, aux, xi);
  return SDV_OK;
}

static int dsgd_step(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                     sdv_stream *comp) {
  if (m->minibatch) return sdv_mb_step(m, w, x, noise, comp);
  (void)comp;
  return dsgd_advance(m, w, x, noise, NULL, NULL);
}

static int dsgd_step_coupled(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                             sdv_stream *comp, sdv_stream *aux, double *xi) {
  (void)comp;
  return dsgd_advance(m, w, x, noise, aux, xi);
}

static void dsgd_drift(const sdv_model *m, sdv_work *w, const double *x, double *b) {
  if (m->minibatch) {
    sdv_mb_drift(m, w, x, b);
    return;
  }
  sdv_objective_gradient(m->objective, x, b);
  for (size_t j = 0; j < m->dim; j++) b[j] = -b[j];
}

static int dsgd_diffusion(const sdv_model *m, sdv_work *w, const double *x, sdv_diffusion *D) {
  const size_t n = m->agents;
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) {
    if (isinf(m->var[i]))
      return SDV_ERROR(SDV_ENOTSUP,
                       "dsgd: no SDE: noise variance is infinite (student-t nu <= 2) for "
                       "agent %zu",
                       i + 1);
    sum += m->var[i];
  }
  D->structure = SDV_DIFFUSION_SCALAR;
  D->scalar = sum / ((double)n * (double)n);
  return SDV_OK;
}

/* The method's diffusion: minibatch models (always sampled), else the scalar one, reported as
 * SAMPLED on the sampled route (after the same check that an SDE exists). */
static int dsgd_routes(const sdv_model *m, sdv_work *w, const double *x, sdv_diffusion *D) {
  if (m->minibatch) return sdv_mb_diffusion(m, w, x, D);
  const int rc = dsgd_diffusion(m, w, x, D);
  if (rc == SDV_OK && m->sde_route == SDV_SDE_SAMPLED) D->structure = SDV_DIFFUSION_SAMPLED;
  return rc;
}

/* The sampled route: (1/N) sum_i Z_i, the centred update itself (mean 0, covariance Sigma,
 * symmetric since every law is), the agents' noise drawn from s in agent order; under
 * minibatch noise the Gaussian draw of lib/optimizer/minibatch.c. */
static int dsgd_increment(const sdv_model *m, sdv_work *w, const double *x, sdv_stream *s,
                          double *out) {
  if (m->minibatch) return sdv_mb_increment(m, w, x, s, out);
  const size_t d = m->dim, n = m->agents;
  (void)x;
  for (size_t j = 0; j < d; j++) out[j] = 0.0;
  for (size_t i = 0; i < n; i++) {
    sdv_model_draw_noise(m, i, s, w->noise);
    for (size_t j = 0; j < d; j++) out[j] += w->noise[j];
  }
  for (size_t j = 0; j < d; j++) out[j] /= (double)n;
  return SDV_OK;
}

static const sdv_method_type dsgd_type = {
    .name = "dsgd",
    .help = "distributed SGD: x -= eta * mean_i (grad f + Z_i); SDE with scalar diffusion",
    .uses_compressor = false,
    .validate = dsgd_validate,
    .step = dsgd_step,
    .drift = dsgd_drift,
    .diffusion = dsgd_routes,
    .increment = dsgd_increment,
    .step_coupled = dsgd_step_coupled,
    .family = SDV_METHOD_FAMILY_LINEAR,
    .scratch = sdv_mb_scratch,
};

const sdv_method_type *const sdv_method_dsgd = &dsgd_type;
