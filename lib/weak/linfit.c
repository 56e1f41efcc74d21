/* Straight-line fits for the weak harness: y = c0 + c1 x.
 * Weighted (weights 1/se^2, gsl_fit_wlinear) with the covariance inflated by the reduced
 * chi-square when it exceeds 1 (the scatter is then larger than the stated errors explain),
 * or unweighted with residual-based standard errors when the data are exact. */
#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_fit.h>

#include <sdv/errors.h>
#include <sdv/weak.h>

int sdv_weak_linfit(const double *x, const double *y, const double *se, size_t n, double *c0,
                    double *c1, double *se0, double *se1, size_t *dof) {
  if (n < 2) return SDV_ERROR(SDV_EINVAL, "linear fit needs at least 2 points, got %zu", n);
  double cov00, cov01, cov11, chisq;
  int rc;
  *dof = n - 2;
  if (se) {
    double *w = malloc(n * sizeof *w);
    if (!w) return SDV_ERROR(SDV_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) w[i] = 1.0 / (se[i] * se[i]);
    rc = gsl_fit_wlinear(x, 1, w, 1, y, 1, n, c0, c1, &cov00, &cov01, &cov11, &chisq);
    free(w);
    if (rc) return SDV_ERROR(SDV_ENUMERIC, "weighted fit failed: %s", gsl_strerror(rc));
    if (n > 2 && chisq / (double)(n - 2) > 1.0) {
      const double inflate = chisq / (double)(n - 2);
      cov00 *= inflate;
      cov11 *= inflate;
    }
  } else {
    rc = gsl_fit_linear(x, 1, y, 1, n, c0, c1, &cov00, &cov01, &cov11, &chisq);
    if (rc) return SDV_ERROR(SDV_ENUMERIC, "linear fit failed: %s", gsl_strerror(rc));
    if (n == 2) cov00 = cov11 = NAN; /* two exact points: no scatter to estimate from */
  }
  *se0 = sqrt(cov00);
  *se1 = sqrt(cov11);
  return SDV_OK;
}
