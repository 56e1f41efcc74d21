/* DSGD, DCSGD and DSignSGD under minibatch noise drawn from the data
 * (docs/math/minibatch.md; theory §2, §4, §9.4). Each method file branches here first when
 * model->minibatch, so the synthetic-noise code stays as it was.
 *
 * Agent i owns shard S_i (n_i samples) with f_i = (1/n_i) sum_{s in S_i} f_s, and sees
 *     g_i = (1/B) sum_b grad f_{s_b}(x) + Z_i,   s_b i.i.d. uniform on S_i
 * (lib/model/minibatch.c), with E g_i = grad f_i(x) and
 *     Cov g_i = V_i(x) = C_i(x)/B + var_i I,
 * C_i the population covariance of the per-sample gradients over S_i, var_i the added law's
 * per-coordinate variance (0 for plain "minibatch").
 *
 * DSGD:  x -= eta (1/N) sum_i g_i.   b = -(1/N) sum_i grad f_i,   Sigma = (1/N^2) sum_i V_i.
 * DCSGD: x -= eta (1/N) sum_i C_i(g_i).   b as DSGD,
 *        Sigma = (1/N^2) sum_i [ V_i + E Phi_i(g_i) ],   Phi_i the compressor's error covariance.
 * The optimizers minimise F = (1/N) sum_i f_i, which is f when the shards have equal sizes
 * (n divisible by N), and in general weights sample s by 1/(N n_i).
 * Both diffusions are on the sampled route (SDV_DIFFUSION_SAMPLED: no d x d matrix): the
 * increment is the Gaussian vector of sdv_minibatch_gaussian (covariance (1/N^2) sum_i V_i)
 * plus, for DCSGD, r (1/N) sum_i (C_i(g_i) - g_i) with a fresh minibatch gradient g_i, the
 * compressor's randomness and a random sign r: mean 0, covariance (1/N^2) sum_i E Phi_i(g_i),
 * uncorrelated with the Gaussian part (mean zero given g_i), so the total covariance is Sigma
 * and the law is symmetric (what the sampled Euler step needs, lib/sim/euler.c).
 * Stream order of increment(): DCSGD's sign first; the zeta_s of every shard and the added
 * normals, agent by agent; then for DCSGD, agent by agent, B indices, the added noise and the
 * compressor's randomness. Infinite var_i (Student-t nu <= 2 on top): SDV_ENOTSUP, no SDE.
 *
 * DSignSGD: x -= eta (1/N) sum_i sign(g_i). Gaussian (CLT) approximation of each coordinate
 * of g_i: mean mu_ij = d_j f_i(x), variance s_ij^2 = v_ij/B + var_i, v_ij the population
 * variance of d_j f_s over S_i. Then
 *     m_ij = erf(mu_ij / (sqrt2 s_ij)) = 2 Phi(mu_ij/s_ij) - 1,
 *     b_j = -(1/N) sum_i m_ij,   Sigma = Diag_j( (1/N^2) sum_i (1 - m_ij^2) )  (DIAGONAL),
 * with m = sign(mu), 1 - m^2 = 0 when s_ij = 0. An approximation: the minibatch mean of a few
 * samples is not Gaussian (small B, skewed or heavy-tailed per-sample gradients), and the
 * checks are there to show where it fails. It needs finite var_i (validate()).
 * The Gaussian part of the increment, (1/N) sum_i [ sum_{s in S_i} (grad f_s - grad f_i)
 * zeta_s / sqrt(n_i B) + sqrt(var_i) xi_i ], is one weighted sum of per-sample gradients: since
 * grad f_i = (1/n_i) sum_{s in S_i} grad f_s,
 *     sum_{s in S_i} (grad f_s - grad f_i) zeta_s = sum_{s in S_i} (zeta_s - zbar_i) grad f_s,
 * zbar_i the mean of agent i's zeta_s, so the whole sum is sum_s w_s grad f_s with
 *     w_s = (zeta_s - zbar_i) / (N sqrt(n_i B)),  s in S_i,
 * the same Gaussian vector (covariance (1/N^2) sum_i C_i/B) with the same normals: only the
 * summation order differs from the per-shard form. It is computed by the objective's
 * sample_gradient_sum hook (sdv_objective_sample_gradient_sum), which batches the samples.
 * With unequal shards the drift is sum_s grad f_s / (N n_{i(s)}), one weighted sum too.
 * Cost: drift one full gradient (or weighted sum); DSGD/DCSGD increment one weighted sum of
 * the n per-sample gradients (+ N B per-sample gradients for DCSGD); DSignSGD drift and
 * diffusion n per-sample gradients (moments per coordinate); step N B per-sample gradients.
 * Scratch (sdv_mb_scratch): the n weights and the n normals.
 */
#include <math.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/model.h>

#include "core/work.h"
#include "optimizer/minibatch.h"

