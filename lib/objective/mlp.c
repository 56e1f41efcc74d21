/* A one-hidden-layer neural network (tanh hidden units, softmax output) trained with the
 * cross-entropy loss and L2 regularisation: the non-convex training problem.
 *
 * With p features, H hidden units, C classes, a~_s = (a_s, 1) and h~ = (h, 1), x holds two
 * blocks: first H rows of p + 1 numbers, row k = (W1_k1, ..., W1_kp, b1_k), then C rows of
 * H + 1 numbers, row c = (W2_c1, ..., W2_cH, b2_c); so d = H (p + 1) + C (H + 1) and
 *   z_s = W1~ a~_s,  h_s = tanh(z_s),  o_s = W2~ h~_s,  q_s = softmax(o_s),
 *   f(x) = (1/n) sum_s [log sum_c exp(o_sc) - o_s,y_s] + (mu/2) ||x||^2,
 * every weight and bias regularised. Gradient by backpropagation (per sample, then averaged):
 *   delta_o = q_s - e_y_s,  grad W2~ = delta_o h~^T,  delta_h = W2^T delta_o,
 *   delta_z = delta_h .* (1 - h^2),  grad W1~ = delta_z a~^T,  plus mu x.
 * Hessian-vector product: exact, by forward-mode differentiation of that backward pass along v
 * (Pearlmutter's R-operator; B. A. Pearlmutter, "Fast exact multiplication by the Hessian",
 * Neural Computation 6(1), 147-160, 1994), one pass per sample, about twice a gradient.
 * Per sample f_s = (that loss of sample s) + (mu/2) ||x||^2, so f = (1/n) sum_s f_s.
 *
 * Initial point (initial_point hook, sdv_objective_initial_point): Glorot-uniform weights
 * (X. Glorot and Y. Bengio, AISTATS 2010): W1_kj ~ U(-r1, r1), r1 = sqrt(6 / (p + H)), and
 * W2_ck ~ U(-r2, r2), r2 = sqrt(6 / (H + C)), biases 0, drawn in the order of x from the sdv
 * stream (seed S, path 0, SDV_PURPOSE_AUX, sub 0): u in (0, 1), weight = r (2u - 1). Why not
 * 0: there h = 0, so every weight's gradient vanishes and only the output biases move; the
 * weights stay 0 along the whole gradient flow.
 *
 * Spec "mlp:data=FILE:hidden=H:l2=MU:seed=S". FILE: data/README.md's format, C = 1 + the
 * largest label (at least 2). 1 <= H <= SDV_MLP_HIDDEN_MAX (required), MU >= 0 (default 0),
 * seed S >= 0 (default 0). The hooks keep per-sample vectors (H and C numbers) on the stack,
 * bounded by those maxima: instances are shared between threads, and nothing is allocated
 * per call.
 *
 * Reference value (checked in tests/test-training.c): rows (0.5, -1.2; 0), (2, 0.3; 2),
 * (-0.7, 1.1; 1), H = 2, l2 = 0.25, x_i = 0.35 sin(1.7 i + 0.3) - 0.1 i / 15 for
 * i = 0..14 (d = 15) gives f = 1.2503546789147707625 and grad f = (-0.15846963978858382555,
 * -0.055182966837683170665, -0.13730652135692683664, -0.13805123913276760374,
 * 0.12698511303050947709, 0.038157976269228862696, 0.019981754339585476229,
 * 0.037658448445491300709, 0.1950558554070374669, -0.06235478827222779389,
 * -0.29758459988218525855, -0.013447512895125704459, 0.013928962905257684995,
 * 0.056314704248957536654, -0.21358029302271193658) (40-digit arithmetic, the gradient by
 * numerical differentiation at 60 digits, independent of the backpropagation here).
 */
#include <sdv/errors.h>
#include <sdv/objective.h>
#include <sdv/rng.h>

#include "objective/dataset.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SDV_MLP_HIDDEN_MAX 1024

typedef struct mlp_state {
  size_t n;      /* samples */
  size_t q;      /* p + 1 */
  size_t h;      /* hidden units H */
  size_t c;      /* classes C */
  double mu;     /* L2 weight */
  double *a;     /* [n * q] rows a~_s (owned) */
  size_t *label; /* [n] (owned) */
  double *x0;    /* [dim] the seeded initial point (owned) */
} mlp_state;

static size_t mlp_size(size_t dim) {
  (void)dim;
  return sizeof(mlp_state);
}

