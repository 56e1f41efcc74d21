/* DCSGD: distributed SGD where each agent sends an unbiased compression of its stochastic
 * gradient (docs/math/dcsgd.md; theory §2, §3, §4.2).
 *
 * Discrete update. g_i = grad f(x) + Z_i as in DSGD; agent i sends C_i(g_i) with its own
 * compressor randomness; the server averages:
 *     x_{k+1} = x_k - eta U,   U = (1/N) sum_i C_i(g_i).
 * One-step moments (given x, g = grad f(x)): E U = g, and since a compressor's error has mean
 * zero given its input and agents are independent (no cross terms),
 *     Cov U = Sigma(x) = (1/N^2) sum_i [ v_i I + E_Z Phi_i(g + Z_i) ],
 * Phi_i(v) = Cov C_i(v) the compressor's error covariance.
 * SDE: dX = -grad f(X) dt + sqrt(eta) S(X) dW, S S^T = Sigma(X).
 *
 * Closed form (route AUTO, every compressor linear: Phi_i(v) = a_i Diag(v_j^2) - c_i v v^T).
 * With E (g+Z)(g+Z)^T = g g^T + v_i I the expectation is linear in that matrix, so
 *     Sigma = Diag_j( (1/N^2) sum_i [ v_i + a_i (g_j^2 + v_i) - c_i v_i ] )
 *             - ((1/N^2) sum_i c_i) g g^T,
 * DIAGONAL when every c_i = 0, else DIAG_RANK1 with u = g. Bernoulli(p): a = 1/p - 1 = omega,
 * c = 0, so D_j = (1/N) [mean v + mean omega v + mean omega g_j^2] (theory §4.2). rand-k:
 * a = omega d/(d-1), c = omega/(d-1), so D_j = (1/N^2) sum_i [(1+omega_i) v_i +
 * omega_i d/(d-1) g_j^2] and beta = (1/N^2) sum_i omega_i/(d-1) (theory §4.2).
 *
 * Generic route (any other compressor, e.g. qsgd, natural, a user's; or route SAMPLED).
 * diffusion() reports SAMPLED and increment() draws
 *     zeta = s (1/N) sum_i (C_i(g + Z_i) - g),   s = +-1 with probability 1/2,
 * from the one stream it is given: first s, then for each agent in order Z_i, then C_i's
 * randomness. zeta is U - E U times an independent sign: mean 0, covariance exactly Sigma(x),
 * and a symmetric law (zeta and -zeta have the same law), so all odd moments vanish. An Euler
 * step X + h b + sqrt(eta h) zeta therefore matches the Gaussian Euler step in its first,
 * second and third moments; by the weak Euler theorem (Kloeden & Platen 1992, Thm 14.5.2;
 * Milstein) that is what weak order 1 needs, provided the fourth moment of zeta is bounded
 * (noise with finite fourth moments: Gaussian, Student-t with nu > 4).
 *
 * Assumptions: finite v_i. With Student-t nu <= 2 diffusion() returns SDV_ENOTSUP (no SDE; the
 * discrete step still runs). Randomness of step(): Z_i from `noise`, C_i from `comp`, agents
 * in order 0..N-1 on each stream. Shortcut (unless model->literal): when every agent's
 * compressor is a random sparsifier of one type (the subsets hook, sdv/compressor.h: rand-k),
 * only the kept coordinates of each agent get noise (step_sparse below); same law, other
 * draws from `noise` (tests/test-shortcuts.c compares the two).
 * Reference value (tests/test-optimizer.c): N = 2, Bernoulli p = (0.5, 0.25), Gaussian
 * sigma = (1, 2), B = 1, g_j = 2: D_j = (1/4)[2*1 + 1*4 + 4*4 + 3*4] = 8.5.
 */
#include <math.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/model.h>

#include "core/clones.h"
#include "core/rank1.h"
#include "core/work.h"
#include "optimizer/coupled.h"
#include "optimizer/minibatch.h"

/* DCSGD's own scratch (sdv_method_type.scratch, one per sdv_work): the closed-form
 * diffusion's sums over the agents, which depend on the model only and are decided at the
 * first diffusion() call (linear_setup), and the sparsifier shortcut's subsets. The arrays
 * follow the struct in the same allocation; scratch_of points them there on first use. */
