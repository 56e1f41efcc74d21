/* L2-regularised linear least squares on a data set read from a CSV file: a finite sum of
 * real data whose Hessian is constant, the quadratic baseline of the training problems.
 *
 *   f(x) = (1/n) sum_s (a_s.x - y_s)^2 / 2 + (mu/2) ||x||^2,
 *   grad f = (1/n) sum_s r_s a_s + mu x,   r_s = a_s.x - y_s,
 *   Hess f = (1/n) sum_s a_s a_s^T + mu I   (independent of x).
 * Per sample f_s = (a_s.x - y_s)^2 / 2 + (mu/2) ||x||^2, so f = (1/n) sum_s f_s. The minimizer
 * solves the normal equations (A^T A / n + mu I) x = A^T y / n; it is unique when mu > 0 or A
 * has full column rank. Textbook material (e.g. Hastie, Tibshirani & Friedman, The Elements
 * of Statistical Learning, 2nd ed., sections 3.2 and 3.4.1, ridge regression).
 *
 * Spec "least-squares:data=FILE:l2=MU:bias=B". FILE has the format of data/README.md, but its
 * last column is read as a real target y_s (any finite number, not a class); the other
 * columns are the features. MU >= 0 (default 0). B = 1 (default) appends a constant feature 1
 * (the intercept, the last coordinate of x), so d = (feature columns) + B. The classification
 * files in data/ can be used by regressing their class index as a number (the tests use
 * wine.csv: 13 z-scored features, target 0, 1 or 2, d = 14); it is a test problem with a
 * well-conditioned constant Hessian, not a meaningful model of the cultivar.
 *
 * Reference value (checked in tests/test-training.c): rows (0.5, -1.2; 0.75), (2, 0.3; -1.5),
 * (-0.7, 1.1; 2.25), l2 = 0.25, bias = 1, x = (1.5, -2.385, 0.25) gives
 * f = 85534507/8000000 = 10.691813375 and grad f = (98143/20000, -211073/60000, 1107/2000)
 * = (4.90715, -3.51788333..., 0.5535), exact rationals.
 */
#include <sdv/errors.h>
#include <sdv/objective.h>

#include "objective/dataset.h"

#include <stdlib.h>

typedef struct least_squares_state {
  size_t n;  /* samples */
  double mu; /* L2 weight */
  double *a; /* [n * dim] row-major, bias column included (owned) */
  double *y; /* [n] real targets (owned) */
} least_squares_state;

static size_t least_squares_size(size_t dim) {
  (void)dim;
  return sizeof(least_squares_state);
}

static void least_squares_free(void *state) {
  least_squares_state *s = state;
  free(s->a);
  free(s->y);
  s->a = s->y = NULL;
}

static int least_squares_init(void *state, size_t dim, sdv_params *params) {
  least_squares_state *s = state;
  const char *path;
  int rc = sdv_dataset_param_path(params, "least-squares", &path);
  if (rc) return rc;
  if ((rc = sdv_params_get_double(params, "l2", 0.0, &s->mu))) return rc;
  if (!(s->mu >= 0.0)) return SDV_ERROR(SDV_EINVAL, "least-squares: l2 = %g must be >= 0", s->mu);
  size_t bias;
  if ((rc = sdv_params_get_size(params, "bias", 1, &bias))) return rc;
  if (bias > 1) return SDV_ERROR(SDV_EINVAL, "least-squares: bias = %zu must be 0 or 1", bias);
  sdv_dataset ds;
  if ((rc = sdv_dataset_load(&ds, "least-squares", path, SDV_DATASET_REAL))) return rc;
  if (ds.p + bias != dim || dim == 0) {
    rc = SDV_ERROR(SDV_EINVAL,
                   "least-squares: dim = %zu must be %zu: the %zu feature column(s) of '%s' "
                   "plus bias = %zu",
                   dim, ds.p + bias, ds.p, path, bias);
    goto done;
  }
  /* The free hook releases a partial result (the state is freed on init failure). */
  if ((rc = sdv_dataset_design(&ds, "least-squares", bias, &s->a))) goto done;
  s->y = ds.y; /* take ownership of the targets */
  ds.y = NULL;
  s->n = ds.n;
done:
  sdv_dataset_clear(&ds);
  return rc;
}