static void mlp_free(void *state) {
  mlp_state *s = state;
  free(s->a);
  free(s->label);
  free(s->x0);
  s->a = s->x0 = NULL;
  s->label = NULL;
}

static void glorot(const mlp_state *s, uint64_t seed, double *x) {
  sdv_stream st;
  sdv_stream_init(&st, seed, 0, SDV_PURPOSE_AUX, 0);
  const double r1 = sqrt(6.0 / (double)(s->q - 1 + s->h));
  const double r2 = sqrt(6.0 / (double)(s->h + s->c));
  double *w2 = x + s->h * s->q;
  for (size_t k = 0; k < s->h; k++)
    for (size_t j = 0; j < s->q; j++)
      x[k * s->q + j] = j + 1 < s->q ? r1 * (2.0 * sdv_stream_uniform(&st) - 1.0) : 0.0;
  for (size_t c = 0; c < s->c; c++)
    for (size_t k = 0; k <= s->h; k++)
      w2[c * (s->h + 1) + k] = k < s->h ? r2 * (2.0 * sdv_stream_uniform(&st) - 1.0) : 0.0;
}

static int mlp_init(void *state, size_t dim, sdv_params *params) {
  mlp_state *s = state;
  const char *path;
  int rc = sdv_dataset_param_path(params, "mlp", &path);
  if (rc) return rc;
  if (!sdv_params_has(params, "hidden"))
    return SDV_ERROR(SDV_EINVAL, "mlp: hidden = H (the width of the hidden layer) is required");
  if ((rc = sdv_params_get_size(params, "hidden", 0, &s->h))) return rc;
  if (s->h < 1 || s->h > SDV_MLP_HIDDEN_MAX)
    return SDV_ERROR(SDV_EINVAL, "mlp: hidden = %zu must satisfy 1 <= hidden <= %d", s->h,
                     SDV_MLP_HIDDEN_MAX);
  if ((rc = sdv_params_get_double(params, "l2", 0.0, &s->mu))) return rc;
  if (!(s->mu >= 0.0)) return SDV_ERROR(SDV_EINVAL, "mlp: l2 = %g must be >= 0", s->mu);
  size_t seed;
  if ((rc = sdv_params_get_size(params, "seed", 0, &seed))) return rc;
  sdv_dataset ds;
  if ((rc = sdv_dataset_load(&ds, "mlp", path, 0))) return rc;
  s->q = ds.p + 1;
  s->c = ds.classes;
  const size_t want = s->h * s->q + s->c * (s->h + 1);
  if (dim != want) {
    rc = SDV_ERROR(SDV_EINVAL,
                   "mlp: dim = %zu must be H (p + 1) + C (H + 1) = %zu (%zu + 1) + %zu (%zu + 1) "
                   "= %zu for hidden = %zu and the %zu features and %zu classes of '%s'",
                   dim, s->h, ds.p, s->c, s->h, want, s->h, ds.p, s->c, path);
    goto done;
  }
  /* The free hook releases a partial result (the state is freed on init failure). */
  if ((rc = sdv_dataset_design(&ds, "mlp", 1, &s->a))) goto done;
  s->label = malloc(ds.n * sizeof *s->label);
  s->x0 = malloc(dim * sizeof *s->x0);
  if (!s->label || !s->x0) {
    rc = SDV_ERROR(SDV_ENOMEM, "mlp: out of memory reading '%s'", path);
    goto done;
  }
  for (size_t i = 0; i < ds.n; i++) s->label[i] = (size_t)ds.y[i];
  s->n = ds.n;
  glorot(s, (uint64_t)seed, s->x0);
done:
  sdv_dataset_clear(&ds);
  return rc;
}

/* Forward pass of sample i: hidden activations hid[H], output probabilities prob[C]; returns
 * the sample's loss (log sum exp o - o_label, the maximum subtracted first). */
static double forward(const mlp_state *s, size_t i, const double *x, double *hid, double *prob) {
  const double *ai = s->a + i * s->q;
  const double *w2 = x + s->h * s->q;
  const size_t h1 = s->h + 1;
  for (size_t k = 0; k < s->h; k++) hid[k] = tanh(sdv_dataset_dot4(x + k * s->q, ai, s->q));
  double omax = -HUGE_VAL;
  for (size_t c = 0; c < s->c; c++) {
    prob[c] = sdv_dataset_dot4(w2 + c * h1, hid, s->h) + w2[c * h1 + s->h];
    if (prob[c] > omax) omax = prob[c];
  }
  const double oy = prob[s->label[i]];
  double sum = 0.0;
  for (size_t c = 0; c < s->c; c++) sum += (prob[c] = exp(prob[c] - omax));
  for (size_t c = 0; c < s->c; c++) prob[c] /= sum;
  return omax + log(sum) - oy;
}

