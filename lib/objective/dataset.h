/* Private: a validated data set read from a CSV file, shared by the data-driven objectives
 * (logistic, least-squares, softmax, mlp). Format (data/README.md): one sample per line, the
 * feature columns then the label, comma separated; blank lines and lines whose first
 * non-blank character is '#' are skipped. */
#ifndef SDV_OBJECTIVE_DATASET_H
#define SDV_OBJECTIVE_DATASET_H

#include <stddef.h>

#include <sdv/params.h>

/* Longest accepted line in bytes; a longer line is an error, never silently split. */
#define SDV_DATASET_LINE_MAX 4095
/* Largest number of classes a classification file may have (labels 0..MAX-1). */
#define SDV_DATASET_CLASSES_MAX 1024
/* `classes` argument of sdv_dataset_load: the last column is a real target. */
#define SDV_DATASET_REAL ((size_t)-1)

typedef struct sdv_dataset {
  size_t n;       /* samples (rows) */
  size_t p;       /* feature columns (may be 0: a file with only a label column) */
  size_t classes; /* C (labels are 0..C-1), or 0 for a real target */
  double *x;      /* [n * p] features, row-major (owned) */
  double *y;      /* [n] class labels as exact integers, or the real targets (owned) */
} sdv_dataset;

/* Reads and validates path into *ds (zeroed first). who names the objective in messages.
 * classes: C >= 2 requires every label to be an integer in 0..C-1; 0 infers C as 1 + the
 * largest label (an integer in 0..SDV_DATASET_CLASSES_MAX-1) and requires C >= 2;
 * SDV_DATASET_REAL takes the last column as a real (finite) target.
 * Returns SDV_OK, SDV_EIO (cannot open or read) or SDV_EINVAL, whose message names the file,
 * line and column: a field that is not a number, NaN or infinity, a row whose field count
 * differs from the first row's, a bad label, a line longer than SDV_DATASET_LINE_MAX, no
 * samples; or SDV_ENOMEM. On failure *ds is empty (nothing to free). */
int sdv_dataset_load(sdv_dataset *ds, const char *who, const char *path, size_t classes);

/* Frees what ds owns and zeroes it; safe on a zeroed struct. */
void sdv_dataset_clear(sdv_dataset *ds);

/* The design matrix: *a = a newly allocated [n * (p + bias)] row-major copy of the features
 * with, if bias = 1, a constant 1 appended to every row (the intercept). SDV_ENOMEM naming
 * who on failure (*a = NULL). */
int sdv_dataset_design(const sdv_dataset *ds, const char *who, size_t bias, double **a);

/* a.x over p entries, summed in index order (logistic's rounding, kept so that its numbers
 * do not change). */
static inline double sdv_dataset_dot(const double *a, const double *x, size_t p) {
  double m = 0.0;
  for (size_t j = 0; j < p; j++) m += a[j] * x[j];
  return m;
}

/* a.x with four partial sums: without -ffast-math a single running sum is one long chain of
 * dependent additions that the compiler may not reorder; four independent chains fill the
 * pipeline and vectorise. The rounding differs from sdv_dataset_dot's (by a few ulps). */
static inline double sdv_dataset_dot4(const double *a, const double *x, size_t p) {
  double m0 = 0.0, m1 = 0.0, m2 = 0.0, m3 = 0.0;
  size_t j = 0;
  for (; j + 4 <= p; j += 4) {
    m0 += a[j] * x[j];
    m1 += a[j + 1] * x[j + 1];
    m2 += a[j + 2] * x[j + 2];
    m3 += a[j + 3] * x[j + 3];
  }
  for (; j < p; j++) m0 += a[j] * x[j];
  return (m0 + m1) + (m2 + m3);
}

/* Samples per block in the sample_gradient_sum hooks: a block's design rows (block x (p + 1)
 * doubles: 16.6 KB for digits) and per-sample coefficients stay in the L1 cache while every
 * output row is updated from them. */
#define SDV_DATASET_BLOCK 32

/* g[r * ldg + j] += sum_{b < nb} coef[b * ldc + r] * a[b * lda + j] for r < rows, j < q: the
 * product Coef^T A of a block of nb samples, which turns per-sample rank-one gradient updates
 * into one pass over each output row per block. Samples are taken four at a time, summed as
 * (c0 a0 + c1 a1) + (c2 a2 + c3 a3) before being added to g, then one at a time; the same
 * bits on every CPU (lib/core/clones.h). */
void sdv_dataset_gemm_tn(size_t nb, size_t rows, size_t q, const double *coef, size_t ldc,
                         const double *a, size_t lda, double *g, size_t ldg);

/* z[b * ldz + r] = sdv_dataset_dot4(w + r * ldw, a + b * lda, q) for b < nb, r < rows, bit for
 * bit (the same four partial sums in the same order), four samples at a time so that each
 * load of w serves four products: the scores of a block of samples. */
void sdv_dataset_dots(size_t nb, size_t rows, size_t q, const double *w, size_t ldw,
                      const double *a, size_t lda, double *z, size_t ldz);

/* The raw text of the spec key `data` into *path (marked used). SDV_EINVAL naming who if the
 * key is absent (sdv/params.h has no string getter: values are parsed as numbers there). */
int sdv_dataset_param_path(sdv_params *params, const char *who, const char **path);

#endif
