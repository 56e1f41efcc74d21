/* DSignSGD: each agent sends the coordinate-wise sign of its stochastic gradient and the
 * server AVERAGES the signs (docs/math/dsignsgd.md; theory §2, §4.3). Not majority vote.
 *
 * Discrete update, sign(0) = 0:
 *     x_{k+1} = x_k - eta U,   U = (1/N) sum_i sign(g_i),   g_i = grad f(x) + Z_i.
 * One-step moments. With a symmetric continuous law, Z_ij = scale_i T and
 * y_ij = d_j f(x) / scale_i, E sign(g_ij) = m_i(y_ij) = 2 F_i(y_ij) - 1 and
 * Var sign(g_ij) = 1 - m_i(y_ij)^2; coordinates and agents are independent, so
 *     E U_j = (1/N) sum_i m_ij,   Cov U = Diag_j( (1/N^2) sum_i (1 - m_ij^2) ).
 * SDE: dX = b(X) dt + sqrt(eta) S(X) dW with b_j = -(1/N) sum_i m_ij and S = Diag(sqrt(D_j)),
 * D_j = (1/N^2) sum_i (1 - m_ij^2) (DIAGONAL; entries in [0, 1/N]).
 * scale_i = sigma_i c_B is the scale of the minibatch noise: Gaussian c_B = B^-1/2, Cauchy
 * c_B = 1 (batching does not help), B = 1 for every law. Other laws with B > 1 have no
 * closed-form law of the mean, so validate() refuses them (SDV_ENOTSUP); the discrete step
 * alone would be fine. sigma_i = 0: the sign is deterministic, m = sign(d_j f) and its
 * variance is E sign^2 - m^2 = 0, including at d_j f = 0 where 1 - m^2 would say 1 (that is
 * the limit sigma_i -> 0+, not the value at sigma_i = 0; the moment test checks this).
 * Valid for every nu > 0 (bounded drift and diffusion), Cauchy included. m and 1 - m^2 come
 * from the noise type, which keeps relative accuracy near 0 and in the tails.
 * Cost: O(N d) with N divisions (1/scale_i once per agent), no allocation; with equal agents
 * (one law, one scale > 0) m and 1 - m^2 are evaluated once per coordinate, O(d + N).
 * Randomness of step(): Z_i from `noise`, agents in order; `comp` is not touched. Shortcut
 * (unless model->literal): with equal agents the sum of the N signs of a coordinate is
 * sign(y)(N - 2 B), B ~ Binomial(N, (1 - |m(y)|)/2), one binomial draw from `noise` per
 * coordinate (step_binomial; tests/test-shortcuts.c compares it with the literal step).
 * Reference value (tests/test-optimizer.c): Gaussian, N = 2, sigma = (0.5, 2), B = 1,
 * d_j f = 0.75: b_j = -0.5793625654038657, D_j = 0.29097839843832185.
 */
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/model.h>

#include "core/clones.h"
#include "core/rng_blocks.h"
#include "core/work.h"
#include "optimizer/coupled.h"
#include "optimizer/minibatch.h"

static int dsignsgd_validate(const sdv_model *m) {
  if (m->minibatch) return sdv_mb_validate(m);
  for (size_t i = 0; i < m->agents; i++)
    if (m->sigma[i] > 0.0 && isnan(m->scale[i]))
      return SDV_ERROR(SDV_ENOTSUP,
                       "dsignsgd: agent %zu: the mean of B = %zu '%s' draws has no closed-form "
                       "law, so the sign drift is unknown; use batch = 1, gaussian or cauchy "
                       "noise",
                       i + 1, m->batch, m->noise[i]->type->name);
  return SDV_OK;
}

static double sign0(double v) { return (v > 0.0) - (v < 0.0); }

/* m(y) and t = 1 - |m(y)| with relative accuracy for both and, where t <= 1/2, a single
 * evaluation of the law: there |m| = 1 - t >= 1/2 loses nothing. Where t > 1/2 (|m| < 1/2)
 * m comes from sign_mean itself, accurate near 0. Pure function of y: the drift and the
 * diffusion get the same bits whichever computes them. */
static inline void sign_pair(const sdv_noise *law, double y, double *mj, double *tj) {
  const double t = law->type->sign_tail(law->state, y);
  *tj = t;
  *mj = t <= 0.5 ? copysign(1.0 - t, y) : law->type->sign_mean(law->state, y);
}

/* sign_pair for y[0..d) into m and t (no overlap): the law's sign_pairs fast path where it
 * has one (Student-t nu = 3: one vectorised pass without libm, the same bits coordinate by
 * coordinate), any other law coordinate by coordinate. */
