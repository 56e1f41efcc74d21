/* Reading and validating a CSV data set (see dataset.h and data/README.md).
 *
 * Every rejection names the file, the line (1-based, counting comment and blank lines, as an
 * editor shows them) and, where one field is at fault, the column (1-based), so that a bad
 * file can be fixed without guessing. The checks are those an optimiser would otherwise turn
 * into silent NaNs or wrong shapes: non-numeric or non-finite fields, ragged rows, labels that
 * are not a class index, and files without samples.
 */
#include "objective/dataset.h"

#include "core/clones.h"

#include <sdv/errors.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sdv_dataset_clear(sdv_dataset *ds) {
  free(ds->x);
  free(ds->y);
  memset(ds, 0, sizeof *ds);
}

int sdv_dataset_param_path(sdv_params *params, const char *who, const char **path) {
  for (size_t i = 0; i < params->n; i++)
    if (strcmp(params->key[i], "data") == 0) {
      params->used[i] = true;
      *path = params->value[i];
      return SDV_OK;
    }
  *path = NULL;
  return SDV_ERROR(SDV_EINVAL, "%s: data = FILE is required", who);
}

int sdv_dataset_design(const sdv_dataset *ds, const char *who, size_t bias, double **a) {
  const size_t q = ds->p + bias, len = ds->n * q;
  if (!(*a = malloc((len ? len : 1) * sizeof **a)))
    return SDV_ERROR(SDV_ENOMEM, "%s: out of memory for %zu x %zu data", who, ds->n, q);
  for (size_t i = 0; i < ds->n; i++) {
    double *ai = *a + i * q;
    memcpy(ai, ds->x + i * ds->p, ds->p * sizeof *ai);
    if (bias) ai[q - 1] = 1.0;
  }
  return SDV_OK;
}

