/* Structured diffusion matrices: out = S xi with S S^T = Sigma (see sdv/diffusion.h and
 * docs/math/diffusion.md).
 *
 * DIAG_RANK1, Sigma = Diag(D) - beta u u^T with D >= 0, beta >= 0 (theory §12, derived):
 * with w = D^(-1/2) u and r = beta |w|^2, the matrix A = D^(1/2) (I - gamma w w^T) with
 * gamma = beta / (1 + sqrt(1 - r)) satisfies A A^T = Sigma, and Sigma is PSD iff r <= 1.
 * Applying A costs two passes over the coordinates and no storage:
 *   c = sum_j u_j xi_j / sqrt(D_j),   (A xi)_j = sqrt(D_j) xi_j - gamma u_j c.
 * Reference value (checked in tests/test-diffusion.c): D = (1, 1, 1, 1), u = (1, 1, 1, 1),
 * beta = 1/4 gives r = 1 exactly, gamma = 1/4, and A e_1 = (3/4, -1/4, -1/4, -1/4).
 *
 * DENSE: Cholesky Sigma = L L^T (GSL), computed into D->work so that D->dense keeps Sigma.
 */
#include <sdv/diffusion.h>
#include <sdv/errors.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/clones.h"
#include "core/rank1.h"

/* Round-off allowances. A diagonal entry computed as a difference of nearly equal terms can
 * come out a few ulps below zero; a value r = 1 (singular but PSD Sigma) can come out a few
 * ulps above one. Anything beyond these is a genuinely indefinite Sigma. */
#define SDV_DIFFUSION_DIAG_TOL 1e-14

int sdv_diffusion_alloc(sdv_diffusion **out, size_t dim, bool with_dense) {
  *out = NULL;
  if (dim < 1) return SDV_ERROR(SDV_EINVAL, "diffusion: dim = %zu must be >= 1", dim);
  if (with_dense && dim > SIZE_MAX / sizeof(double) / dim)
    return SDV_ERROR(SDV_ENOMEM, "diffusion: dim = %zu is too large for dense storage", dim);
  sdv_diffusion *D = calloc(1, sizeof *D);
  if (!D) goto nomem;
  D->structure = SDV_DIFFUSION_SCALAR;
  D->dim = dim;
  D->scalar = 0.0;
  D->diag = calloc(dim, sizeof *D->diag);
  D->u = calloc(dim, sizeof *D->u);
  if (!D->diag || !D->u) goto nomem;
  /* Scratch: the Cholesky factor (dense), else one d-vector (no structured path needs it
   * today; it keeps work_len >= dim for every diffusion). */
  D->work_len = with_dense ? dim * dim : dim;
  D->work = calloc(D->work_len, sizeof *D->work);
  if (!D->work) goto nomem;
  if (with_dense) {
    D->dense = calloc(dim * dim, sizeof *D->dense);
    if (!D->dense) goto nomem;
  }
  *out = D;
  return SDV_OK;
nomem:
  sdv_diffusion_free(D);
  return SDV_ERROR(SDV_ENOMEM, "diffusion: out of memory (dim = %zu)", dim);
}

void sdv_diffusion_free(sdv_diffusion *D) {
  if (!D) return;
  free(D->diag);
  free(D->u);
  free(D->dense);
  free(D->work);
  free(D);
}

/* How far below zero a diagonal entry may be and still count as round-off: relative to the
 * largest entry (NaNs are skipped here and rejected by checked_diag; an infinite entry allows
 * no slack). */
static double diag_tolerance(const double *diag, size_t d) {
  double m = 0.0;
  for (size_t j = 0; j < d; j++)
    if (diag[j] > m) m = diag[j];
  return isfinite(m) ? SDV_DIFFUSION_DIAG_TOL * m : 0.0;
}

/* The diagonal entry to use: tiny negatives from round-off become 0, anything else negative
 * (or NaN) is an error. */
static int checked_diag(const char *what, size_t j, double v, double tol, double *out) {
  if (v >= 0.0) {
    *out = v;
    return SDV_OK;
  }
  if (v >= -tol) {
    *out = 0.0;
    return SDV_OK;
  }
  return SDV_ERROR(SDV_EDOM,
                   "diffusion (%s): diag[%zu] = %g is negative: Sigma is not positive "
                   "semi-definite",
                   what, j, v);
}

/* out = sqrt(D) xi for every coordinate, and whether every D_j >= 0 (then nothing needed
 * clamping and out is the answer). One vectorised pass; a negative or NaN entry gives a NaN
 * in out, which the caller's general path overwrites. */
static SDV_CLONES bool diagonal_kernel(size_t d, const double *restrict diag,
                                       const double *restrict xi, double *restrict out) {
  bool nonnegative = true;
  for (size_t j = 0; j < d; j++) {
    nonnegative &= diag[j] >= 0.0;
    out[j] = sqrt(diag[j]) * xi[j];
  }
  return nonnegative;
}

