/* The deterministic skeletons of any model: the drift ODE and the noise-free recursion.
 *
 *   ODE        x'(t) = b(x(t)),  x(0) = x0           (CVODE, BDF + dense linear solver,
 *                                                    set up in cvode_setup.c)
 *   NOISEFREE  xbar_{k+1} = xbar_k + eta b(xbar_k),  xbar_0 = x0
 * with b the model's SDE drift (sdv_model_drift), for any objective and method. Their
 * difference carries the leading weak-error constant of every order-1 model (theory §5):
 *   lim_{eta->0} [E g(x_k) - E g(X_{k eta})]/eta = lim_{eta->0} [g(xbar_k) - g(x(k eta))]/eta,
 * i.e. the Euler bias of the mean drift; the noise only enters at O(eta^2).
 *
 * Reference value (tests/test-exact.c, "drift"): DSGD on f = 0.5 * 2.385 x^2, x0 = 1.7:
 * x(t) = 1.7 e^{-2.385 t}, at t = 0.8 equals 0.252240634335... ; NOISEFREE after 8 steps of
 * eta = 0.1: 1.7 (1 - 0.2385)^8 = 0.192224253390...
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>

#include "exact/exact_private.h"
#include "exact/cvode_setup.h"

typedef struct drift_data {
  const sdv_model *m;
  sdv_work *w;
  volatile sig_atomic_t *cancel;
} drift_data;

static int rhs(sunrealtype t, N_Vector y, N_Vector ydot, void *user) {
  (void)t;
  const drift_data *dd = user;
  if (dd->cancel && *dd->cancel) return -1; /* fatal: CVode returns, the caller says why */
  const double *Y = N_VGetArrayPointer(y);
  double *Yd = N_VGetArrayPointer(ydot);
  sdv_model_drift(dd->m, dd->w, Y, Yd);
  for (size_t j = 0; j < dd->m->dim; j++)
    if (!isfinite(Yd[j])) return 1; /* recoverable: CVODE retries with a smaller step */
  return 0;
}

int sdv_exact_drift_ode(const sdv_model *m, const size_t *steps, size_t nt, double *x,
                        const sdv_exact_options *opt, sdv_exact_info *info) {
  const size_t d = m->dim;
  sdv_exact_cvode cv = {0};
  drift_data dd = {m, NULL, opt ? opt->cancel : NULL};
  int rc = sdv_work_alloc(&dd.w, m);
  if (rc) return rc;
  if ((rc = sdv_exact_cvode_alloc(&cv, d))) {
    if (rc == SDV_ENOMEM) {
      rc = SDV_ERROR(SDV_ENOMEM, "exact: out of memory (CVODE vectors, d = %zu)", d);
      goto done;
    }
    goto fail;
  }
  double *Y = sdv_exact_cvode_state(&cv);
  double scale = 0.0;
  for (size_t j = 0; j < d; j++) {
    Y[j] = m->x0[j];
    if (fabs(m->x0[j]) > scale) scale = fabs(m->x0[j]);
  }
  if (!(scale > 0.0)) scale = 1.0;
  /* The state is x itself: atol relative to max |x0_j|. */
  if ((rc = sdv_exact_cvode_init(&cv, CV_BDF, rhs, &dd, opt->rtol, opt->atol * scale))) goto fail;
  for (size_t t = 0; t < nt; t++) {
    if ((rc = sdv_exact_cvode_advance(&cv, (double)steps[t] * m->eta))) {
      if (dd.cancel && *dd.cancel) {
        rc = SDV_ERROR(SDV_EINTR, "exact: drift ODE cancelled");
        goto done;
      }
      goto fail;
    }
    memcpy(x + t * d, Y, d * sizeof *Y);
  }
  if (info && (rc = sdv_exact_cvode_steps(&cv, &info->iterations))) goto fail;
  goto done;
fail:
  rc = SDV_ERROR(SDV_ENUMERIC, "exact: drift ODE of %s: %s failed (flag %d)",
                 m->description ? m->description : m->method->name, cv.what, cv.flag);
done:
  sdv_exact_cvode_free(&cv);
  sdv_work_free(dd.w);
  return rc;
}

int sdv_exact_noisefree(const sdv_model *m, const size_t *steps, size_t nt, double *x) {
  const size_t d = m->dim;
  sdv_work *w = NULL;
  int rc = sdv_work_alloc(&w, m);
  if (rc) return rc;
  double *cur = malloc(2 * d * sizeof *cur);
  if (!cur) {
    sdv_work_free(w);
    return SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu)", d);
  }
  double *b = cur + d;
  memcpy(cur, m->x0, d * sizeof *cur);
  size_t k = 0;
  for (size_t t = 0; t < nt; t++) {
    for (; k < steps[t]; k++) {
      sdv_model_drift(m, w, cur, b);
      for (size_t j = 0; j < d; j++) cur[j] += m->eta * b[j];
    }
    memcpy(x + t * d, cur, d * sizeof *cur);
  }
  free(cur);
  sdv_work_free(w);
  return SDV_OK;
}