static double least_squares_value(const void *state, size_t dim, const double *x) {
  const least_squares_state *s = state;
  double sum = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    const double r = sdv_dataset_dot4(s->a + i * dim, x, dim) - s->y[i];
    sum += r * r;
  }
  return 0.5 * sum / (double)s->n + 0.5 * s->mu * sdv_dataset_dot4(x, x, dim);
}

static void least_squares_gradient(const void *state, size_t dim, const double *x, double *g) {
  const least_squares_state *s = state;
  for (size_t j = 0; j < dim; j++) g[j] = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    const double *ai = s->a + i * dim;
    const double r = sdv_dataset_dot4(ai, x, dim) - s->y[i];
    for (size_t j = 0; j < dim; j++) g[j] += r * ai[j];
  }
  for (size_t j = 0; j < dim; j++) g[j] = g[j] / (double)s->n + s->mu * x[j];
}

static void least_squares_hessian(const void *state, size_t dim, const double *x, double *h) {
  const least_squares_state *s = state;
  (void)x;
  for (size_t k = 0; k < dim * dim; k++) h[k] = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    const double *ai = s->a + i * dim;
    for (size_t j = 0; j < dim; j++)
      for (size_t l = 0; l <= j; l++) h[j * dim + l] += ai[j] * ai[l];
  }
  for (size_t j = 0; j < dim; j++)
    for (size_t l = 0; l <= j; l++) {
      h[j * dim + l] /= (double)s->n;
      if (l == j) h[j * dim + l] += s->mu;
      h[l * dim + j] = h[j * dim + l];
    }
}

static size_t least_squares_samples(const void *state) {
  return ((const least_squares_state *)state)->n;
}

static double least_squares_sample_value(const void *state, size_t dim, size_t i, const double *x) {
  const least_squares_state *s = state;
  const double r = sdv_dataset_dot4(s->a + i * dim, x, dim) - s->y[i];
  return 0.5 * r * r + 0.5 * s->mu * sdv_dataset_dot4(x, x, dim);
}

static void least_squares_sample_gradient(const void *state, size_t dim, size_t i, const double *x,
                                          double *g) {
  const least_squares_state *s = state;
  const double *ai = s->a + i * dim;
  const double r = sdv_dataset_dot4(ai, x, dim) - s->y[i];
  for (size_t j = 0; j < dim; j++) g[j] = r * ai[j] + s->mu * x[j];
}

/* Hess f v = (1/n) sum_s (a_s.v) a_s + mu v (x does not enter). */
static void least_squares_hvp(const void *state, size_t dim, const double *x, const double *v,
                              double *hv) {
  const least_squares_state *s = state;
  (void)x;
  for (size_t j = 0; j < dim; j++) hv[j] = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    const double *ai = s->a + i * dim;
    const double c = sdv_dataset_dot4(ai, v, dim);
    for (size_t j = 0; j < dim; j++) hv[j] += c * ai[j];
  }
  for (size_t j = 0; j < dim; j++) hv[j] = hv[j] / (double)s->n + s->mu * v[j];
}

/* The real target of sample i (label-skewed shards sort by it). */
static double least_squares_sample_label(const void *state, size_t i) {
  return ((const least_squares_state *)state)->y[i];
}

/* grad f_s(x) = a_s (a_s.x - y_s) + mu x: the exact minibatch route's view of sample i. */
static void least_squares_sample_affine(const void *state, size_t dim, size_t i, double *a,
                                        double *y, double *mu) {
  const least_squares_state *s = state;
  for (size_t j = 0; j < dim; j++) a[j] = s->a[i * dim + j];
  *y = s->y[i];
  *mu = s->mu;
}

static const sdv_objective_type least_squares_type = {
    .name = "least-squares",
    .help =
        "data=FILE:l2=MU:bias=B: f = mean_s (a_s.x - y_s)^2/2 + MU/2 ||x||^2 on a CSV "
        "(features..., real target y); B = 1 appends an intercept (default); MU >= 0",
    .kind = SDV_OBJECTIVE_GENERAL,
    .size = least_squares_size,
    .init = least_squares_init,
    .free = least_squares_free,
    .value = least_squares_value,
    .gradient = least_squares_gradient,
    .hessian = least_squares_hessian,
    .samples = least_squares_samples,
    .sample_value = least_squares_sample_value,
    .sample_gradient = least_squares_sample_gradient,
    .hvp = least_squares_hvp,
    .sample_label = least_squares_sample_label,
    .sample_affine = least_squares_sample_affine,
};

const sdv_objective_type *const sdv_objective_least_squares = &least_squares_type;