static void sign_pairs(const sdv_noise *law, const double *y, size_t d, double *m, double *t) {
  if (sdv_noise_sign_pairs(law, y, d, m, t)) return;
  for (size_t j = 0; j < d; j++) sign_pair(law, y[j], &m[j], &t[j]);
}

/* y = g inv (the loops of step_binomial are cloned: simple IEEE operations, the same bits in
 * both versions, lib/core/clones.h). */
static SDV_CLONES void scaled(size_t d, const double *restrict g, double inv, double *restrict y) {
  for (size_t j = 0; j < d; j++) y[j] = g[j] * inv;
}

/* q_j = t_j / 2; a NaN y gets q = NaN, which draws nothing. */
static SDV_CLONES void halves(size_t d, const double *restrict y, const double *restrict t,
                              double *restrict q) {
  for (size_t j = 0; j < d; j++) {
    const double h = 0.5 * t[j];
    q[j] = isnan(y[j]) ? NAN : h;
  }
}

/* x_j -= eta (a_j / n) with a_j = sign(y_j) (n - 2 b_j) the sum of the N signs (0 for a NaN
 * y). */
static SDV_CLONES void sign_update(size_t d, const double *restrict y, const double *restrict b,
                                   double n, double eta, double *restrict x) {
  for (size_t j = 0; j < d; j++) {
    /* Both sides computed, then selected: a form the vectoriser takes. */
    const double s = (y[j] < 0.0 ? -1.0 : 1.0) * (n - 2.0 * b[j]);
    const double a = isnan(y[j]) ? 0.0 : s;
    x[j] -= eta * (a / n);
  }
}

/* Shortcut for agents with one law and one scale s > 0: the N signs of coordinate j are
 * i.i.d., sign(g_j + s T) = -sign(y) with probability q = (1 - |m(y)|)/2, y = g_j/s (the
 * law is continuous: no zeros), so their sum is sign(y) (N - 2 B), B ~ Binomial(N, q), with
 * q from the law's sign_tail (accurate when small) and sign(0) taken as +1 (then q = 1/2 and
 * the sum is symmetric anyway). One tail evaluation and one binomial draw per coordinate
 * instead of N noise draws. A NaN gradient gives 0, as sign(NaN) does in the literal step. */
static void step_binomial(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise) {
  const size_t d = m->dim, n = m->agents;
  const sdv_noise *law = m->noise[0];
  /* First every tail (one vectorised pass for nu = 3), then the draws in coordinate order. */
  double *y = w->tmp, *t = w->ci;
  scaled(d, w->grad, 1.0 / m->scale[0], y);
  if (!sdv_noise_sign_pairs(law, y, d, w->gi, t))
    for (size_t j = 0; j < d; j++) t[j] = law->type->sign_tail(law->state, y[j]);
  double *q = w->gi, *b = w->noise;
  halves(d, y, t, q);
  sdv_rng_binomials(noise, n, q, d, b);
  sign_update(d, y, b, (double)n, m->eta, x);
}

/* A standard normal comonotone with the count b ~ Binomial(n, q): the randomised
 * probability integral transform u = P(B < b) + v P(B = b), v uniform on (0, 1), is uniform
 * on (0, 1) exactly, so Phi^-1(u) is N(0, 1); it is taken from whichever of u and 1 - u is
 * smaller, both summed from the pmf, so neither tail loses digits. The pmf comes from the
 * recurrence p_{k+1} = p_k (n - k) q / ((k + 1)(1 - q)) for n <= 512 (p_0 = (1 - q)^n
 * >= 2^-512 since q <= 1/2), from GSL's binomial distribution functions beyond. */
static double binomial_score(size_t n, double q, double b, double v) {
  double lower = 0.0, upper = 0.0, pb;
  if (!(q > 0.0)) {
    pb = 1.0; /* b = 0 surely */
  } else if (n <= 512) {
    const double r = q / (1.0 - q);
    double p = exp((double)n * log1p(-q));
    pb = 0.0;
    for (size_t k = 0; k <= n; k++) {
      if ((double)k < b)
        lower += p;
      else if ((double)k == b)
        pb = p;
      else
        upper += p;
      p *= (double)(n - k) / (double)(k + 1) * r;
    }
  } else {
    const unsigned bk = (unsigned)b;
    pb = gsl_ran_binomial_pdf(bk, q, (unsigned)n);
    lower = bk > 0 ? gsl_cdf_binomial_P(bk - 1, q, (unsigned)n) : 0.0;
    upper = gsl_cdf_binomial_Q(bk, q, (unsigned)n);
  }
  const double lo = lower + v * pb, hi = upper + (1.0 - v) * pb;
  return lo <= hi ? gsl_cdf_ugaussian_Pinv(lo) : gsl_cdf_ugaussian_Qinv(hi);
}