static double sign0(double v) { return (v > 0.0) - (v < 0.0); }

static inline size_t shard_size(const sdv_model *m, size_t i) {
  return m->shard_start[i + 1] - m->shard_start[i];
}

static inline void sample_gradient(const sdv_model *m, size_t s, const double *x, double *g) {
  const sdv_objective *o = m->objective;
  o->type->sample_gradient(o->state, o->dim, s, x, g);
}

/* True when every shard has the same size (then (1/N) sum_i grad f_i = grad f). */
static bool equal_shards(const sdv_model *m) {
  for (size_t i = 1; i < m->agents; i++)
    if (shard_size(m, i) != shard_size(m, 0)) return false;
  return true;
}

size_t sdv_mb_scratch(const sdv_model *m) {
  return m->minibatch ? 2 * m->samples * sizeof(double) : 0;
}

/* out = (1/N) sum_i grad f_i(x) = sum_s grad f_s / (N n_{i(s)}) as one weighted sum (weights
 * in the method scratch), which is grad f when every shard has n/N samples. Outside the Euler
 * step (w->pair_x false: the noise-free recursion and drift ODE that serve as the optimizer's
 * references) equal shards take the objective's own gradient, so that those references keep
 * their bits; the two differ by rounding only. */
static void mean_gradient(const sdv_model *m, sdv_work *w, const double *x, double *out) {
  const size_t N = m->agents;
  if (!w->pair_x && equal_shards(m)) {
    sdv_objective_gradient(m->objective, x, out);
    return;
  }
  double *wt = sdv_work_scratch(w);
  for (size_t i = 0; i < N; i++) {
    const size_t lo = m->shard_start[i], ni = shard_size(m, i);
    const double c = 1.0 / ((double)ni * (double)N);
    for (size_t k = 0; k < ni; k++) wt[m->shard_index[lo + k]] = c;
  }
  sdv_objective_sample_gradient_sum(m->objective, x, wt, out, w->gi);
}

/* Per-coordinate mean and population variance over shard i of the per-sample gradients
 * (Welford), into mean[d] and var[d]; uses w->gi. */
