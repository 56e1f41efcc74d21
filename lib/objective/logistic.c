/* L2-regularised logistic regression on a data set read from a CSV file: a smooth, strongly
 * convex, genuinely non-quadratic objective built from real data.
 *
 *   f(x) = (1/n) sum_i log(1 + exp(-y_i a_i.x)) + (mu/2) ||x||^2,   y_i = 2 label_i - 1,
 *   grad f = -(1/n) sum_i y_i s(-y_i a_i.x) a_i + mu x,          s(z) = 1/(1 + e^-z),
 *   Hess f = (1/n) sum_i p_i (1 - p_i) a_i a_i^T + mu I,          p_i = s(a_i.x).
 * With mu > 0 the minimizer is unique; so is it for mu = 0 when the classes overlap.
 * Logistic regression is textbook material (e.g. Hastie, Tibshirani & Friedman, The Elements
 * of Statistical Learning, 2nd ed., section 4.4).
 *
 * Spec "logistic:data=FILE:l2=MU:bias=B". FILE: one sample per line, the features then the
 * label (0 or 1), comma separated; blank lines and lines starting with '#' are skipped; it is
 * read and validated by dataset.c (errors name file, line and column); the path may not
 * contain ':' (the spec separator) and a relative path is relative to the working directory.
 * MU >= 0 (default 0). B = 1 (default) appends a constant feature 1 to every a_i (the
 * intercept, the last coordinate of x); B = 0 does not. The dimension must be
 * (number of feature columns) + B. Nothing else is done to the data: no scaling, no
 * centring, no shuffling.
 *
 * Per sample (the finite-sum hooks): f_s = log(1 + exp(-y_s a_s.x)) + (mu/2) ||x||^2, so that
 * f = (1/n) sum_s f_s; Hess f v is formed from the margins without the d x d matrix.
 *
 * Numerics: log(1 + e^z) is evaluated as max(z, 0) + log1p(e^-|z|) and s(z) and s(1-s) from
 * e^-|z| only, so nothing overflows and nothing cancels for any margin.
 *
 * Reference value (checked in tests/test-logistic.c): rows (0.5, -1.2; 1), (2, 0.3; 0),
 * (-0.7, 1.1; 1), l2 = 0.25, bias = 1, x = (1.5, -2.385, 0.25) gives
 * f = 3.0291572744335897798 and grad f = (1.2152185915861697656, -0.85045165181250786202,
 * 0.041667137733035333383).
 */
#include <sdv/errors.h>
#include <sdv/objective.h>

#include "objective/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct logistic_state {
  size_t n;  /* samples */
  size_t p;  /* columns of a (features + bias) = dim */
  double mu; /* L2 weight */
  double *a; /* [n * p] row-major, bias column included (owned) */
  double *y; /* [n] labels in {-1, +1} (owned) */
} logistic_state;

static size_t logistic_size(size_t dim) {
  (void)dim;
  return sizeof(logistic_state);
}

static void logistic_free(void *state) {
  logistic_state *s = state;
  free(s->a);
  free(s->y);
  s->a = s->y = NULL;
}

/* Builds a (rows with the bias column) and y = 2 label - 1 from the validated file. */
static int load(logistic_state *s, const char *path, size_t dim, size_t bias) {
  sdv_dataset ds;
  int rc = sdv_dataset_load(&ds, "logistic", path, 2);
  if (rc) return rc;
  if (ds.p < 1 || ds.p + bias != dim) {
    rc = SDV_ERROR(SDV_EINVAL,
                   "logistic: dim = %zu must equal the %zu feature column(s) of '%s' plus "
                   "bias = %zu",
                   dim, ds.p, path, bias);
    goto done;
  }
  if ((rc = sdv_dataset_design(&ds, "logistic", bias, &s->a))) goto done;
  if (!(s->y = malloc(ds.n * sizeof *s->y))) {
    rc = SDV_ERROR(SDV_ENOMEM, "logistic: out of memory reading '%s'", path);
    goto done;
  }
  for (size_t i = 0; i < ds.n; i++) s->y[i] = 2.0 * ds.y[i] - 1.0;
  s->n = ds.n;
  s->p = dim;
done:
  sdv_dataset_clear(&ds);
  return rc;
}

static int logistic_init(void *state, size_t dim, sdv_params *params) {
  logistic_state *s = state;
  const char *path;
  int rc = sdv_dataset_param_path(params, "logistic", &path);
  if (rc) return rc;
  if ((rc = sdv_params_get_double(params, "l2", 0.0, &s->mu))) return rc;
  if (!(s->mu >= 0.0)) return SDV_ERROR(SDV_EINVAL, "logistic: l2 = %g must be >= 0", s->mu);
  size_t bias;
  if ((rc = sdv_params_get_size(params, "bias", 1, &bias))) return rc;
  if (bias > 1) return SDV_ERROR(SDV_EINVAL, "logistic: bias = %zu must be 0 or 1", bias);
  /* The free hook releases a partial load (the state is freed on init failure). */
  return load(s, path, dim, bias);
}

/* log(1 + e^z) without overflow or cancellation. */
static double softplus(double z) { return fmax(z, 0.0) + log1p(exp(-fabs(z))); }

/* s(z) = 1/(1 + e^-z) from e^-|z| (never overflows). */
static double sigmoid(double z) {
  const double e = exp(-fabs(z));
  return z >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

static double logistic_value(const void *state, size_t dim, const double *x) {
  const logistic_state *s = state;
  double sum = 0.0;
  for (size_t i = 0; i < s->n; i++)
    sum += softplus(-s->y[i] * sdv_dataset_dot(s->a + i * dim, x, dim));
  return sum / (double)s->n + 0.5 * s->mu * sdv_dataset_dot(x, x, dim);
}

static void logistic_gradient(const void *state, size_t dim, const double *x, double *g) {
  const logistic_state *s = state;
  for (size_t j = 0; j < dim; j++) g[j] = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    const double *ai = s->a + i * dim;
    const double c = -s->y[i] * sigmoid(-s->y[i] * sdv_dataset_dot(ai, x, dim));
    for (size_t j = 0; j < dim; j++) g[j] += c * ai[j];
  }
  for (size_t j = 0; j < dim; j++) g[j] = g[j] / (double)s->n + s->mu * x[j];
}