typedef struct dcsgd_scratch {
  bool lin_ready;   /* linear_setup has run */
  bool lin_sampled; /* no closed form: SAMPLED route */
  double lin_base, lin_asum, lin_csum;
  double lin_inv_n2; /* 1/N^2 when multiplying by it is exact (N a power of 2), else 0 */
  double *knoise;    /* [N d] the kept coordinates' noise */
  double *kscale;    /* [N] each agent's sparsifier scale */
  size_t *kept;      /* [N d] coordinates the agents' subsets kept */
  size_t *nkept;     /* [N] how many each agent kept */
} dcsgd_scratch;

static size_t dcsgd_scratch_bytes(const sdv_model *m) {
  /* Minibatch models run lib/optimizer/minibatch.c's functions, with its scratch. */
  if (m->minibatch) return sdv_mb_scratch(m);
  const size_t n = m->agents, nd = n * m->dim;
  return sizeof(dcsgd_scratch) + (nd + n) * sizeof(double) + (nd + n) * sizeof(size_t);
}

static dcsgd_scratch *scratch_of(const sdv_model *m, sdv_work *w) {
  dcsgd_scratch *s = sdv_work_scratch(w);
  if (!s->kept) {
    const size_t n = m->agents, nd = n * m->dim;
    s->knoise = (double *)(s + 1);
    s->kscale = s->knoise + nd;
    s->kept = (size_t *)(s->kscale + n);
    s->nkept = s->kept + nd;
  }
  return s;
}

static int dcsgd_validate(const sdv_model *m) {
  if (!m->compressor) return SDV_ERROR(SDV_EINVAL, "dcsgd: the model has no compressors");
  return m->minibatch ? sdv_mb_validate(m) : SDV_OK;
}

/* One coordinate of agent i's minibatch noise, with the law sdv_model_draw_noise gives each
 * coordinate (coordinates are i.i.d.): scale_i T when the law is stable under averaging,
 * else sigma_i/B times the sum of B draws; exactly 0 without drawing when sigma_i = 0. */
static inline double noise_one(const sdv_model *m, size_t i, sdv_stream *s) {
  const double scale = m->scale[i];
  if (scale == 0.0) return 0.0;
  if (!isnan(scale)) return scale * sdv_noise_sample(m->noise[i], s);
  double sum = 0.0;
  for (size_t b = 0; b < m->batch; b++) sum += sdv_noise_sample(m->noise[i], s);
  return m->sigma[i] / (double)m->batch * sum;
}

/* One coordinate's noise as noise_one, and its coupled standard normal in *zn (the
 * normalised sum of the B draws' normals; a fresh normal from aux when sigma_i = 0). */
static inline double noise_one_coupled(const sdv_model *m, size_t i, sdv_stream *s,
                                       sdv_stream *aux, double *zn) {
  const double scale = m->scale[i];
  if (scale == 0.0) {
    *zn = sdv_stream_normal(aux);
    return 0.0;
  }
  double t, n;
  if (!isnan(scale)) {
    sdv_noise_sample_coupled(m->noise[i], s, &t, &n, 1);
    *zn = n;
    return scale * t;
  }
  double sum = 0.0, nsum = 0.0;
  for (size_t b = 0; b < m->batch; b++) {
    sdv_noise_sample_coupled(m->noise[i], s, &t, &n, 1);
    sum += t;
    nsum += n;
  }
  *zn = nsum / sqrt((double)m->batch);
  return m->sigma[i] / (double)m->batch * sum;
}

/* Agent i's weight in the coupled normals: its noise standard deviation (0 without noise). */
static inline double coupled_weight(const sdv_model *m, size_t i) {
  const double a = m->sigma[i] > 0.0 ? sqrt(m->var[i]) : 0.0;
  return isfinite(a) ? a : 0.0;
}

