/* signSGD with majority vote (Bernstein, Zhao, Azizzadenesheli, Anandkumar, ICLR 2019) as an
 * sdv method written outside the library: a type table registered with sdv_method_register.
 * The derivation of its SDE is in README.md ("The SDE").
 *
 * Discrete update. Agent i sends s_ij = sign(g_j + Z_ij) (sign(0) = 0), g = grad f(x), Z_i its
 * gradient noise (the model's laws, scales and batch size, drawn by sdv_model_draw_noise);
 * the server broadcasts the vote V_j = sign(sum_i s_ij) and every agent steps
 *     x_{k+1} = x_k - eta V.
 * One-step moments. Coordinates are independent given x. With p_ij = P(s_ij = +1) =
 * (1 + m_i(g_j / scale_i))/2, the number K_j of agents voting + is Poisson-binomial, and
 *     P+_j = P(2 K_j - N > 0),  P-_j = P(2 K_j - N < 0)     (a tie, even N, votes 0),
 *     E V_j = P+_j - P-_j,      Var V_j = P+_j + P-_j - (P+_j - P-_j)^2.
 * SDE: dX = b(X) dt + sqrt(eta) S(X) dW with b_j = -(P+_j - P-_j) and S = Diag(sqrt(D_j)),
 * D_j = Var V_j. Agents with sigma_i = 0 vote sign(g_j) for sure.
 * Coupling (docs/math/coupling.md of sdv): the coupled normal of coordinate j is
 * -Phi^-1(u), u the randomised probability integral transform of V_j, exactly N(0, 1).
 * Scratch (method-owned, sdv_work_scratch): grad, z, acc (d each), the pmf (N + 1, twice)
 * and the memo of the drift and diffusion (1 + 3 d).
 * Exact discrete law (sdv's lattice hooks): on a diagonal quadratic each coordinate moves by
 * eta V_j, V_j in {-1, 0, +1} with the law above at g_j = lam_j x_j, so it lives on the
 * lattice x0_j + eta Z and sdv pushes its law forward exactly (h = eta, K = 1).
 */
#include <math.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#include <sdv/errors.h>
#include <sdv/model.h>
#include <sdv/plugin.h>

/* memo_x, memo_b, memo_d: the drift and diffusion computed together at memo_x (the Euler
 * step asks for both at the same x: one gradient and one vote law per coordinate serve
 * both); memo[0] says whether the memo is valid. */
typedef struct mv_scratch {
  double *grad, *z, *acc, *pmf, *next, *memo, *memo_x, *memo_b, *memo_d;
} mv_scratch;

static size_t mv_scratch_bytes(const sdv_model *m) {
  return (6 * m->dim + 2 * (m->agents + 1) + 1) * sizeof(double);
}

static mv_scratch scratch_of(const sdv_model *m, sdv_work *w) {
  double *b = sdv_work_scratch(w);
  const size_t d = m->dim, n1 = m->agents + 1;
  double *p = b + 3 * d + 2 * n1;
  return (mv_scratch){.grad = b, .z = b + d, .acc = b + 2 * d, .pmf = b + 3 * d,
                      .next = b + 3 * d + n1, .memo = p, .memo_x = p + 1,
                      .memo_b = p + 1 + d, .memo_d = p + 1 + 2 * d};
}

static double sign0(double v) { return (v > 0.0) - (v < 0.0); }

static int mv_validate(const sdv_model *m) {
  for (size_t i = 0; i < m->agents; i++)
    if (m->sigma[i] > 0.0 && isnan(m->scale[i]))
      return SDV_ERROR(SDV_ENOTSUP,
                       "majority-vote: agent %zu: the mean of B = %zu '%s' draws has no "
                       "closed-form law, so the vote's law is unknown; use batch = 1, "
                       "gaussian or cauchy noise",
                       i + 1, m->batch, m->noise[i]->type->name);
  return SDV_OK;
}

/* P(V = -1), P(V = 0), P(V = +1) for coordinate value g (the gradient's j-th entry): the
 * Poisson-binomial law of the + votes of the noisy agents by the O(N^2) recursion, shifted by
 * the deterministic votes of the agents without noise. */
static void vote_law(const sdv_model *m, mv_scratch *s, double g, double *pm, double *p0,
                     double *pp) {
  const size_t n = m->agents;
  size_t k = 0;      /* noisy agents so far */
  double shift = 0.0; /* sum of the deterministic votes */
  s->pmf[0] = 1.0;
  for (size_t i = 0; i < n; i++) {
    if (!(m->sigma[i] > 0.0)) {
      shift += sign0(g);
      continue;
    }
    const double p = 0.5 * (1.0 + sdv_noise_sign_mean(m->noise[i], g / m->scale[i]));
    s->next[0] = s->pmf[0] * (1.0 - p);
    for (size_t c = 1; c <= k; c++) s->next[c] = s->pmf[c] * (1.0 - p) + s->pmf[c - 1] * p;
    s->next[k + 1] = s->pmf[k] * p;
    k++;
    memcpy(s->pmf, s->next, (k + 1) * sizeof *s->pmf);
  }
  *pm = *p0 = *pp = 0.0;
  for (size_t c = 0; c <= k; c++) {
    const double sum = shift + 2.0 * (double)c - (double)k;
    if (sum > 0)
      *pp += s->pmf[c];
    else if (sum < 0)
      *pm += s->pmf[c];
    else
      *p0 += s->pmf[c];
  }
}

