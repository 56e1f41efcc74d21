/* Minibatch noise drawn from the data: the agents' stochastic gradients and the moments of
 * the per-sample gradients that the SDE side needs (docs/math/minibatch.md).
 *
 * Agent i owns shard S_i (n_i samples, lib/model/shards.c) and f_i = (1/n_i) sum_{s in S_i} f_s.
 * Its stochastic gradient is
 *     g_i = (1/B) sum_{b=1}^B grad f_{s_b}(x) + Z_i,   s_b i.i.d. uniform on S_i,
 * Z_i the minibatch mean of B draws sigma_i T of the added law (0 for plain "minibatch").
 * Given x: E g_i = grad f_i(x), Cov g_i = C_i(x)/B + var_i I with the population covariance
 *     C_i(x) = (1/n_i) sum_{s in S_i} (grad f_s - grad f_i)(grad f_s - grad f_i)^T.
 * A Gaussian vector with covariance (1/N^2) sum_i Cov g_i without any d x d matrix:
 *     (1/N) sum_i [ sum_{s in S_i} (grad f_s - grad f_i) zeta_s / sqrt(n_i B) + sqrt(var_i) xi_i ]
 * with zeta_s, xi_i independent standard normals: its covariance is
 * (1/N^2) sum_i [ (1/(n_i B)) sum_s (grad f_s - grad f_i)(...)^T + var_i I ], exactly the above.
 * It costs n per-sample gradients and n + (agents with an added law) d normals. The centred
 * sum is accumulated in one pass, stably (as Welford's variance): with m_k the mean of the first
 * k gradients, Z_k = zeta_1 + ... + zeta_k and A_k = sum_{s <= k} (g_s - m_k) zeta_s,
 *     m_{k+1} = m_k + (g_{k+1} - m_k)/(k+1),
 *     A_{k+1} = A_k - (m_{k+1} - m_k) Z_k + (g_{k+1} - m_{k+1}) zeta_{k+1},
 * so A_n = sum_s (g_s - grad f_i) zeta_s without storing the n gradients and without the
 * cancellation of sum g_s zeta_s - m_n Z_n.
 * Reference (tests/test-minibatch.c): the covariance of this vector equals the d x d sum
 * computed directly, within Monte Carlo error.
 */
#include <math.h>

#include <sdv/errors.h>
#include <sdv/model.h>

#include "model/minibatch.h"
#include "core/work.h"

static inline void sample_gradient(const sdv_model *m, size_t s, const double *x, double *g) {
  const sdv_objective *o = m->objective;
  o->type->sample_gradient(o->state, o->dim, s, x, g);
}

int sdv_model_minibatch_gradient(const sdv_model *m, sdv_work *w, size_t agent, const double *x,
                                 sdv_stream *s, double *g) {
  if (!m || !w || !x || !s || !g)
    return SDV_ERROR(SDV_EINVAL, "sdv_model_minibatch_gradient: NULL argument");
  if (!m->minibatch)
    return SDV_ERROR(SDV_EINVAL,
                     "sdv_model_minibatch_gradient: the model has no minibatch noise (noise "
                     "minibatch)");
  if (agent >= m->agents)
    return SDV_ERROR(SDV_EINVAL, "sdv_model_minibatch_gradient: agent = %zu must be < N = %zu",
                     agent, m->agents);
  const size_t d = m->dim, B = m->batch, lo = m->shard_start[agent];
  const size_t ni = sdv_shard_size(m, agent);
  for (size_t j = 0; j < d; j++) g[j] = 0.0;
  for (size_t b = 0; b < B; b++) {
    sample_gradient(m, m->shard_index[lo + sdv_stream_below(s, ni)], x, w->gi);
    for (size_t j = 0; j < d; j++) g[j] += w->gi[j];
  }
  const double inv = 1.0 / (double)B;
  for (size_t j = 0; j < d; j++) g[j] *= inv;
  if (m->sigma[agent] > 0.0) {
    sdv_model_draw_noise(m, agent, s, w->noise);
    for (size_t j = 0; j < d; j++) g[j] += w->noise[j];
  }
  return SDV_OK;
}

/* True when every shard has the same size (then (1/N) sum_i grad f_i = grad f). */
static bool equal_shards(const sdv_model *m) {
  for (size_t i = 1; i < m->agents; i++)
    if (sdv_shard_size(m, i) != sdv_shard_size(m, 0)) return false;
  return true;
}

void sdv_minibatch_mean_gradient(const sdv_model *m, sdv_work *w, const double *x, double *out) {
  const size_t d = m->dim, N = m->agents;
  if (equal_shards(m)) {
    sdv_objective_gradient(m->objective, x, out);
    return;
  }
  for (size_t j = 0; j < d; j++) out[j] = 0.0;
  for (size_t i = 0; i < N; i++) {
    const size_t lo = m->shard_start[i], ni = sdv_shard_size(m, i);
    for (size_t j = 0; j < d; j++) w->ci[j] = 0.0;
    for (size_t k = 0; k < ni; k++) {
      sample_gradient(m, m->shard_index[lo + k], x, w->gi);
      for (size_t j = 0; j < d; j++) w->ci[j] += w->gi[j];
    }
    const double c = 1.0 / ((double)ni * (double)N);
    for (size_t j = 0; j < d; j++) out[j] += c * w->ci[j];
  }
}

void sdv_minibatch_shard_moments(const sdv_model *m, sdv_work *w, size_t i, const double *x,
                                 double *mean, double *var) {
  const size_t d = m->dim, lo = m->shard_start[i], ni = sdv_shard_size(m, i);
  for (size_t j = 0; j < d; j++) mean[j] = var[j] = 0.0;
  for (size_t k = 0; k < ni; k++) {
    sample_gradient(m, m->shard_index[lo + k], x, w->gi);
    const double inv = 1.0 / (double)(k + 1);
    for (size_t j = 0; j < d; j++) {
      const double delta = w->gi[j] - mean[j];
      mean[j] += delta * inv;
      var[j] += delta * (w->gi[j] - mean[j]);
    }
  }
  const double inv = 1.0 / (double)ni;
  for (size_t j = 0; j < d; j++) var[j] *= inv;
}

void sdv_minibatch_gaussian(const sdv_model *m, sdv_work *w, const double *x, sdv_stream *s,
                            double *out) {
  const size_t d = m->dim, N = m->agents;
  double *mean = w->ci, *a = w->tmp;
  for (size_t j = 0; j < d; j++) out[j] = 0.0;
  for (size_t i = 0; i < N; i++) {
    const size_t lo = m->shard_start[i], ni = sdv_shard_size(m, i);
    double zsum = 0.0;
    for (size_t j = 0; j < d; j++) mean[j] = a[j] = 0.0;
    for (size_t k = 0; k < ni; k++) {
      sample_gradient(m, m->shard_index[lo + k], x, w->gi);
      const double z = sdv_stream_normal(s), inv = 1.0 / (double)(k + 1);
      for (size_t j = 0; j < d; j++) {
        const double dm = (w->gi[j] - mean[j]) * inv;
        mean[j] += dm;
        a[j] += (w->gi[j] - mean[j]) * z - dm * zsum;
      }
      zsum += z;
    }
    const double c = 1.0 / ((double)N * sqrt((double)ni * (double)m->batch));
    for (size_t j = 0; j < d; j++) out[j] += c * a[j];
    if (m->sigma[i] > 0.0) {
      sdv_stream_normals(s, w->noise, d);
      const double cz = sqrt(m->var[i]) / (double)N;
      for (size_t j = 0; j < d; j++) out[j] += cz * w->noise[j];
    }
  }
}