/* step() and, when xi != NULL, its coupled normals (docs/math/coupling.md). Shortcut: per
 * coordinate, sign(y) times the binomial score of the count of signs against y (a larger
 * count moves x toward +sign(y)), with v from aux; a NaN gradient gets a fresh normal.
 * Literal: the agents' coupled normals of their noise, equally weighted over the agents
 * with noise. The update and the draws from noise are the same either way. */
static int dsignsgd_advance(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                            sdv_stream *aux, double *xi) {
  const size_t d = m->dim, n = m->agents;
  sdv_objective_gradient(m->objective, x, w->grad);
  if (!m->literal && w->same_law) {
    step_binomial(m, w, x, noise);
    if (xi) { /* step_binomial left y in tmp, q in gi and the counts in noise */
      for (size_t j = 0; j < d; j++) {
        const double y = w->tmp[j], v = sdv_stream_uniform(aux);
        if (isnan(y)) {
          xi[j] = sdv_stream_normal(aux);
          continue;
        }
        const double z = binomial_score(n, w->gi[j], w->noise[j], v);
        xi[j] = y < 0.0 ? -z : z;
      }
    }
    return SDV_OK;
  }
  double a2 = 0.0;
  for (size_t j = 0; j < d; j++) w->acc[j] = 0.0;
  if (xi)
    for (size_t j = 0; j < d; j++) xi[j] = 0.0;
  for (size_t i = 0; i < n; i++) {
    if (xi && m->sigma[i] > 0.0) {
      sdv_model_draw_noise_coupled(m, i, noise, w->noise, w->tmp);
      for (size_t j = 0; j < d; j++) xi[j] += w->tmp[j];
      a2 += 1.0;
    } else {
      sdv_model_draw_noise(m, i, noise, w->noise);
    }
    for (size_t j = 0; j < d; j++) w->acc[j] += sign0(w->grad[j] + w->noise[j]);
  }
  for (size_t j = 0; j < d; j++) x[j] -= m->eta * (w->acc[j] / (double)n);
  if (xi) sdv_coupled_finish(d, xi, a2, aux, xi);
  return SDV_OK;
}

static int dsignsgd_step(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                         sdv_stream *comp) {
  if (m->minibatch) return sdv_mb_step(m, w, x, noise, comp);
  (void)comp;
  return dsignsgd_advance(m, w, x, noise, NULL, NULL);
}

static int dsignsgd_step_coupled(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                                 sdv_stream *comp, sdv_stream *aux, double *xi) {
  (void)comp;
  return dsignsgd_advance(m, w, x, noise, aux, xi);
}

static void dsignsgd_drift(const sdv_model *m, sdv_work *w, const double *x, double *b) {
  if (m->minibatch) {
    sdv_mb_sign_drift(m, w, x, b);
    return;
  }
  const size_t d = m->dim, n = m->agents;
  sdv_objective_gradient(m->objective, x, w->grad);
  if (w->same_law) {
    /* Equal agents: b_j = -m(y_j) and D_j = (1 - m(y_j)^2)/N = t_j (2 - t_j)/N, both from
     * one evaluation of the law where possible (sign_pairs), memoised for diffusion() at
     * this x. */
    const double inv = 1.0 / m->scale[0];
    for (size_t j = 0; j < d; j++) w->tmp[j] = w->grad[j] * inv;
    sign_pairs(m->noise[0], w->tmp, d, b, w->memo_v);
    for (size_t j = 0; j < d; j++) {
      const double tj = w->memo_v[j];
      b[j] = -b[j];
      w->memo_v[j] = tj * (2.0 - tj) / (double)n;
    }
    memcpy(w->memo_x, x, d * sizeof *x);
    w->memo_valid = true;
    return;
  }
  for (size_t j = 0; j < d; j++) b[j] = 0.0;
  for (size_t i = 0; i < n; i++) {
    if (m->sigma[i] == 0.0) {
      for (size_t j = 0; j < d; j++) b[j] += sign0(w->grad[j]);
      continue;
    }
    const double inv = 1.0 / m->scale[i];
    for (size_t j = 0; j < d; j++) b[j] += sdv_noise_sign_mean(m->noise[i], w->grad[j] * inv);
  }
  for (size_t j = 0; j < d; j++) b[j] = -b[j] / (double)n;
}