static bool skip_line(const char *line) {
  while (*line == ' ' || *line == '\t') line++;
  return *line == '#' || *line == '\0' || *line == '\n' || *line == '\r';
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Length of the field starting at s (up to ',' or the end of the line), for messages. */
static int field_len(const char *s) {
  size_t k = 0;
  while (s[k] && s[k] != ',' && s[k] != '\n' && s[k] != '\r') k++;
  return k > 40 ? 40 : (int)k;
}

/* What went wrong on one line; column 0 when the whole line is at fault. */
typedef struct row_error {
  const char *field;
  size_t column;
  bool nonfinite; /* a number, but NaN or infinite */
} row_error;

/* Splits one line into numbers; returns the count, or 0 with *err filled on a bad field. */
static size_t parse_row(char *line, double *out, size_t max, row_error *err) {
  size_t k = 0;
  char *s = line;
  for (;;) {
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    /* strtod also parses "nan" and "inf", and overflow to +-HUGE_VAL sets ERANGE. */
    bool ok = end != s;
    const bool finite = ok && isfinite(v) && !(errno == ERANGE && fabs(v) == HUGE_VAL);
    while (ok && is_space(*end)) end++;
    if (ok && *end != '\0' && *end != ',') ok = false;
    if (!ok || !finite) {
      *err = (row_error){.field = s, .column = k + 1, .nonfinite = ok && !finite};
      return 0;
    }
    if (k < max) out[k] = v;
    k++;
    if (*end == '\0') return k;
    s = end + 1;
  }
}

/* Appends one sample; capacity doubles, so loading is linear in the file size. */
static int push(sdv_dataset *ds, size_t *cap, const double *row) {
  if (ds->n == *cap) {
    const size_t c = *cap ? 2 * *cap : 64;
    double *x = realloc(ds->x, (ds->p ? c * ds->p : 1) * sizeof *x);
    if (!x) return SDV_ENOMEM;
    ds->x = x;
    double *y = realloc(ds->y, c * sizeof *y);
    if (!y) return SDV_ENOMEM;
    ds->y = y;
    *cap = c;
  }
  memcpy(ds->x + ds->n * ds->p, row, ds->p * sizeof *row);
  ds->y[ds->n] = row[ds->p];
  ds->n++;
  return SDV_OK;
}

/* Checks a label; on failure raises the error naming the place. */
static int check_label(double label, size_t classes, const char *who, const char *path,
                       size_t lineno, size_t column) {
  if (classes == SDV_DATASET_REAL) return SDV_OK;
  const size_t top = classes ? classes : SDV_DATASET_CLASSES_MAX;
  if (label >= 0.0 && label < (double)top && label == floor(label)) return SDV_OK;
  if (classes)
    return SDV_ERROR(SDV_EINVAL,
                     "%s: data = '%s' line %zu column %zu: label = %g must be an integer class "
                     "in 0..%zu",
                     who, path, lineno, column, label, classes - 1);
  return SDV_ERROR(SDV_EINVAL,
                   "%s: data = '%s' line %zu column %zu: label = %g must be an integer class "
                   "0, 1, 2, ... below %d",
                   who, path, lineno, column, label, SDV_DATASET_CLASSES_MAX);
}

int sdv_dataset_load(sdv_dataset *ds, const char *who, const char *path, size_t classes) {
  memset(ds, 0, sizeof *ds);
  int rc = SDV_OK;
  /* A line of L bytes has at most L/2 + 1 fields. */
  enum { FIELDS_MAX = SDV_DATASET_LINE_MAX / 2 + 1 };
  char line[SDV_DATASET_LINE_MAX + 2];
  double *row = NULL;
  size_t cap = 0, cols = 0, first = 0, lineno = 0;
  double top = 0.0;
  FILE *fp = fopen(path, "r");
  if (!fp)
    return SDV_ERROR(SDV_EIO, "%s: data = '%s' cannot be opened: %s", who, path, strerror(errno));
  if (!(row = malloc(FIELDS_MAX * sizeof *row))) goto nomem;
  while (fgets(line, sizeof line, fp)) {
    lineno++;
    if (!strchr(line, '\n') && !feof(fp)) {
      rc = SDV_ERROR(SDV_EINVAL, "%s: data = '%s' line %zu is longer than %d bytes", who, path,
                     lineno, SDV_DATASET_LINE_MAX);
      goto fail;
    }
    if (skip_line(line)) continue;
    row_error e = {NULL, 0, false};
    const size_t k = parse_row(line, row, FIELDS_MAX, &e);
    if (k == 0) {
      rc = SDV_ERROR(SDV_EINVAL,
                     "%s: data = '%s' line %zu: not a list of %snumbers (column %zu = '%.*s' is "
                     "%s)",
                     who, path, lineno, e.nonfinite ? "finite " : "", e.column, field_len(e.field),
                     e.field, e.nonfinite ? "not finite" : "not a number");
      goto fail;
    }
    if (cols == 0) {
      cols = k;
      first = lineno;
      ds->p = cols - 1;
    } else if (k != cols) {
      rc = SDV_ERROR(SDV_EINVAL,
                     "%s: data = '%s' line %zu has %zu fields, expected %zu as on line %zu "
                     "(column %zu is %s)",
                     who, path, lineno, k, cols, first, k > cols ? cols + 1 : k + 1,
                     k > cols ? "extra" : "missing");
      goto fail;
    }
    if ((rc = check_label(row[cols - 1], classes, who, path, lineno, cols))) goto fail;
    if (row[cols - 1] > top) top = row[cols - 1];
    if (push(ds, &cap, row)) goto nomem;
  }
  if (ferror(fp)) {
    rc = SDV_ERROR(SDV_EIO, "%s: data = '%s': read error after line %zu", who, path, lineno);
    goto fail;
  }
  if (ds->n == 0) {
    rc =
        SDV_ERROR(SDV_EINVAL, "%s: data = '%s' has no samples (%zu line(s), all blank or comments)",
                  who, path, lineno);
    goto fail;
  }
  ds->classes = classes == SDV_DATASET_REAL ? 0 : classes ? classes : (size_t)top + 1;
  if (classes == 0 && ds->classes < 2) {
    rc = SDV_ERROR(SDV_EINVAL,
                   "%s: data = '%s': every label (column %zu) is 0; a classification data set "
                   "needs at least 2 classes",
                   who, path, cols);
    goto fail;
  }
  free(row);
  fclose(fp);
  return SDV_OK;
nomem:
  rc = SDV_ERROR(SDV_ENOMEM, "%s: out of memory reading '%s'", who, path);
fail:
  free(row);
  fclose(fp);
  sdv_dataset_clear(ds);
  return rc;
}

SDV_CLONES void sdv_dataset_gemm_tn(size_t nb, size_t rows, size_t q, const double *coef,
                                    size_t ldc, const double *a, size_t lda, double *g,
                                    size_t ldg) {
  for (size_t r = 0; r < rows; r++) {
    double *restrict gr = g + r * ldg;
    size_t b = 0;
    for (; b + 4 <= nb; b += 4) {
      const double c0 = coef[b * ldc + r], c1 = coef[(b + 1) * ldc + r];
      const double c2 = coef[(b + 2) * ldc + r], c3 = coef[(b + 3) * ldc + r];
      const double *restrict a0 = a + b * lda, *restrict a1 = a0 + lda;
      const double *restrict a2 = a1 + lda, *restrict a3 = a2 + lda;
      for (size_t j = 0; j < q; j++) gr[j] += (c0 * a0[j] + c1 * a1[j]) + (c2 * a2[j] + c3 * a3[j]);
    }
    for (; b < nb; b++) {
      const double c0 = coef[b * ldc + r];
      const double *restrict a0 = a + b * lda;
      for (size_t j = 0; j < q; j++) gr[j] += c0 * a0[j];
    }
  }
}

/* The four lanes of a v4d partial sum as dot4's m0..m3: lane l holds the products j = l mod 4
 * of the whole chunks; the tail goes to m0, then (m0 + m1) + (m2 + m3). */
static inline double finish_dot4(sdv_v4d acc, const double *w, const double *a, size_t j,
                                 size_t q) {
  double m0 = acc[0];
  for (; j < q; j++) m0 += w[j] * a[j];
  return (m0 + acc[1]) + (acc[2] + acc[3]);
}

SDV_CLONES void sdv_dataset_dots(size_t nb, size_t rows, size_t q, const double *w, size_t ldw,
                                 const double *a, size_t lda, double *z, size_t ldz) {
  const size_t q4 = q - q % 4;
  size_t b = 0;
  for (; b + 4 <= nb; b += 4) {
    const double *a0 = a + b * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
    for (size_t r = 0; r < rows; r++) {
      const double *wr = w + r * ldw;
      sdv_v4d s0 = {0.0, 0.0, 0.0, 0.0}, s1 = s0, s2 = s0, s3 = s0;
      for (size_t j = 0; j < q4; j += 4) {
        sdv_v4d v, x0, x1, x2, x3;
        memcpy(&v, wr + j, sizeof v);
        memcpy(&x0, a0 + j, sizeof v);
        memcpy(&x1, a1 + j, sizeof v);
        memcpy(&x2, a2 + j, sizeof v);
        memcpy(&x3, a3 + j, sizeof v);
        s0 += v * x0;
        s1 += v * x1;
        s2 += v * x2;
        s3 += v * x3;
      }
      z[b * ldz + r] = finish_dot4(s0, wr, a0, q4, q);
      z[(b + 1) * ldz + r] = finish_dot4(s1, wr, a1, q4, q);
      z[(b + 2) * ldz + r] = finish_dot4(s2, wr, a2, q4, q);
      z[(b + 3) * ldz + r] = finish_dot4(s3, wr, a3, q4, q);
    }
  }
  for (; b < nb; b++)
    for (size_t r = 0; r < rows; r++) z[b * ldz + r] = sdv_dataset_dot4(w + r * ldw, a + b * lda, q);
}
