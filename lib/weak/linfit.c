/* Straight-line fits for the weak harness: y = c0 + c1 x.
 * Weighted (weights 1/se^2, gsl_fit_wlinear) with the covariance inflated by the reduced
 * chi-square when it exceeds 1 (the scatter is then larger than the stated errors explain),
 * or unweighted with residual-based standard errors when the data are exact. */
#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_fit.h>
#include <gsl/gsl_multifit.h>

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

/* Polynomial fits y = c0 + c1 x (+ c2 x^2) for the fluctuation statistic, by SVD least
 * squares (gsl_multifit_wlinear; weights 1/se^2, or 1 for exact data). The intercept is a
 * linear function of the data, c0 = sum_i w0[i] y[i]; w0 = W X (X^T W X)^{-1} e_0 is returned
 * so that bounds on the data (numerical errors of exact routes) propagate exactly. */
int sdv_weak_polyfit(const double *x, const double *y, const double *se, size_t n,
                     size_t degree, double *c, double *c_se, double *chi2, size_t *dof,
                     double *w0) {
  if (degree < 1 || degree > 2)
    return SDV_ERROR(SDV_EINVAL, "polynomial fit: degree = %zu must be 1 or 2", degree);
  const size_t p = degree + 1;
  if (n < p)
    return SDV_ERROR(SDV_EINVAL, "polynomial fit of degree %zu needs at least %zu points, got %zu",
                     degree, p, n);
  int rc = SDV_OK;
  gsl_matrix *X = gsl_matrix_alloc(n, p), *cov = gsl_matrix_alloc(p, p);
  gsl_vector *w = gsl_vector_alloc(n), *yv = gsl_vector_alloc(n), *cv = gsl_vector_alloc(p);
  gsl_multifit_linear_workspace *ws = gsl_multifit_linear_alloc(n, p);
  if (!X || !cov || !w || !yv || !cv || !ws) {
    rc = SDV_ERROR(SDV_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    double xi = 1.0;
    for (size_t j = 0; j < p; j++, xi *= x[i]) gsl_matrix_set(X, i, j, xi);
    gsl_vector_set(w, i, se ? 1.0 / (se[i] * se[i]) : 1.0);
    gsl_vector_set(yv, i, y[i]);
  }
  double chisq;
  int grc = gsl_multifit_wlinear(X, w, yv, cv, cov, &chisq, ws);
  if (grc) {
    rc = SDV_ERROR(SDV_ENUMERIC, "polynomial fit failed: %s", gsl_strerror(grc));
    goto done;
  }
  *dof = n - p;
  *chi2 = chisq;
  /* Weighted: covariance (X^T W X)^{-1}, inflated by the reduced chi-square when the points
   * scatter more than their errors explain. Exact: residual variance chi2/dof (NaN with no
   * residual degrees of freedom). */
  double scale = 1.0;
  if (se)
    scale = (*dof > 0 && chisq / (double)*dof > 1.0) ? chisq / (double)*dof : 1.0;
  else
    scale = *dof > 0 ? chisq / (double)*dof : NAN;
  for (size_t j = 0; j < p; j++) {
    c[j] = gsl_vector_get(cv, j);
    c_se[j] = sqrt(scale * gsl_matrix_get(cov, j, j));
  }
  if (w0)
    for (size_t i = 0; i < n; i++) {
      double s = 0.0;
      for (size_t j = 0; j < p; j++) s += gsl_matrix_get(X, i, j) * gsl_matrix_get(cov, j, 0);
      w0[i] = gsl_vector_get(w, i) * s;
    }
done:
  gsl_multifit_linear_free(ws);
  gsl_vector_free(cv);
  gsl_vector_free(yv);
  gsl_vector_free(w);
  gsl_matrix_free(cov);
  gsl_matrix_free(X);
  return rc;
}