static int dsignsgd_diffusion(const sdv_model *m, sdv_work *w, const double *x, sdv_diffusion *D) {
  if (m->minibatch) return sdv_mb_sign_diffusion(m, w, x, D);
  const size_t d = m->dim, n = m->agents;
  const double n2 = (double)n * (double)n;
  D->structure = SDV_DIFFUSION_DIAGONAL;
  /* The drift's memo at this very x needs no gradient. */
  if (w->same_law && w->memo_valid && memcmp(w->memo_x, x, d * sizeof *x) == 0) {
    memcpy(D->diag, w->memo_v, d * sizeof *D->diag);
    return SDV_OK;
  }
  sdv_objective_gradient(m->objective, x, w->grad);
  if (w->same_law) { /* as in the drift */
    const double inv = 1.0 / m->scale[0];
    for (size_t j = 0; j < d; j++) w->tmp[j] = w->grad[j] * inv;
    sign_pairs(m->noise[0], w->tmp, d, w->gi, D->diag);
    for (size_t j = 0; j < d; j++) D->diag[j] = D->diag[j] * (2.0 - D->diag[j]) / (double)n;
    return SDV_OK;
  }
  for (size_t j = 0; j < d; j++) D->diag[j] = 0.0;
  for (size_t i = 0; i < n; i++) {
    if (m->sigma[i] == 0.0) continue; /* a deterministic sign has no variance */
    const double inv = 1.0 / m->scale[i];
    for (size_t j = 0; j < d; j++) D->diag[j] += sdv_noise_sign_var(m->noise[i], w->grad[j] * inv);
  }
  for (size_t j = 0; j < d; j++) D->diag[j] /= n2;
  return SDV_OK;
}

/* The lattice hooks (sdv/model.h): on a diagonal quadratic coordinate j moves by h s with
 * h = eta/N and s = sum_i sign_i in {-N, ..., N}; agent i sends +1 with probability
 * (1 + m_i(g / scale_i))/2 (a deterministic sign(g) when sigma_i = 0, 0 at g = 0). */
static int dsignsgd_lattice(const sdv_model *m, double *h, size_t *K, size_t *scratch) {
  for (size_t i = 0; i < m->agents; i++)
    if (m->sigma[i] > 0.0 && !isfinite(m->scale[i]))
      return SDV_ERROR(SDV_ENOTSUP,
                       "dsignsgd: agent %zu: the law of the minibatch noise is not known in "
                       "closed form (scale %g)",
                       i + 1, m->scale[i]);
  *h = m->eta / (double)m->agents;
  *K = m->agents;
  *scratch = 2 * m->agents + 1;
  return SDV_OK;
}

/* law[s + N] = P(sum of the N signs = s) at gradient g: the N three-point laws convolved
 * (O(N^2)). The minor probability 1 - |m| / 2 comes from the law's tail directly, so
 * probabilities near 0 and 1 keep their digits. */
static void dsignsgd_lattice_law(const sdv_model *m, double g, double *law, double *tmp) {
  const size_t n = m->agents, w = 2 * n + 1;
  for (size_t s = 0; s < w; s++) law[s] = 0.0;
  law[n] = 1.0;
  for (size_t i = 0; i < n; i++) {
    double pp, pm, p0 = 0.0;
    if (m->sigma[i] == 0.0) {
      const double sg = sign0(g);
      pp = sg > 0.0;
      pm = sg < 0.0;
      p0 = sg == 0.0;
    } else {
      const sdv_noise *nz = m->noise[i];
      const double y = g / m->scale[i];
      const double minor = 0.5 * nz->type->sign_tail(nz->state, fabs(y));
      pp = y >= 0.0 ? 1.0 - minor : minor;
      pm = y >= 0.0 ? minor : 1.0 - minor;
    }
    for (size_t s = 0; s < w; s++) {
      double v = p0 * law[s];
      if (s > 0) v += pp * law[s - 1];
      if (s + 1 < w) v += pm * law[s + 1];
      tmp[s] = v;
    }
    memcpy(law, tmp, w * sizeof *law);
  }
}

static const sdv_method_type dsignsgd_type = {
    .name = "dsignsgd",
    .help = "distributed sign SGD: x -= eta * mean_i sign(grad f + Z_i) (averaged, sign(0) = 0)",
    .uses_compressor = false,
    .validate = dsignsgd_validate,
    .step = dsignsgd_step,
    .drift = dsignsgd_drift,
    .diffusion = dsignsgd_diffusion,
    .increment = NULL,
    .step_coupled = dsignsgd_step_coupled,
    .family = SDV_METHOD_FAMILY_SIGN,
    .lattice = dsignsgd_lattice,
    .lattice_law = dsignsgd_lattice_law,
    .scratch = sdv_mb_scratch,
};

const sdv_method_type *const sdv_method_dsignsgd = &dsignsgd_type;