/* Backpropagation of sample i after forward(): adds its loss gradient to g. prob becomes
 * delta_o; dh[H] is scratch. */
static void backward(const mlp_state *s, size_t i, const double *x, const double *hid, double *prob,
                     double *dh, double *g) {
  const double *ai = s->a + i * s->q;
  const double *w2 = x + s->h * s->q;
  double *g2 = g + s->h * s->q;
  const size_t h1 = s->h + 1;
  prob[s->label[i]] -= 1.0;
  for (size_t k = 0; k < s->h; k++) dh[k] = 0.0;
  for (size_t c = 0; c < s->c; c++) {
    const double d = prob[c];
    const double *w2c = w2 + c * h1;
    double *g2c = g2 + c * h1;
    for (size_t k = 0; k < s->h; k++) {
      g2c[k] += d * hid[k];
      dh[k] += d * w2c[k];
    }
    g2c[s->h] += d;
  }
  for (size_t k = 0; k < s->h; k++) {
    const double dz = dh[k] * (1.0 - hid[k] * hid[k]);
    double *g1k = g + k * s->q;
    for (size_t j = 0; j < s->q; j++) g1k[j] += dz * ai[j];
  }
}

static double mlp_value(const void *state, size_t dim, const double *x) {
  const mlp_state *s = state;
  double hid[SDV_MLP_HIDDEN_MAX], prob[SDV_DATASET_CLASSES_MAX];
  double sum = 0.0;
  for (size_t i = 0; i < s->n; i++) sum += forward(s, i, x, hid, prob);
  return sum / (double)s->n + 0.5 * s->mu * sdv_dataset_dot4(x, x, dim);
}

static void mlp_gradient(const void *state, size_t dim, const double *x, double *g) {
  const mlp_state *s = state;
  double hid[SDV_MLP_HIDDEN_MAX], dh[SDV_MLP_HIDDEN_MAX], prob[SDV_DATASET_CLASSES_MAX];
  for (size_t j = 0; j < dim; j++) g[j] = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    forward(s, i, x, hid, prob);
    backward(s, i, x, hid, prob, dh, g);
  }
  for (size_t j = 0; j < dim; j++) g[j] = g[j] / (double)s->n + s->mu * x[j];
}

static size_t mlp_samples(const void *state) { return ((const mlp_state *)state)->n; }

static double mlp_sample_value(const void *state, size_t dim, size_t i, const double *x) {
  const mlp_state *s = state;
  double hid[SDV_MLP_HIDDEN_MAX], prob[SDV_DATASET_CLASSES_MAX];
  return forward(s, i, x, hid, prob) + 0.5 * s->mu * sdv_dataset_dot4(x, x, dim);
}

static void mlp_sample_gradient(const void *state, size_t dim, size_t i, const double *x,
                                double *g) {
  const mlp_state *s = state;
  double hid[SDV_MLP_HIDDEN_MAX], dh[SDV_MLP_HIDDEN_MAX], prob[SDV_DATASET_CLASSES_MAX];
  for (size_t j = 0; j < dim; j++) g[j] = s->mu * x[j];
  forward(s, i, x, hid, prob);
  backward(s, i, x, hid, prob, dh, g);
}

/* tanh for the batched hook, where libm's tanh (through expm1) was 45% of the time: below
 * |z| = 1/8 its Taylor polynomial to z^17 (the first omitted term is below 2e-18 relative),
 * above it (1 - e)/(1 + e) with e = exp(-2|z|), whose difference 1 - e >= 0.22 loses at most a
 * factor 3.5 in relative accuracy; 1 beyond |z| = 20 (tanh 20 = 1 - 8.5e-18). Within a few ulps
 * of tanh; tests/test-training.c holds the hook to the per-sample route (libm's tanh). */
static inline double tanh_fast(double z) {
  const double t = fabs(z);
  double r;
  if (t < 0.125) {
    const double u = t * t;
    const double p =
        -1.0 / 3.0 +
        u * (2.0 / 15.0 +
             u * (-17.0 / 315.0 +
                  u * (62.0 / 2835.0 +
                       u * (-1382.0 / 155925.0 +
                            u * (21844.0 / 6081075.0 +
                                 u * (-929569.0 / 638512875.0 + u * (6404582.0 / 10854718875.0)))))));
    r = t + t * (u * p);
  } else if (t < 20.0) {
    const double e = exp(-2.0 * t);
    r = (1.0 - e) / (1.0 + e);
  } else {
    r = 1.0;
  }
  return copysign(r, z);
}

