/* sdv/diffusion.h — structured diffusion matrices, applied and never materialised.
 *
 * An SDE model dX = b(X) dt + sqrt(eta) S(X) dW needs only products S(x) xi with
 * S S^T = Sigma(x). Sigma is described by its structure:
 *   SCALAR      Sigma = scalar * I                       (DSGD)
 *   DIAGONAL    Sigma = Diag(diag)                       (DCSGD-Bernoulli, DSignSGD)
 *   DIAG_RANK1  Sigma = Diag(diag) - beta u u^T          (DCSGD-rand-k), O(d) square root
 *   DENSE       Sigma = dense (row-major d x d)          (general; Cholesky, SDV_EDOM if not PSD)
 *   SAMPLED     no closed form: the model draws increments with covariance Sigma instead
 *
 * O(d) factor for Diag(D) - beta u u^T (D >= 0, beta >= 0, PSD iff r <= 1):
 *   r = beta sum_j u_j^2 / D_j,  gamma = beta / (1 + sqrt(1 - r)),
 *   (S xi)_j = sqrt(D_j) xi_j - gamma u_j c,  c = sum_j u_j xi_j / sqrt(D_j)
 * (terms with D_j = 0 are skipped; PSD then forces u_j = 0). See docs/math/diffusion.md.
 */
#ifndef SDV_DIFFUSION_H
#define SDV_DIFFUSION_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sdv_diffusion_structure {
  SDV_DIFFUSION_SCALAR = 0,
  SDV_DIFFUSION_DIAGONAL = 1,
  SDV_DIFFUSION_DIAG_RANK1 = 2,
  SDV_DIFFUSION_DENSE = 3,
  SDV_DIFFUSION_SAMPLED = 4
} sdv_diffusion_structure;

typedef struct sdv_diffusion {
  sdv_diffusion_structure structure;
  size_t dim;
  double scalar; /* SCALAR */
  double *diag;  /* [dim]: DIAGONAL, DIAG_RANK1 */
  double beta;   /* DIAG_RANK1 */
  double *u;     /* [dim]: DIAG_RANK1 */
  double *dense; /* [dim*dim]: DENSE covariance (row-major); NULL unless allocated dense */
  double *work;  /* private scratch */
  size_t work_len;
} sdv_diffusion;

/* Allocates storage for dimension dim >= 1; with_dense also reserves d*d (and the
 * Cholesky scratch). The structure starts as SCALAR with scalar = 0. */
int sdv_diffusion_alloc(sdv_diffusion **out, size_t dim, bool with_dense);
void sdv_diffusion_free(sdv_diffusion *D); /* NULL is a no-op */

/* out = S xi with S S^T = Sigma. out and xi do not alias. Returns SDV_OK, SDV_EDOM with a
 * message if Sigma is not positive semi-definite (negative diagonal, r > 1 beyond round-off,
 * failed Cholesky), SDV_ENOTSUP for SAMPLED, SDV_EINVAL for DENSE without dense storage.
 * D->dense is left intact: the Cholesky factor is computed into D->work on every call. */
int sdv_diffusion_apply(sdv_diffusion *D, const double *xi, double *out);

/* Writes Sigma as a dense row-major matrix (tests and small reports). SDV_ENOTSUP for
 * SAMPLED. */
int sdv_diffusion_to_dense(const sdv_diffusion *D, double *sigma);

#ifdef __cplusplus
}
#endif
#endif