static void logistic_hessian(const void *state, size_t dim, const double *x, double *h) {
  const logistic_state *s = state;
  for (size_t k = 0; k < dim * dim; k++) h[k] = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    const double *ai = s->a + i * dim;
    /* p (1 - p) = e^-|m| / (1 + e^-|m|)^2: symmetric in m, no cancellation. */
    const double e = exp(-fabs(sdv_dataset_dot(ai, x, dim)));
    const double w = e / ((1.0 + e) * (1.0 + e));
    for (size_t j = 0; j < dim; j++)
      for (size_t l = 0; l <= j; l++) h[j * dim + l] += w * ai[j] * ai[l];
  }
  for (size_t j = 0; j < dim; j++)
    for (size_t l = 0; l <= j; l++) {
      h[j * dim + l] /= (double)s->n;
      if (l == j) h[j * dim + l] += s->mu;
      h[l * dim + j] = h[j * dim + l];
    }
}

static size_t logistic_samples(const void *state) { return ((const logistic_state *)state)->n; }

/* f_s = log(1 + exp(-y_s a_s.x)) + (mu/2) ||x||^2: the regulariser in every term, so that the
 * mean over s is f. */
static double logistic_sample_value(const void *state, size_t dim, size_t i, const double *x) {
  const logistic_state *s = state;
  return softplus(-s->y[i] * sdv_dataset_dot(s->a + i * dim, x, dim)) +
         0.5 * s->mu * sdv_dataset_dot(x, x, dim);
}

static void logistic_sample_gradient(const void *state, size_t dim, size_t i, const double *x,
                                     double *g) {
  const logistic_state *s = state;
  const double *ai = s->a + i * dim;
  const double c = -s->y[i] * sigmoid(-s->y[i] * sdv_dataset_dot(ai, x, dim));
  for (size_t j = 0; j < dim; j++) g[j] = c * ai[j] + s->mu * x[j];
}

/* sum_s w_s grad f_s: the coefficients w_s (-y_s s(-y_s a_s.x)) of a block of samples enter
 * g as one product c^T A (sdv_dataset_gemm_tn); then (sum_s w_s) mu x. */
static void logistic_sample_gradient_sum(const void *state, size_t dim, const double *x,
                                         const double *w, double *g) {
  const logistic_state *s = state;
  double cb[SDV_DATASET_BLOCK];
  double wsum = 0.0;
  for (size_t j = 0; j < dim; j++) g[j] = 0.0;
  for (size_t s0 = 0; s0 < s->n; s0 += SDV_DATASET_BLOCK) {
    const size_t nb = s->n - s0 < SDV_DATASET_BLOCK ? s->n - s0 : SDV_DATASET_BLOCK;
    for (size_t b = 0; b < nb; b++) {
      const size_t i = s0 + b;
      wsum += w[i];
      cb[b] = w[i] == 0.0
                  ? 0.0
                  : -w[i] * s->y[i] * sigmoid(-s->y[i] * sdv_dataset_dot(s->a + i * dim, x, dim));
    }
    sdv_dataset_gemm_tn(nb, 1, dim, cb, 1, s->a + s0 * dim, dim, g, dim);
  }
  const double c = wsum * s->mu;
  for (size_t j = 0; j < dim; j++) g[j] += c * x[j];
}

/* Hess f v = (1/n) sum_i p_i (1 - p_i) (a_i.v) a_i + mu v: two passes over a_i, no d x d. */
static void logistic_hvp(const void *state, size_t dim, const double *x, const double *v,
                         double *hv) {
  const logistic_state *s = state;
  for (size_t j = 0; j < dim; j++) hv[j] = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    const double *ai = s->a + i * dim;
    const double e = exp(-fabs(sdv_dataset_dot(ai, x, dim)));
    const double c = e / ((1.0 + e) * (1.0 + e)) * sdv_dataset_dot(ai, v, dim);
    for (size_t j = 0; j < dim; j++) hv[j] += c * ai[j];
  }
  for (size_t j = 0; j < dim; j++) hv[j] = hv[j] / (double)s->n + s->mu * v[j];
}

/* The file's label 0 or 1 of sample i (y = 2 label - 1 is stored). */
static double logistic_sample_label(const void *state, size_t i) {
  return 0.5 * (((const logistic_state *)state)->y[i] + 1.0);
}

static const sdv_objective_type logistic_type = {
    .name = "logistic",
    .help =
        "data=FILE:l2=MU:bias=B: f = mean_i log(1 + exp(-y_i a_i.x)) + MU/2 ||x||^2 on a CSV "
        "(features..., label 0/1); B = 1 appends an intercept (default); MU >= 0 (default 0)",
    .kind = SDV_OBJECTIVE_GENERAL,
    .size = logistic_size,
    .init = logistic_init,
    .free = logistic_free,
    .value = logistic_value,
    .gradient = logistic_gradient,
    .hessian = logistic_hessian,
    .samples = logistic_samples,
    .sample_value = logistic_sample_value,
    .sample_gradient = logistic_sample_gradient,
    .hvp = logistic_hvp,
    .sample_label = logistic_sample_label,
    .sample_gradient_sum = logistic_sample_gradient_sum,
};

const sdv_objective_type *const sdv_objective_logistic = &logistic_type;
