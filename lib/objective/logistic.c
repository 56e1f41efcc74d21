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
 * label (0 or 1), comma separated; blank lines and lines starting with '#' are skipped; the
 * path may not contain ':' (the spec separator) and a relative path is relative to the
 * working directory. MU >= 0 (default 0). B = 1 (default) appends a constant feature 1 to
 * every a_i (the intercept, the last coordinate of x); B = 0 does not. The dimension must be
 * (number of feature columns) + B. Nothing else is done to the data: no scaling, no
 * centring, no shuffling.
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

#include <errno.h>
#include <math.h>
#include <stdio.h>
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

/* The raw text of key `data` (there is no string getter in sdv/params.h); marks it used. */
static const char *param_text(sdv_params *params, const char *key) {
  for (size_t i = 0; i < params->n; i++)
    if (strcmp(params->key[i], key) == 0) {
      params->used[i] = true;
      return params->value[i];
    }
  return NULL;
}

/* Splits one CSV line into up to max numbers; returns the count, or (size_t)-1 on a field
 * that is not a finite number. */
static size_t parse_row(char *line, double *out, size_t max) {
  size_t k = 0;
  char *s = line;
  for (;;) {
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v)) return (size_t)-1;
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n') end++;
    if (k < max) out[k] = v;
    k++;
    if (*end == '\0') return k;
    if (*end != ',') return (size_t)-1;
    s = end + 1;
  }
}

static bool skip_line(const char *line) {
  while (*line == ' ' || *line == '\t') line++;
  return *line == '#' || *line == '\0' || *line == '\n' || *line == '\r';
}

/* Reads the file into s (rows of p - bias features plus a label). */
static int load(logistic_state *s, const char *path, size_t dim, size_t bias) {
  int rc = SDV_OK;
  char line[4096];
  double *row = NULL;
  size_t cap = 0, cols = 0, lineno = 0;
  FILE *fp = fopen(path, "r");
  if (!fp)
    return SDV_ERROR(SDV_EIO, "logistic: data = '%s' cannot be opened: %s", path, strerror(errno));
  if (!(row = malloc((dim + 2) * sizeof *row))) goto nomem;
  while (fgets(line, sizeof line, fp)) {
    lineno++;
    if (!strchr(line, '\n') && !feof(fp)) {
      rc = SDV_ERROR(SDV_EINVAL, "logistic: data = '%s' line %zu is longer than %zu bytes", path,
                     lineno, sizeof line - 1);
      goto fail;
    }
    if (skip_line(line)) continue;
    const size_t k = parse_row(line, row, dim + 2);
    if (k == (size_t)-1) {
      rc = SDV_ERROR(SDV_EINVAL, "logistic: data = '%s' line %zu: not a list of numbers", path,
                     lineno);
      goto fail;
    }
    if (cols == 0) {
      cols = k;
      if (cols < 2 || cols - 1 + bias != dim) {
        rc = SDV_ERROR(SDV_EINVAL,
                       "logistic: dim = %zu must equal the %zu feature column(s) of '%s' plus "
                       "bias = %zu",
                       dim, cols < 2 ? (size_t)0 : cols - 1, path, bias);
        goto fail;
      }
    } else if (k != cols) {
      rc = SDV_ERROR(SDV_EINVAL, "logistic: data = '%s' line %zu has %zu fields, expected %zu",
                     path, lineno, k, cols);
      goto fail;
    }
    const double label = row[cols - 1];
    if (label != 0.0 && label != 1.0) {
      rc = SDV_ERROR(SDV_EINVAL, "logistic: data = '%s' line %zu: label = %g must be 0 or 1", path,
                     lineno, label);
      goto fail;
    }
    if (s->n == cap) {
      cap = cap ? 2 * cap : 64;
      double *a = realloc(s->a, cap * dim * sizeof *a);
      if (!a) goto nomem;
      s->a = a;
      double *y = realloc(s->y, cap * sizeof *y);
      if (!y) goto nomem;
      s->y = y;
    }
    double *ai = s->a + s->n * dim;
    for (size_t j = 0; j + 1 < cols; j++) ai[j] = row[j];
    if (bias) ai[dim - 1] = 1.0;
    s->y[s->n] = 2.0 * label - 1.0;
    s->n++;
  }
  if (ferror(fp)) {
    rc = SDV_ERROR(SDV_EIO, "logistic: data = '%s': read error", path);
    goto fail;
  }
  if (s->n == 0) {
    rc = SDV_ERROR(SDV_EINVAL, "logistic: data = '%s' has no samples", path);
    goto fail;
  }
  s->p = dim;
  free(row);
  fclose(fp);
  return SDV_OK;
nomem:
  rc = SDV_ERROR(SDV_ENOMEM, "logistic: out of memory reading '%s'", path);
fail:
  free(row);
  fclose(fp);
  return rc;
}

static int logistic_init(void *state, size_t dim, sdv_params *params) {
  logistic_state *s = state;
  const char *path = param_text(params, "data");
  if (!path) return SDV_ERROR(SDV_EINVAL, "logistic: data = FILE is required");
  int rc = sdv_params_get_double(params, "l2", 0.0, &s->mu);
  if (rc) return rc;
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

static double dot(const double *a, const double *x, size_t p) {
  double m = 0.0;
  for (size_t j = 0; j < p; j++) m += a[j] * x[j];
  return m;
}

static double logistic_value(const void *state, size_t dim, const double *x) {
  const logistic_state *s = state;
  double sum = 0.0;
  for (size_t i = 0; i < s->n; i++) sum += softplus(-s->y[i] * dot(s->a + i * dim, x, dim));
  return sum / (double)s->n + 0.5 * s->mu * dot(x, x, dim);
}

static void logistic_gradient(const void *state, size_t dim, const double *x, double *g) {
  const logistic_state *s = state;
  for (size_t j = 0; j < dim; j++) g[j] = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    const double *ai = s->a + i * dim;
    const double c = -s->y[i] * sigmoid(-s->y[i] * dot(ai, x, dim));
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
    const double e = exp(-fabs(dot(ai, x, dim)));
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
};

const sdv_objective_type *const sdv_objective_logistic = &logistic_type;
