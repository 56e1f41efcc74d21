/* L2-regularised multinomial logistic (softmax) regression on a classification data set: the
 * convex multi-class training problem.
 *
 * With C classes, p features, a~_s = (a_s, 1) and x holding C blocks of p + 1 numbers, block
 * c = (w_c1, ..., w_cp, b_c) (weights of class c, then its intercept), so d = C (p + 1):
 *   z_sc = w_c.a_s + b_c = x_c.a~_s,   q_sc = exp(z_sc) / sum_k exp(z_sk),
 *   f(x) = (1/n) sum_s [log sum_c exp(z_sc) - z_s,y_s] + (mu/2) ||x||^2,
 *   grad_c f = (1/n) sum_s (q_sc - [c = y_s]) a~_s + mu x_c,
 *   (Hess f v)_c = (1/n) sum_s q_sc (u_sc - sum_k q_sk u_sk) a~_s + mu v_c,  u_sc = v_c.a~_s.
 * Per sample f_s = log sum_c exp(z_sc) - z_s,y_s + (mu/2) ||x||^2, so f = (1/n) sum_s f_s.
 * The intercepts are regularised like the weights. f is convex; adding one vector to every
 * block leaves the loss unchanged, so the minimizer is unique only for mu > 0. See e.g. Bishop,
 * Pattern Recognition and Machine Learning (2006), section 4.3.4.
 *
 * Spec "softmax:data=FILE:l2=MU". FILE: data/README.md's format; the number of classes C is
 * 1 + the largest label (at least 2, at most SDV_DATASET_CLASSES_MAX). MU >= 0 (default 0).
 *
 * Numerics: log sum exp is taken after subtracting max_c z_sc, so it neither overflows nor
 * loses the largest term. The hooks keep their per-sample vectors (C numbers) on the stack,
 * bounded by SDV_DATASET_CLASSES_MAX: instances are shared between threads, so scratch in the
 * state would race, and nothing is allocated per call.
 *
 * Reference value (checked in tests/test-training.c): rows (0.5, -1.2; 0), (2, 0.3; 2),
 * (-0.7, 1.1; 1), l2 = 0.25, x = (1.5, -2.385, 0.25, -0.375, 0.875, 1.125, 0.625, -1.75,
 * -0.5) gives f = 2.6311403109956123972 and
 * grad f = (0.88477176393780443496, -0.45956762357752333929, 0.28407977372492153191,
 * -0.0090208641250869782627, 0.22117444585779287346, 0.323841968288170196,
 * -0.4382508998127174567, -0.57660682228026953417, -0.38917174201309172791)
 * (40-digit arithmetic).
 */
#include <sdv/errors.h>
#include <sdv/objective.h>

#include "objective/dataset.h"

#include <math.h>
#include <stdlib.h>

typedef struct softmax_state {
  size_t n;      /* samples */
  size_t q;      /* p + 1: features plus intercept */
  size_t c;      /* classes */
  double mu;     /* L2 weight */
  double *a;     /* [n * q] rows a~_s (owned) */
  size_t *label; /* [n] classes 0..c-1 (owned) */
} softmax_state;

static size_t softmax_size(size_t dim) {
  (void)dim;
  return sizeof(softmax_state);
}

static void softmax_free(void *state) {
  softmax_state *s = state;
  free(s->a);
  free(s->label);
  s->a = NULL;
  s->label = NULL;
}