/* Shortcut for sparsifying agents (every compressor of one type with the subsets hook, e.g.
 * rand-k): C_i(g + Z_i) is scale_i (g_j + Z_ij) on the kept set and 0 elsewhere, so only the
 * kept coordinates need noise. The subsets come from `comp` exactly as in the literal step
 * (all agents' in one call: only the subsets use that stream); the noise of the kept
 * coordinates, in kept order, from `noise`. Same law as the literal step (the Z_ij are i.i.d.
 * and independent of the subset), with k instead of d noise draws per agent and no d-vector
 * per agent. Agents with normal laws draw every agent's normals in one call (a zero scale
 * then multiplies its draws by 0).
 * Coupled (sh != NULL): agent i's normal for coordinate j is the coupled normal of Z_ij where
 * it was drawn (kept) and a fresh normal from aux elsewhere; independent of the subset, so
 * still N(0, I). sh accumulates them weighted by coupled_weight, *a2 the squared weights. */
static void step_sparse(const sdv_model *m, sdv_work *w, sdv_stream *noise, sdv_stream *comp,
                        sdv_stream *aux, double *sh, double *a2) {
  const size_t d = m->dim, n = m->agents;
  dcsgd_scratch *S = scratch_of(m, w);
  const size_t total = w->comp[0]->type->subsets(w->comp, n, comp, S->kept, S->nkept, S->kscale);
  if (w->all_normal) {
    /* All agents' kept-coordinate normals in one call (noise stream): the same numbers, in
     * the same order, as agent by agent. */
    sdv_stream_normals(noise, S->knoise, total);
    for (size_t i = 0, o = 0; i < n; o += S->nkept[i], i++) {
      const size_t k = S->nkept[i];
      const double sc = S->kscale[i], scale = m->scale[i];
      for (size_t t = 0; t < k; t++) {
        const size_t j = S->kept[o + t];
        w->acc[j] += sc * (w->grad[j] + scale * S->knoise[o + t]);
      }
      const double a = sh ? coupled_weight(m, i) : 0.0;
      if (a > 0.0) {
        sdv_stream_normals(aux, w->tmp, d);
        for (size_t t = 0; t < k; t++) w->tmp[S->kept[o + t]] = S->knoise[o + t];
        for (size_t j = 0; j < d; j++) sh[j] += a * w->tmp[j];
        *a2 += a * a;
      }
    }
    return;
  }
  for (size_t i = 0, o = 0; i < n; o += S->nkept[i], i++) {
    const size_t k = S->nkept[i], *kept = S->kept + o;
    const double sc = S->kscale[i], scale = m->scale[i];
    const double a = sh ? coupled_weight(m, i) : 0.0;
    if (a > 0.0) sdv_stream_normals(aux, w->tmp, d);
    if (isnan(scale)) {
      for (size_t t = 0; t < k; t++) {
        const size_t j = kept[t];
        const double z = a > 0.0 ? noise_one_coupled(m, i, noise, aux, &w->tmp[j])
                                 : noise_one(m, i, noise);
        w->acc[j] += sc * (w->grad[j] + z);
      }
    } else {
      if (scale != 0.0) { /* the k draws at once (noise_one's values, in the same order) */
        if (a > 0.0) {
          sdv_noise_sample_coupled(m->noise[i], noise, w->noise, w->gi, k);
          for (size_t t = 0; t < k; t++) w->tmp[kept[t]] = w->gi[t];
        } else {
          sdv_noise_sample_n(m->noise[i], noise, w->noise, k);
        }
      }
      for (size_t t = 0; t < k; t++) {
        const size_t j = kept[t];
        w->acc[j] += sc * (w->grad[j] + (scale == 0.0 ? 0.0 : scale * w->noise[t]));
      }
    }
    if (a > 0.0) {
      for (size_t j = 0; j < d; j++) sh[j] += a * w->tmp[j];
      *a2 += a * a;
    }
  }
}

/* step() and, when xi != NULL, its coupled normals (docs/math/coupling.md): the agents'
 * coupled normals of their gradient noise weighted by its standard deviation; the
 * compressor's randomness stays independent. The update and the draws from noise and comp
 * are the same either way. */