/* sum_s w_s grad f_s by blocks of samples: the forward pass of a block, then its
 * backpropagated coefficients (each sample's delta_o and delta_z scaled by w_s) enter the two
 * weight blocks as the products Delta_o^T H~ and Delta_z^T A~ (sdv_dataset_gemm_tn), one pass
 * over each output row per block instead of a rank-one update of g per sample; then
 * (sum_s w_s) mu x. Block buffers live on the stack (MLP_SUM_BUF doubles each), so a block
 * has at most MLP_SUM_BUF / (H + 1) and MLP_SUM_BUF / C samples. */
#define MLP_SUM_BUF 2048
static void mlp_sample_gradient_sum(const void *state, size_t dim, const double *x,
                                    const double *w, double *g) {
  const mlp_state *s = state;
  double hidb[MLP_SUM_BUF], dzb[MLP_SUM_BUF], dob[MLP_SUM_BUF];
  double dh[SDV_MLP_HIDDEN_MAX], prob[SDV_DATASET_CLASSES_MAX];
  const size_t H = s->h, h1 = H + 1, q = s->q, C = s->c, off = H * q;
  const double *w2 = x + off;
  size_t S = SDV_DATASET_BLOCK;
  if (S > MLP_SUM_BUF / h1) S = MLP_SUM_BUF / h1;
  if (S > MLP_SUM_BUF / C) S = MLP_SUM_BUF / C;
  double wsum = 0.0;
  for (size_t j = 0; j < dim; j++) g[j] = 0.0;
  for (size_t s0 = 0; s0 < s->n; s0 += S) {
    const size_t nb = s->n - s0 < S ? s->n - s0 : S;
    /* The block's first-layer scores z = W1~ a~_s into hidb (rows of H + 1). */
    sdv_dataset_dots(nb, H, q, x, q, s->a + s0 * q, q, hidb, h1);
    for (size_t b = 0; b < nb; b++) {
      const size_t i = s0 + b;
      const double wi = w[i];
      double *hid = hidb + b * h1, *dz = dzb + b * H, *dout = dob + b * C;
      wsum += wi;
      hid[H] = 1.0;
      if (wi == 0.0) { /* contributes nothing */
        for (size_t k = 0; k < H; k++) hid[k] = dz[k] = 0.0;
        for (size_t c = 0; c < C; c++) dout[c] = 0.0;
        continue;
      }
      for (size_t k = 0; k < H; k++) hid[k] = tanh_fast(hid[k]);
      double omax = -HUGE_VAL;
      for (size_t c = 0; c < C; c++) {
        prob[c] = sdv_dataset_dot4(w2 + c * h1, hid, H) + w2[c * h1 + H];
        if (prob[c] > omax) omax = prob[c];
      }
      double sum = 0.0;
      for (size_t c = 0; c < C; c++) sum += (prob[c] = exp(prob[c] - omax));
      const double ws = wi / sum;
      for (size_t c = 0; c < C; c++) dout[c] = prob[c] * ws;
      dout[s->label[i]] -= wi;
      for (size_t k = 0; k < H; k++) dh[k] = 0.0;
      for (size_t c = 0; c < C; c++) {
        const double d = dout[c];
        const double *w2c = w2 + c * h1;
        for (size_t k = 0; k < H; k++) dh[k] += d * w2c[k];
      }
      for (size_t k = 0; k < H; k++) dz[k] = dh[k] * (1.0 - hid[k] * hid[k]);
    }
    sdv_dataset_gemm_tn(nb, C, h1, dob, C, hidb, h1, g + off, h1);
    sdv_dataset_gemm_tn(nb, H, q, dzb, H, s->a + s0 * q, q, g, q);
  }
  const double c = wsum * s->mu;
  for (size_t j = 0; j < dim; j++) g[j] += c * x[j];
}

/* R-operator pass of sample i: adds R{grad loss_i} (the Hessian of the loss times v) to hv.
 * R{.} is the derivative of a forward/backward quantity along v; see the opening comment. */