static void shard_moments(const sdv_model *m, sdv_work *w, size_t i, const double *x, double *mean,
                          double *var) {
  const size_t d = m->dim, lo = m->shard_start[i], ni = shard_size(m, i);
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

/* out = (1/N) sum_i [ sum_{s in S_i} (grad f_s - grad f_i) zeta_s / sqrt(n_i B)
 *                     + sqrt(var_i) xi_i ]
 * as one weighted sum (top of the file): the zeta_s of every shard in shard order and the d
 * normals xi_i of each agent with an added law, agent by agent, from s. */
static void gaussian_part(const sdv_model *m, sdv_work *w, const double *x, sdv_stream *s,
                          double *out) {
  const size_t d = m->dim, N = m->agents;
  double *wt = sdv_work_scratch(w), *z = wt + m->samples;
  bool added = false;
  for (size_t i = 0; i < N; i++) {
    const size_t lo = m->shard_start[i], ni = shard_size(m, i);
    sdv_stream_normals(s, z + lo, ni);
    double zsum = 0.0;
    for (size_t k = 0; k < ni; k++) zsum += z[lo + k];
    const double zbar = zsum / (double)ni;
    const double c = 1.0 / ((double)N * sqrt((double)ni * (double)m->batch));
    for (size_t k = 0; k < ni; k++) wt[m->shard_index[lo + k]] = c * (z[lo + k] - zbar);
    if (m->sigma[i] > 0.0) {
      /* The added law's normals follow the agent's zeta_s in the stream; kept in w->acc
       * until the weighted sum is formed (out is written by it). */
      if (!added)
        for (size_t j = 0; j < d; j++) w->acc[j] = 0.0;
      added = true;
      sdv_stream_normals(s, w->noise, d);
      const double cz = sqrt(m->var[i]) / (double)N;
      for (size_t j = 0; j < d; j++) w->acc[j] += cz * w->noise[j];
    }
  }
  sdv_objective_sample_gradient_sum(m->objective, x, wt, out, w->gi);
  if (added)
    for (size_t j = 0; j < d; j++) out[j] += w->acc[j];
}

int sdv_mb_validate(const sdv_model *m) {
  if (m->method != sdv_method_dsignsgd) return SDV_OK;
  for (size_t i = 0; i < m->agents; i++)
    if (isinf(m->var[i]))
      return SDV_ERROR(SDV_ENOTSUP,
                       "dsignsgd: agent %zu: minibatch noise with an added law of infinite "
                       "variance ('%s') has no Gaussian (CLT) sign drift",
                       i + 1, m->noise[i]->type->name);
  return SDV_OK;
}

int sdv_mb_step(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise, sdv_stream *comp) {
  const size_t d = m->dim, n = m->agents;
  const bool comp_ = m->method == sdv_method_dcsgd, sign = m->method == sdv_method_dsignsgd;
  for (size_t j = 0; j < d; j++) w->acc[j] = 0.0;
  for (size_t i = 0; i < n; i++) {
    int rc = sdv_model_minibatch_gradient(m, w, i, x, noise, w->tmp);
    if (rc) return rc;
    if (comp_) {
      sdv_compressor_apply(w->comp[i], w->tmp, w->ci, comp);
      for (size_t j = 0; j < d; j++) w->acc[j] += w->ci[j];
    } else if (sign) {
      for (size_t j = 0; j < d; j++) w->acc[j] += sign0(w->tmp[j]);
    } else {
      for (size_t j = 0; j < d; j++) w->acc[j] += w->tmp[j];
    }
  }
  for (size_t j = 0; j < d; j++) x[j] -= m->eta * (w->acc[j] / (double)n);
  return SDV_OK;
}

void sdv_mb_drift(const sdv_model *m, sdv_work *w, const double *x, double *b) {
  const size_t d = m->dim;
  mean_gradient(m, w, x, w->grad);
  for (size_t j = 0; j < d; j++) b[j] = -w->grad[j];
}

int sdv_mb_diffusion(const sdv_model *m, sdv_work *w, const double *x, sdv_diffusion *D) {
  (void)w;
  (void)x;
  for (size_t i = 0; i < m->agents; i++)
    if (isinf(m->var[i]))
      return SDV_ERROR(SDV_ENOTSUP,
                       "%s: no SDE: the noise added to the minibatch gradient has infinite "
                       "variance (student-t nu <= 2) for agent %zu",
                       m->method->name, i + 1);
  D->structure = SDV_DIFFUSION_SAMPLED;
  return SDV_OK;
}

int sdv_mb_increment(const sdv_model *m, sdv_work *w, const double *x, sdv_stream *s, double *out) {
  const size_t d = m->dim, n = m->agents;
  const bool comp_ = m->method == sdv_method_dcsgd;
  const double r = comp_ ? sdv_stream_sign(s) : 1.0;
  gaussian_part(m, w, x, s, out);
  if (!comp_) return SDV_OK;
  const double c = r / (double)n;
  for (size_t i = 0; i < n; i++) {
    const int rc = sdv_model_minibatch_gradient(m, w, i, x, s, w->acc);
    if (rc) return rc;
    sdv_compressor_apply(w->comp[i], w->acc, w->ci, s);
    for (size_t j = 0; j < d; j++) out[j] += c * (w->ci[j] - w->acc[j]);
  }
  return SDV_OK;
}

/* b (may be NULL) and Sigma's diagonal diag at x, for DSignSGD (see the top of the file). */
static void sign_moments(const sdv_model *m, sdv_work *w, const double *x, double *b,
                         double *diag) {
  const size_t d = m->dim, n = m->agents;
  double *mean = w->ci, *var = w->tmp;
  for (size_t j = 0; j < d; j++) w->acc[j] = diag[j] = 0.0;
  for (size_t i = 0; i < n; i++) {
    shard_moments(m, w, i, x, mean, var);
    for (size_t j = 0; j < d; j++) {
      const double s2 = var[j] / (double)m->batch + m->var[i];
      if (!(s2 > 0.0)) { /* a deterministic sign */
        w->acc[j] += sign0(mean[j]);
        continue;
      }
      const double y = mean[j] / sqrt(2.0 * s2);
      const double mj = erf(y), tail = erfc(fabs(y)); /* 1 - |m|, accurate in the tails */
      w->acc[j] += mj;
      diag[j] += tail * (1.0 + fabs(mj));
    }
  }
  const double n2 = (double)n * (double)n;
  for (size_t j = 0; j < d; j++) diag[j] /= n2;
  if (b)
    for (size_t j = 0; j < d; j++) b[j] = -w->acc[j] / (double)n;
}

void sdv_mb_sign_drift(const sdv_model *m, sdv_work *w, const double *x, double *b) {
  const size_t d = m->dim;
  /* x may be b: keep it first, it is also the memo's key. */
  memmove(w->memo_x, x, d * sizeof *x);
  sign_moments(m, w, w->memo_x, b, w->memo_v);
  w->memo_valid = true;
}

int sdv_mb_sign_diffusion(const sdv_model *m, sdv_work *w, const double *x, sdv_diffusion *D) {
  const size_t d = m->dim;
  D->structure = SDV_DIFFUSION_DIAGONAL;
  if (w->memo_valid && memcmp(w->memo_x, x, d * sizeof *x) == 0) {
    memcpy(D->diag, w->memo_v, d * sizeof *D->diag);
    return SDV_OK;
  }
  sign_moments(m, w, x, NULL, D->diag);
  return SDV_OK;
}