static int dcsgd_advance(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                         sdv_stream *comp, sdv_stream *aux, double *xi) {
  const size_t d = m->dim, n = m->agents;
  double a2 = 0.0;
  sdv_objective_gradient(m->objective, x, w->grad);
  if (xi)
    for (size_t j = 0; j < d; j++) xi[j] = 0.0;
  for (size_t j = 0; j < d; j++) w->acc[j] = 0.0;
  if (!m->literal && w->all_subsets) {
    step_sparse(m, w, noise, comp, aux, xi, &a2);
  } else {
    for (size_t i = 0; i < n; i++) {
      const double a = xi ? coupled_weight(m, i) : 0.0;
      if (a > 0.0) {
        sdv_model_draw_noise_coupled(m, i, noise, w->noise, w->tmp);
        for (size_t j = 0; j < d; j++) xi[j] += a * w->tmp[j];
        a2 += a * a;
      } else {
        sdv_model_draw_noise(m, i, noise, w->noise);
      }
      for (size_t j = 0; j < d; j++) w->gi[j] = w->grad[j] + w->noise[j];
      sdv_compressor_apply(w->comp[i], w->gi, w->ci, comp);
      for (size_t j = 0; j < d; j++) w->acc[j] += w->ci[j];
    }
  }
  for (size_t j = 0; j < d; j++) x[j] -= m->eta * (w->acc[j] / (double)n);
  if (xi) sdv_coupled_finish(d, xi, a2, aux, xi);
  return SDV_OK;
}

static int dcsgd_step(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                      sdv_stream *comp) {
  if (m->minibatch) return sdv_mb_step(m, w, x, noise, comp);
  return dcsgd_advance(m, w, x, noise, comp, NULL, NULL);
}

static int dcsgd_step_coupled(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                              sdv_stream *comp, sdv_stream *aux, double *xi) {
  return dcsgd_advance(m, w, x, noise, comp, aux, xi);
}

/* b = -g (b may be g's input x, never g itself). */
static SDV_CLONES void negate(size_t d, const double *restrict g, double *restrict b) {
  for (size_t j = 0; j < d; j++) b[j] = -g[j];
}

/* b = -grad f(x). The gradient is memoised for diffusion() at the same x (the Euler step
 * takes both there): with its x, or, inside the Euler step (w->pair_x), without, since
 * diffusion() is then known to come next at this x. A pure function of x, so the memo gives
 * the same bits. */
static void dcsgd_drift(const sdv_model *m, sdv_work *w, const double *x, double *b) {
  if (m->minibatch) {
    sdv_mb_drift(m, w, x, b);
    return;
  }
  const size_t d = m->dim;
  w->memo_valid = !w->pair_x;
  if (w->memo_valid) memcpy(w->memo_x, x, d * sizeof *x); /* first: b may be x */
  sdv_objective_gradient(m->objective, x, w->memo_v);
  negate(d, w->memo_v, b);
}

/* True if every agent's compressor declares the linear form. The
 * type hook is called directly: "not linear" is an answer here, not an error to report. */
static bool all_linear(const sdv_model *m) {
  for (size_t i = 0; i < m->agents; i++)
    if (!m->compressor[i]->type->linear) return false;
  return true;
}

/* What diffusion() needs that depends on the model only, decided at the first call and kept
 * in DCSGD's scratch: whether there is an SDE, the route, and the sums over the agents
 *   base = sum_i (1 + a_i - c_i) v_i,  asum = sum_i a_i,  csum = sum_i c_i,
 * so that each call costs O(d). A model without an SDE is not kept: every call reports it. */