/* The vote per coordinate into acc (sum of the agents' signs first). With zn != NULL also the
 * coupled normals: each draw's noise normal is not needed, only the vote's law. */
static int mv_advance(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                      sdv_stream *aux, double *xi) {
  mv_scratch s = scratch_of(m, w);
  const size_t d = m->dim, n = m->agents;
  sdv_objective_gradient(m->objective, x, s.grad);
  for (size_t j = 0; j < d; j++) s.acc[j] = 0.0;
  for (size_t i = 0; i < n; i++) {
    sdv_model_draw_noise(m, i, noise, s.z);
    for (size_t j = 0; j < d; j++) s.acc[j] += sign0(s.grad[j] + s.z[j]);
  }
  for (size_t j = 0; j < d; j++) {
    const double v = sign0(s.acc[j]);
    if (xi) {
      /* u = P(V < v) + U P(V = v) is exactly uniform; -Phi^-1(u) moves with -V, as the
       * step's fluctuation does. */
      double pm, p0, pp;
      vote_law(m, &s, s.grad[j], &pm, &p0, &pp);
      const double below = v > 0 ? pm + p0 : v < 0 ? 0.0 : pm;
      const double above = v > 0 ? 0.0 : v < 0 ? p0 + pp : pp;
      const double at = v > 0 ? pp : v < 0 ? pm : p0;
      const double U = sdv_stream_uniform(aux);
      const double lo = below + U * at, hi = above + (1.0 - U) * at;
      const double z = lo <= hi ? gsl_cdf_ugaussian_Pinv(lo) : gsl_cdf_ugaussian_Qinv(hi);
      xi[j] = isfinite(z) ? -z : sdv_stream_normal(aux);
    }
    x[j] -= m->eta * v;
  }
  return SDV_OK;
}

static int mv_step(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                   sdv_stream *comp) {
  (void)comp;
  return mv_advance(m, w, x, noise, NULL, NULL);
}

static int mv_step_coupled(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                           sdv_stream *comp, sdv_stream *aux, double *xi) {
  (void)comp;
  return mv_advance(m, w, x, noise, aux, xi);
}

/* Drift and diffusion at x into the memo (unless it already holds x). */
static void mv_coefficients(const sdv_model *m, sdv_work *w, const double *x, mv_scratch *s) {
  const size_t d = m->dim;
  if (s->memo[0] != 0.0 && memcmp(s->memo_x, x, d * sizeof *x) == 0) return;
  sdv_objective_gradient(m->objective, x, s->grad);
  for (size_t j = 0; j < d; j++) {
    double pm, p0, pp;
    vote_law(m, s, s->grad[j], &pm, &p0, &pp);
    const double mean = pp - pm, var = pp + pm - mean * mean;
    s->memo_b[j] = -mean;
    s->memo_d[j] = var > 0.0 ? var : 0.0;
  }
  memcpy(s->memo_x, x, d * sizeof *x);
  s->memo[0] = 1.0;
}

static void mv_drift(const sdv_model *m, sdv_work *w, const double *x, double *b) {
  mv_scratch s = scratch_of(m, w);
  mv_coefficients(m, w, x, &s);
  memmove(b, s.memo_b, m->dim * sizeof *b); /* b may be x */
}

static int mv_diffusion(const sdv_model *m, sdv_work *w, const double *x, sdv_diffusion *D) {
  mv_scratch s = scratch_of(m, w);
  mv_coefficients(m, w, x, &s);
  D->structure = SDV_DIFFUSION_DIAGONAL;
  memcpy(D->diag, s.memo_d, m->dim * sizeof *D->diag);
  return SDV_OK;
}

/* The lattice hooks (sdv/model.h): h = eta, K = 1, law = (P(V = -1), P(V = 0), P(V = +1))
 * at g; the vote's law needs the pmf (2 (N + 1) doubles of scratch). The model is validated
 * already (every noisy agent's law is known), so there is always a lattice. */
static int mv_lattice(const sdv_model *m, double *h, size_t *K, size_t *scratch) {
  *h = m->eta;
  *K = 1;
  *scratch = 2 * (m->agents + 1);
  return SDV_OK;
}

/* x -= eta V: s = V, so law[0] = P(V = -1), law[1] = P(V = 0), law[2] = P(V = +1). */
static void mv_lattice_law(const sdv_model *m, double g, double *law, double *scratch) {
  mv_scratch s = {.pmf = scratch, .next = scratch + m->agents + 1};
  vote_law(m, &s, g, &law[0], &law[1], &law[2]);
}

static const sdv_method_type majority_vote_type = {
    .name = "majority-vote",
    .help = "signSGD with majority vote: x -= eta * sign(sum_i sign(grad f + Z_i)) (example "
            "plugin)",
    .uses_compressor = false,
    .validate = mv_validate,
    .step = mv_step,
    .drift = mv_drift,
    .diffusion = mv_diffusion,
    .step_coupled = mv_step_coupled,
    .scratch = mv_scratch_bytes,
    .lattice = mv_lattice,
    .lattice_law = mv_lattice_law,
};

const sdv_method_type *const majority_vote = &majority_vote_type;

int sdv_plugin_init(void);

int sdv_plugin_init(void) { return sdv_method_register(majority_vote); }