static void r_pass(const mlp_state *s, size_t i, const double *x, const double *v, double *hv) {
  double hid[SDV_MLP_HIDDEN_MAX], rh[SDV_MLP_HIDDEN_MAX], dh[SDV_MLP_HIDDEN_MAX],
      rdh[SDV_MLP_HIDDEN_MAX], prob[SDV_DATASET_CLASSES_MAX], ro[SDV_DATASET_CLASSES_MAX];
  const double *ai = s->a + i * s->q;
  const size_t H = s->h, h1 = s->h + 1, off = s->h * s->q;
  const double *w2 = x + off, *v2 = v + off;
  double *hv2 = hv + off;
  forward(s, i, x, hid, prob);
  /* R{z} = V1~ a~, R{h} = (1 - h^2) R{z}, R{o} = W2 R{h} + V2~ h~. */
  for (size_t k = 0; k < H; k++)
    rh[k] = (1.0 - hid[k] * hid[k]) * sdv_dataset_dot4(v + k * s->q, ai, s->q);
  double mean = 0.0;
  for (size_t c = 0; c < s->c; c++) {
    ro[c] = sdv_dataset_dot4(w2 + c * h1, rh, H) + sdv_dataset_dot4(v2 + c * h1, hid, H) +
            v2[c * h1 + H];
    mean += prob[c] * ro[c];
  }
  /* R{delta_o} = R{q} = q .* (R{o} - q.R{o}); then delta_o = q - e_y in place. */
  for (size_t c = 0; c < s->c; c++) ro[c] = prob[c] * (ro[c] - mean);
  prob[s->label[i]] -= 1.0;
  /* R{grad W2~} = R{delta_o} h~^T + delta_o (R{h}, 0)^T;
   * delta_h = W2^T delta_o, R{delta_h} = W2^T R{delta_o} + V2^T delta_o. */
  for (size_t k = 0; k < H; k++) dh[k] = rdh[k] = 0.0;
  for (size_t c = 0; c < s->c; c++) {
    const double d = prob[c], rd = ro[c];
    const double *w2c = w2 + c * h1, *v2c = v2 + c * h1;
    double *hv2c = hv2 + c * h1;
    for (size_t k = 0; k < H; k++) {
      hv2c[k] += rd * hid[k] + d * rh[k];
      dh[k] += d * w2c[k];
      rdh[k] += rd * w2c[k] + d * v2c[k];
    }
    hv2c[H] += rd;
  }
  /* R{delta_z} = R{delta_h} (1 - h^2) - 2 delta_h h R{h}; R{grad W1~} = R{delta_z} a~^T. */
  for (size_t k = 0; k < H; k++) {
    const double rdz = rdh[k] * (1.0 - hid[k] * hid[k]) - 2.0 * dh[k] * hid[k] * rh[k];
    double *hv1k = hv + k * s->q;
    for (size_t j = 0; j < s->q; j++) hv1k[j] += rdz * ai[j];
  }
}

static void mlp_hvp(const void *state, size_t dim, const double *x, const double *v, double *hv) {
  const mlp_state *s = state;
  for (size_t j = 0; j < dim; j++) hv[j] = 0.0;
  for (size_t i = 0; i < s->n; i++) r_pass(s, i, x, v, hv);
  for (size_t j = 0; j < dim; j++) hv[j] = hv[j] / (double)s->n + s->mu * v[j];
}

static void mlp_initial_point(const void *state, size_t dim, double *x0) {
  const mlp_state *s = state;
  memcpy(x0, s->x0, dim * sizeof *x0);
}

/* The class index of sample i (label-skewed and Dirichlet shards). */
static double mlp_sample_label(const void *state, size_t i) {
  return (double)((const mlp_state *)state)->label[i];
}

static const sdv_objective_type mlp_type = {
    .name = "mlp",
    .help =
        "data=FILE:hidden=H:l2=MU:seed=S: one tanh hidden layer of width H, softmax "
        "output, mean cross-entropy + MU/2 ||x||^2; d = H (p + 1) + C (H + 1); seeded "
        "Glorot initial point",
    .kind = SDV_OBJECTIVE_GENERAL,
    .size = mlp_size,
    .init = mlp_init,
    .free = mlp_free,
    .value = mlp_value,
    .gradient = mlp_gradient,
    .samples = mlp_samples,
    .sample_value = mlp_sample_value,
    .sample_gradient = mlp_sample_gradient,
    .hvp = mlp_hvp,
    .initial_point = mlp_initial_point,
    .sample_label = mlp_sample_label,
    .sample_gradient_sum = mlp_sample_gradient_sum,
};

const sdv_objective_type *const sdv_objective_mlp = &mlp_type;