static int linear_setup(const sdv_model *m, dcsgd_scratch *w) {
  const size_t n = m->agents;
  for (size_t i = 0; i < n; i++)
    if (isinf(m->var[i]))
      return SDV_ERROR(SDV_ENOTSUP,
                       "dcsgd: no SDE: noise variance is infinite (student-t nu <= 2) for "
                       "agent %zu",
                       i + 1);
  if (m->sde_route == SDV_SDE_SAMPLED || !all_linear(m)) {
    w->lin_sampled = true;
    w->lin_ready = true;
    return SDV_OK;
  }
  double base = 0.0, asum = 0.0, csum = 0.0;
  for (size_t i = 0; i < n; i++) {
    const sdv_compressor *c = m->compressor[i];
    double a, cc;
    const int rc = c->type->linear(c->state, c->dim, &a, &cc);
    if (rc) return rc;
    base += m->var[i] + a * m->var[i] - cc * m->var[i];
    asum += a;
    csum += cc;
  }
  w->lin_base = base;
  w->lin_asum = asum;
  w->lin_csum = csum;
  /* Dividing by N^2 = 2^e is multiplying by 2^-e, bit for bit: both round the same real
   * number (1/N^2 is exact). Other N keep the division. */
  const double n2 = (double)n * (double)n;
  int e;
  w->lin_inv_n2 = frexp(n2, &e) == 0.5 ? 1.0 / n2 : 0.0;
  w->lin_sampled = false;
  w->lin_ready = true;
  return SDV_OK;
}

/* D_j = (base + asum g_j^2) / N^2, as a product with inv_n2 when that is exact (see
 * linear_setup). */
static SDV_CLONES void linear_diag(size_t d, const double *restrict g, double base, double asum,
                                   double n2, double inv_n2, double *restrict diag) {
  if (inv_n2 > 0.0)
    for (size_t j = 0; j < d; j++) diag[j] = (base + asum * g[j] * g[j]) * inv_n2;
  else
    for (size_t j = 0; j < d; j++) diag[j] = (base + asum * g[j] * g[j]) / n2;
}

static int dcsgd_diffusion(const sdv_model *m, sdv_work *w, const double *x, sdv_diffusion *D) {
  if (m->minibatch) return sdv_mb_diffusion(m, w, x, D);
  const size_t d = m->dim, n = m->agents;
  dcsgd_scratch *S = scratch_of(m, w);
  if (!S->lin_ready) {
    const int rc = linear_setup(m, S);
    if (rc) return rc;
  }
  if (S->lin_sampled) {
    D->structure = SDV_DIFFUSION_SAMPLED;
    return SDV_OK;
  }
  /* Sigma = Diag(base + asum g_j^2)/N^2 - (csum/N^2) g g^T with g = grad f(x): the drift's
   * memo when it was taken at this very x (dcsgd_drift). */
  const double *g = w->memo_v;
  if (!w->pair_x && !(w->memo_valid && memcmp(w->memo_x, x, d * sizeof *x) == 0)) {
    sdv_objective_gradient(m->objective, x, w->grad);
    g = w->grad;
  }
  const double csum = S->lin_csum, n2 = (double)n * (double)n;
  D->structure = csum == 0.0 ? SDV_DIFFUSION_DIAGONAL : SDV_DIFFUSION_DIAG_RANK1;
  linear_diag(d, g, S->lin_base, S->lin_asum, n2, S->lin_inv_n2, D->diag);
  if (csum != 0.0) {
    memcpy(D->u, g, d * sizeof *g);
    D->beta = csum / n2;
  }
  return SDV_OK;
}

/* The Euler step on the closed-form route with c_i > 0 (rand-k), fused (docs/performance.md):
 * given g = grad f(x), one pass forms D_j as linear_diag does, s_j = sqrt(D_j), s_j xi_j
 * (into t) and the sums of rank1_positive_kernel (lib/diffusion/diffusion.c) in its four
 * lanes; a second pass forms z_j = s_j xi_j - gamma c u_j with u = g and the update
 * x_j += h (-g_j) + c z_j of em_update. The same operations on the same values in the same
 * order as drift(), diffusion(), sdv_diffusion_apply and em_update, so the same bits, with
 * three passes over d instead of eight (tests/test-integrator.c compares the two). Returns
 * false, x untouched, where rank1_positive_kernel would hand over to the general path. */
