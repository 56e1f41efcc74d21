/* Minibatch noise drawn from the data: the agents' stochastic gradients
 * (docs/math/minibatch.md). The SDE side's moments of the per-sample gradients (drift,
 * Gaussian increment, DSignSGD's per-shard moments) are in lib/optimizer/minibatch.c.
 *
 * Agent i owns shard S_i (n_i samples, lib/model/shards.c) and f_i = (1/n_i) sum_{s in S_i} f_s.
 * Its stochastic gradient is
 *     g_i = (1/B) sum_{b=1}^B grad f_{s_b}(x) + Z_i,   s_b i.i.d. uniform on S_i,
 * Z_i the minibatch mean of B draws sigma_i T of the added law (0 for plain "minibatch").
 * Given x: E g_i = grad f_i(x), Cov g_i = C_i(x)/B + var_i I with the population covariance
 *     C_i(x) = (1/n_i) sum_{s in S_i} (grad f_s - grad f_i)(grad f_s - grad f_i)^T.
 * Reference (tests/test-minibatch.c): the step's sample covariance equals the d x d sum
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