static int softmax_init(void *state, size_t dim, sdv_params *params) {
  softmax_state *s = state;
  const char *path;
  int rc = sdv_dataset_param_path(params, "softmax", &path);
  if (rc) return rc;
  if ((rc = sdv_params_get_double(params, "l2", 0.0, &s->mu))) return rc;
  if (!(s->mu >= 0.0)) return SDV_ERROR(SDV_EINVAL, "softmax: l2 = %g must be >= 0", s->mu);
  sdv_dataset ds;
  if ((rc = sdv_dataset_load(&ds, "softmax", path, 0))) return rc;
  s->q = ds.p + 1;
  s->c = ds.classes;
  if (dim != s->c * s->q) {
    rc = SDV_ERROR(SDV_EINVAL,
                   "softmax: dim = %zu must be C (p + 1) = %zu (%zu + 1) = %zu for the %zu "
                   "classes and %zu features of '%s'",
                   dim, s->c, ds.p, s->c * s->q, s->c, ds.p, path);
    goto done;
  }
  /* The free hook releases a partial result (the state is freed on init failure). */
  if ((rc = sdv_dataset_design(&ds, "softmax", 1, &s->a))) goto done;
  if (!(s->label = malloc(ds.n * sizeof *s->label))) {
    rc = SDV_ERROR(SDV_ENOMEM, "softmax: out of memory reading '%s'", path);
    goto done;
  }
  for (size_t i = 0; i < ds.n; i++) s->label[i] = (size_t)ds.y[i];
  s->n = ds.n;
done:
  sdv_dataset_clear(&ds);
  return rc;
}

/* Class probabilities q[c] of sample i at x; returns the loss log sum exp z - z_label. */
static double forward(const softmax_state *s, size_t i, const double *x, double *q) {
  const double *ai = s->a + i * s->q;
  double zmax = -HUGE_VAL;
  for (size_t c = 0; c < s->c; c++) {
    q[c] = sdv_dataset_dot4(x + c * s->q, ai, s->q);
    if (q[c] > zmax) zmax = q[c];
  }
  const double zy = q[s->label[i]];
  double sum = 0.0;
  for (size_t c = 0; c < s->c; c++) sum += (q[c] = exp(q[c] - zmax));
  for (size_t c = 0; c < s->c; c++) q[c] /= sum;
  return zmax + log(sum) - zy;
}

static double softmax_value(const void *state, size_t dim, const double *x) {
  const softmax_state *s = state;
  double q[SDV_DATASET_CLASSES_MAX];
  double sum = 0.0;
  for (size_t i = 0; i < s->n; i++) sum += forward(s, i, x, q);
  return sum / (double)s->n + 0.5 * s->mu * sdv_dataset_dot4(x, x, dim);
}

/* g += (q - e_label) (x) a~_i, block by block. */
static void add_sample_gradient(const softmax_state *s, size_t i, const double *q, double *g) {
  const double *ai = s->a + i * s->q;
  for (size_t c = 0; c < s->c; c++) {
    const double r = q[c] - (c == s->label[i] ? 1.0 : 0.0);
    double *gc = g + c * s->q;
    for (size_t j = 0; j < s->q; j++) gc[j] += r * ai[j];
  }
}

static void softmax_gradient(const void *state, size_t dim, const double *x, double *g) {
  const softmax_state *s = state;
  double q[SDV_DATASET_CLASSES_MAX];
  for (size_t j = 0; j < dim; j++) g[j] = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    forward(s, i, x, q);
    add_sample_gradient(s, i, q, g);
  }
  for (size_t j = 0; j < dim; j++) g[j] = g[j] / (double)s->n + s->mu * x[j];
}

static size_t softmax_samples(const void *state) { return ((const softmax_state *)state)->n; }

static double softmax_sample_value(const void *state, size_t dim, size_t i, const double *x) {
  const softmax_state *s = state;
  double q[SDV_DATASET_CLASSES_MAX];
  return forward(s, i, x, q) + 0.5 * s->mu * sdv_dataset_dot4(x, x, dim);
}

static void softmax_sample_gradient(const void *state, size_t dim, size_t i, const double *x,
                                    double *g) {
  const softmax_state *s = state;
  double q[SDV_DATASET_CLASSES_MAX];
  forward(s, i, x, q);
  for (size_t j = 0; j < dim; j++) g[j] = s->mu * x[j];
  add_sample_gradient(s, i, q, g);
}

/* sum_s w_s grad f_s by blocks of samples: the scores of a block, then its coefficients
 * w_s (q_sc - [c = y_s]) enter g as the product R^T A~ (sdv_dataset_gemm_tn), one pass over
 * each class's block of g per sample block; then (sum_s w_s) mu x. */