static int apply_diagonal(const sdv_diffusion *D, const double *xi, double *out) {
  const size_t d = D->dim;
  /* Common case first: no entry below 0 (nor NaN), nothing to clamp. */
  if (diagonal_kernel(d, D->diag, xi, out)) return SDV_OK;
  const double tol = diag_tolerance(D->diag, d);
  for (size_t j = 0; j < d; j++) {
    double v = 0.0;
    const int rc = checked_diag("diagonal", j, D->diag[j], tol, &v);
    if (rc) return rc;
    out[j] = sqrt(v) * xi[j];
  }
  return SDV_OK;
}

/* The common case of apply_diag_rank1: every D_j > 0 and 0 < beta < inf (the caller checks
 * beta). One pass over blocks of four coordinates computes s_j = sqrt(D_j), s_j xi_j (kept
 * in out), w_j = u_j / s_j and the two sums sum w_j^2 and c = sum w_j xi_j in four partial
 * sums (lane l takes the j = l mod 4; the d mod 4 tail goes to lane 0; then
 * (l0 + l1) + (l2 + l3)), written with four-lane vectors so that both clones add in exactly
 * this order; a second pass forms out_j = s_j xi_j - gamma c u_j (the product already
 * rounded, as before: the same bits). The first pass is bound by the divider, so its extra
 * product is free and the second pass, which waits for gamma c, is shorter. There is no separate
 * test that D > 0: a D_j <= 0 or NaN makes w_j infinite or NaN (u_j / 0, 0 / 0, u_j / NaN), hence
 * sum w_j^2 and r = beta sum w_j^2 infinite or NaN, and `r <= 1 + tol` fails; so does an
 * overflowing sum or a non-finite u_j. Then this returns false and the general path decides
 * (clamps, messages). Returns true when out holds S xi. */
static SDV_CLONES bool rank1_positive_kernel(size_t d, const double *restrict diag,
                                             const double *restrict u, double beta,
                                             const double *restrict xi, double *restrict out) {
  sdv_v4d a = {0.0, 0.0, 0.0, 0.0}, b = {0.0, 0.0, 0.0, 0.0};
  size_t j = 0;
  for (; j + 4 <= d; j += 4) {
    sdv_rank1_block(diag + j, u + j, xi + j, out + j, &a, &b);
  }
  for (; j < d; j++) {
    const double sj = sqrt(diag[j]), wj = u[j] / sj;
    out[j] = sj * xi[j];
    a[0] += wj * wj;
    b[0] += wj * xi[j];
  }
  const double sum_w2 = (a[0] + a[1]) + (a[2] + a[3]), c = (b[0] + b[1]) + (b[2] + b[3]);
  double gamma;
  if (!sdv_rank1_gamma(beta, sum_w2, &gamma)) return false; /* the general path reports it */
  const double gc = gamma * c;
  for (size_t l = 0; l < d; l++) out[l] -= gc * u[l];
  return true;
}

static int apply_diag_rank1(sdv_diffusion *D, const double *xi, double *out) {
  const size_t d = D->dim;
  const double beta = D->beta;
  if (!(beta >= 0.0) || !isfinite(beta))
    return SDV_ERROR(SDV_EDOM, "diffusion (diagonal minus rank 1): beta = %g must be >= 0", beta);
  if (beta > 0.0 && rank1_positive_kernel(d, D->diag, D->u, beta, xi, out)) return SDV_OK;
  /* A diagonal that overflowed at a finite but huge state (a diverging path: (d_j f)^2 = inf,
   * while d_j f itself may still be finite) is not a Sigma that fails to be PSD: the increment
   * is not finite, so the path becomes non-finite and the process marks it diverged, as for any
   * other blow-up. (An infinite u_j with a finite D_j cannot come from a model, D_j >= beta
   * u_j^2: that stays an error.) */
  for (size_t j = 0; j < d; j++)
    if (D->diag[j] == INFINITY) {
      for (size_t l = 0; l < d; l++) out[l] = NAN;
      return SDV_OK;
    }
  const double tol = diag_tolerance(D->diag, d);
  /* Pass 1: validate, r = beta sum u_j^2 / D_j and c = sum u_j xi_j / sqrt(D_j). */
  double sum_w2 = 0.0, c = 0.0;
  for (size_t j = 0; j < d; j++) {
    double v = 0.0;
    const int rc = checked_diag("diagonal minus rank 1", j, D->diag[j], tol, &v);
    if (rc) return rc;
    if (beta == 0.0) continue; /* Sigma = Diag(D): u plays no role */
    const double u = D->u[j];
    if (v > 0.0) {
      const double s = sqrt(v);
      sum_w2 += (u / s) * (u / s);
      c += u * xi[j] / s;
    } else if (u != 0.0) {
      return SDV_ERROR(SDV_EDOM,
                       "diffusion (diagonal minus rank 1): diag[%zu] = 0 but u[%zu] = %g: "
                       "Sigma is not positive semi-definite",
                       j, j, u);
    }
  }
  const double r = beta * sum_w2;
  if (!(r <= 1.0 + SDV_DIFFUSION_R_TOL))
    return SDV_ERROR(SDV_EDOM,
                     "diffusion (diagonal minus rank 1): Sigma is not positive semi-definite "
                     "(r = %.15g > 1, where r = beta sum_j u_j^2 / D_j)",
                     r);
  const double one_minus_r = r < 1.0 ? 1.0 - r : 0.0;
  /* This form has no cancellation as r -> 0 and stays finite when u = 0. */
  const double gamma = beta / (1.0 + sqrt(one_minus_r));
  const double gc = gamma * c;
  /* Pass 2. Where D_j was clamped to 0, u_j = 0 (or beta = 0) and the entry is 0. */
  for (size_t j = 0; j < d; j++) {
    const double v = D->diag[j] > 0.0 ? D->diag[j] : 0.0;
    out[j] = sqrt(v) * xi[j] - (beta == 0.0 ? 0.0 : gc * D->u[j]);
  }
  return SDV_OK;
}