static SDV_CLONES bool rank1_em_kernel(size_t d, const double *restrict g, double base, double asum,
                                       double n2, double inv_n2, double beta,
                                       const double *restrict xi, double h, double c,
                                       double *restrict t, double *restrict x) {
  sdv_v4d a = {0.0, 0.0, 0.0, 0.0}, b = {0.0, 0.0, 0.0, 0.0};
  size_t j = 0;
  for (; j + 4 <= d; j += 4) {
    sdv_v4d gj, dj;
    memcpy(&gj, g + j, sizeof gj);
    const sdv_v4d q = base + asum * gj * gj;
    if (inv_n2 > 0.0)
      dj = q * inv_n2;
    else
      dj = q / n2;
    double dd[4];
    memcpy(dd, &dj, sizeof dd);
    sdv_rank1_block(dd, g + j, xi + j, t + j, &a, &b);
  }
  for (; j < d; j++) {
    const double q = base + asum * g[j] * g[j];
    const double sj = sqrt(inv_n2 > 0.0 ? q * inv_n2 : q / n2), wj = g[j] / sj;
    t[j] = sj * xi[j];
    a[0] += wj * wj;
    b[0] += wj * xi[j];
  }
  double gamma;
  if (!sdv_rank1_gamma(beta, (a[0] + a[1]) + (a[2] + a[3]), &gamma)) return false;
  const double gc = gamma * ((b[0] + b[1]) + (b[2] + b[3]));
  for (size_t l = 0; l < d; l++) {
    const double z = t[l] - gc * g[l];
    x[l] += h * -g[l] + c * z;
  }
  return true;
}

static int dcsgd_em_step(const sdv_model *m, sdv_work *w, double h, double c, double *x,
                         const double *xi, double *scratch, bool *done) {
  *done = false;
  /* scale_covariance would change D, beta; minibatch models are on the sampled route. */
  if (m->diffusion_scale != 1.0 || m->minibatch) return SDV_OK;
  dcsgd_scratch *S = scratch_of(m, w);
  if (!S->lin_ready) {
    const int rc = linear_setup(m, S);
    if (rc) return rc;
  }
  const double n2 = (double)m->agents * (double)m->agents, beta = S->lin_csum / n2;
  if (S->lin_sampled || !(beta > 0.0) || !isfinite(beta)) return SDV_OK;
  /* The gradient goes to the memo's storage, which then no longer describes its x. */
  w->memo_valid = false;
  sdv_objective_gradient(m->objective, x, w->memo_v);
  *done = rank1_em_kernel(m->dim, w->memo_v, S->lin_base, S->lin_asum, n2, S->lin_inv_n2, beta, xi,
                          h, c, scratch, x);
  return SDV_OK;
}

static int dcsgd_increment(const sdv_model *m, sdv_work *w, const double *x, sdv_stream *s,
                           double *out) {
  if (m->minibatch) return sdv_mb_increment(m, w, x, s, out);
  const size_t d = m->dim, n = m->agents;
  const double sign = sdv_stream_sign(s);
  sdv_objective_gradient(m->objective, x, w->grad);
  for (size_t j = 0; j < d; j++) w->acc[j] = 0.0;
  for (size_t i = 0; i < n; i++) {
    sdv_model_draw_noise(m, i, s, w->noise);
    for (size_t j = 0; j < d; j++) w->gi[j] = w->grad[j] + w->noise[j];
    sdv_compressor_apply(w->comp[i], w->gi, w->ci, s);
    /* Summing the differences keeps digits: they are O(noise), the messages O(g). */
    for (size_t j = 0; j < d; j++) w->acc[j] += w->ci[j] - w->grad[j];
  }
  for (size_t j = 0; j < d; j++) out[j] = sign * (w->acc[j] / (double)n);
  return SDV_OK;
}

static const sdv_method_type dcsgd_type = {
    .name = "dcsgd",
    .help = "distributed compressed SGD: x -= eta * mean_i C_i(grad f + Z_i), unbiased C_i",
    .uses_compressor = true,
    .validate = dcsgd_validate,
    .step = dcsgd_step,
    .drift = dcsgd_drift,
    .diffusion = dcsgd_diffusion,
    .increment = dcsgd_increment,
    .em_step = dcsgd_em_step,
    .step_coupled = dcsgd_step_coupled,
    .scratch = dcsgd_scratch_bytes,
    .family = SDV_METHOD_FAMILY_LINEAR,
};

const sdv_method_type *const sdv_method_dcsgd = &dcsgd_type;