#define SOFTMAX_SUM_BUF 2048
static void softmax_sample_gradient_sum(const void *state, size_t dim, const double *x,
                                        const double *w, double *g) {
  const softmax_state *s = state;
  double rb[SOFTMAX_SUM_BUF], z[SDV_DATASET_CLASSES_MAX];
  const size_t C = s->c, q = s->q;
  size_t S = SDV_DATASET_BLOCK;
  if (S > SOFTMAX_SUM_BUF / C) S = SOFTMAX_SUM_BUF / C;
  double wsum = 0.0;
  for (size_t j = 0; j < dim; j++) g[j] = 0.0;
  for (size_t s0 = 0; s0 < s->n; s0 += S) {
    const size_t nb = s->n - s0 < S ? s->n - s0 : S;
    /* The block's scores x_c.a~_s, in place in rb. */
    sdv_dataset_dots(nb, C, q, x, q, s->a + s0 * q, q, rb, C);
    for (size_t b = 0; b < nb; b++) {
      const size_t i = s0 + b;
      const double wi = w[i];
      double *r = rb + b * C;
      wsum += wi;
      if (wi == 0.0) {
        for (size_t c = 0; c < C; c++) r[c] = 0.0;
        continue;
      }
      double zmax = -HUGE_VAL;
      for (size_t c = 0; c < C; c++) {
        z[c] = r[c];
        if (z[c] > zmax) zmax = z[c];
      }
      double sum = 0.0;
      for (size_t c = 0; c < C; c++) sum += (z[c] = exp(z[c] - zmax));
      const double ws = wi / sum;
      for (size_t c = 0; c < C; c++) r[c] = z[c] * ws;
      r[s->label[i]] -= wi;
    }
    sdv_dataset_gemm_tn(nb, C, q, rb, C, s->a + s0 * q, q, g, q);
  }
  const double c = wsum * s->mu;
  for (size_t j = 0; j < dim; j++) g[j] += c * x[j];
}

/* Exact: per sample the Hessian is (diag q - q q^T) (x) a~ a~^T, applied without forming it. */
static void softmax_hvp(const void *state, size_t dim, const double *x, const double *v,
                        double *hv) {
  const softmax_state *s = state;
  double q[SDV_DATASET_CLASSES_MAX], u[SDV_DATASET_CLASSES_MAX];
  for (size_t j = 0; j < dim; j++) hv[j] = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    const double *ai = s->a + i * s->q;
    forward(s, i, x, q);
    double mean = 0.0;
    for (size_t c = 0; c < s->c; c++) {
      u[c] = sdv_dataset_dot4(v + c * s->q, ai, s->q);
      mean += q[c] * u[c];
    }
    for (size_t c = 0; c < s->c; c++) {
      const double r = q[c] * (u[c] - mean);
      double *hc = hv + c * s->q;
      for (size_t j = 0; j < s->q; j++) hc[j] += r * ai[j];
    }
  }
  for (size_t j = 0; j < dim; j++) hv[j] = hv[j] / (double)s->n + s->mu * v[j];
}

/* The class index of sample i (label-skewed and Dirichlet shards). */
static double softmax_sample_label(const void *state, size_t i) {
  return (double)((const softmax_state *)state)->label[i];
}

static const sdv_objective_type softmax_type = {
    .name = "softmax",
    .help =
        "data=FILE:l2=MU: multinomial logistic regression, f = mean_s -log q_s,y_s + MU/2 "
        "||x||^2 on a CSV (features..., class 0..C-1); d = C (p + 1), x = C blocks "
        "(weights, intercept); MU >= 0",
    .kind = SDV_OBJECTIVE_GENERAL,
    .size = softmax_size,
    .init = softmax_init,
    .free = softmax_free,
    .value = softmax_value,
    .gradient = softmax_gradient,
    .samples = softmax_samples,
    .sample_value = softmax_sample_value,
    .sample_gradient = softmax_sample_gradient,
    .hvp = softmax_hvp,
    .sample_label = softmax_sample_label,
    .sample_gradient_sum = softmax_sample_gradient_sum,
};

const sdv_objective_type *const sdv_objective_softmax = &softmax_type;