static int apply_dense(sdv_diffusion *D, const double *xi, double *out) {
  const size_t d = D->dim;
  if (!D->dense || D->work_len < d * d)
    return SDV_ERROR(SDV_EINVAL,
                     "diffusion (dense): no dense storage; allocate with with_dense = true");
  /* Factor a copy: D->dense keeps Sigma so that callers and to_dense can still read it. */
  memcpy(D->work, D->dense, d * d * sizeof *D->work);
  gsl_matrix_view L = gsl_matrix_view_array(D->work, d, d);
  const int st = gsl_linalg_cholesky_decomp1(&L.matrix);
  if (st == GSL_EDOM)
    return SDV_ERROR(SDV_EDOM,
                     "diffusion (dense): Sigma is not positive definite (Cholesky "
                     "failed; a singular PSD Sigma needs a structured form)");
  if (st)
    return SDV_ERROR(SDV_ENUMERIC, "diffusion (dense): Cholesky failed: %s", gsl_strerror(st));
  /* out = L xi with L the lower triangle of the factor. */
  for (size_t i = 0; i < d; i++) {
    const double *row = D->work + i * d;
    double s = 0.0;
    for (size_t k = 0; k <= i; k++) s += row[k] * xi[k];
    out[i] = s;
  }
  return SDV_OK;
}

int sdv_diffusion_apply(sdv_diffusion *D, const double *xi, double *out) {
  switch (D->structure) {
  case SDV_DIFFUSION_SCALAR: {
    if (!(D->scalar >= 0.0))
      return SDV_ERROR(SDV_EDOM, "diffusion (scalar): scalar = %g must be >= 0", D->scalar);
    const double s = sqrt(D->scalar);
    for (size_t j = 0; j < D->dim; j++) out[j] = s * xi[j];
    return SDV_OK;
  }
  case SDV_DIFFUSION_DIAGONAL:
    return apply_diagonal(D, xi, out);
  case SDV_DIFFUSION_DIAG_RANK1:
    return apply_diag_rank1(D, xi, out);
  case SDV_DIFFUSION_DENSE:
    return apply_dense(D, xi, out);
  case SDV_DIFFUSION_SAMPLED:
    return SDV_ERROR(SDV_ENOTSUP,
                     "diffusion: a SAMPLED diffusion has no square root to apply; "
                     "draw increments from the model instead");
  }
  return SDV_ERROR(SDV_EINVAL, "diffusion: structure = %d is not a known structure",
                   (int)D->structure);
}

int sdv_diffusion_to_dense(const sdv_diffusion *D, double *sigma) {
  const size_t d = D->dim;
  switch (D->structure) {
  case SDV_DIFFUSION_SCALAR:
  case SDV_DIFFUSION_DIAGONAL:
  case SDV_DIFFUSION_DIAG_RANK1:
    for (size_t i = 0; i < d; i++)
      for (size_t j = 0; j < d; j++) {
        double v = 0.0;
        if (D->structure == SDV_DIFFUSION_DIAG_RANK1) v = -D->beta * D->u[i] * D->u[j];
        if (i == j) v += D->structure == SDV_DIFFUSION_SCALAR ? D->scalar : D->diag[i];
        sigma[i * d + j] = v;
      }
    return SDV_OK;
  case SDV_DIFFUSION_DENSE:
    if (!D->dense)
      return SDV_ERROR(SDV_EINVAL,
                       "diffusion (dense): no dense storage; allocate with with_dense = true");
    memcpy(sigma, D->dense, d * d * sizeof *sigma);
    return SDV_OK;
  case SDV_DIFFUSION_SAMPLED:
    return SDV_ERROR(SDV_ENOTSUP, "diffusion: a SAMPLED diffusion has no closed-form Sigma");
  }
  return SDV_ERROR(SDV_EINVAL, "diffusion: structure = %d is not a known structure",
                   (int)D->structure);
}
