/* The CVODE set-up of the exact routes (see cvode_setup.h). Newton iterations with the dense
 * linear solver; the library never prints, so CVODE's error output is silenced first. */
#include "exact/cvode_setup.h"

#include <string.h>

#include <sdv/errors.h>

/* Records a failed call; returns SDV_ENUMERIC. */
static int failed(sdv_exact_cvode *cv, const char *what, int flag) {
  cv->what = what;
  cv->flag = flag;
  return SDV_ENUMERIC;
}

int sdv_exact_cvode_alloc(sdv_exact_cvode *cv, size_t n) {
  memset(cv, 0, sizeof *cv);
  cv->what = "";
  if (sdv_sun_context_create(&cv->ctx)) return failed(cv, "SUNContext_Create", -1);
  cv->y = N_VNew_Serial((sunindextype)n, cv->ctx);
  cv->A = SUNDenseMatrix((sunindextype)n, (sunindextype)n, cv->ctx);
  if (!cv->y || !cv->A) return SDV_ENOMEM;
  return SDV_OK;
}

int sdv_exact_cvode_init(sdv_exact_cvode *cv, int lmm, CVRhsFn rhs, void *user, double rtol,
                         double atol) {
  int flag;
  cv->mem = CVodeCreate(lmm, cv->ctx);
  if (!cv->mem) return failed(cv, "CVodeCreate", -1);
  if ((flag = sdv_sun_silence(cv->ctx, cv->mem))) return failed(cv, "silencing CVODE", flag);
  if ((flag = CVodeInit(cv->mem, rhs, 0.0, cv->y))) return failed(cv, "CVodeInit", flag);
  if ((flag = CVodeSStolerances(cv->mem, rtol, atol))) return failed(cv, "CVodeSStolerances", flag);
  if ((flag = CVodeSetUserData(cv->mem, user))) return failed(cv, "CVodeSetUserData", flag);
  if ((flag = CVodeSetMaxNumSteps(cv->mem, 1000000)))
    return failed(cv, "CVodeSetMaxNumSteps", flag);
  cv->LS = SUNLinSol_Dense(cv->y, cv->A, cv->ctx);
  if (!cv->LS) return failed(cv, "SUNLinSol_Dense", -1);
  if ((flag = CVodeSetLinearSolver(cv->mem, cv->LS, cv->A)))
    return failed(cv, "CVodeSetLinearSolver", flag);
  cv->tcur = 0.0;
  return SDV_OK;
}

int sdv_exact_cvode_advance(sdv_exact_cvode *cv, double tout) {
  if (!(tout > cv->tcur)) return SDV_OK;
  const int flag = CVode(cv->mem, tout, cv->y, &cv->tcur, CV_NORMAL);
  return flag < 0 ? failed(cv, "CVode", flag) : SDV_OK;
}

int sdv_exact_cvode_moments(sdv_exact_cvode *cv, const size_t *steps, size_t nt, double eta,
                            volatile sig_atomic_t *cancel, size_t d, double *mean, double *S) {
  const double *Y = sdv_exact_cvode_state(cv);
  const size_t dd = d * d;
  for (size_t t = 0; t < nt; t++) {
    const int rc = sdv_exact_cvode_advance(cv, (double)steps[t] * eta);
    if (rc) {
      if (cancel && *cancel) return SDV_ERROR(SDV_EINTR, "exact: moment ODE cancelled");
      return rc;
    }
    if (mean) memcpy(mean + t * d, Y, d * sizeof *Y);
    if (S) memcpy(S + t * dd, Y + d, dd * sizeof *Y);
  }
  return SDV_OK;
}

int sdv_exact_cvode_steps(sdv_exact_cvode *cv, size_t *steps) {
  long nst = 0;
  const int flag = CVodeGetNumSteps(cv->mem, &nst);
  if (flag) return failed(cv, "CVodeGetNumSteps", flag);
  *steps = (size_t)nst;
  return SDV_OK;
}

void sdv_exact_cvode_free(sdv_exact_cvode *cv) {
  if (cv->mem) CVodeFree(&cv->mem);
  if (cv->LS) SUNLinSolFree(cv->LS);
  if (cv->A) SUNMatDestroy(cv->A);
  if (cv->y) N_VDestroy(cv->y);
  if (cv->ctx) SUNContext_Free(&cv->ctx);
  memset(cv, 0, sizeof *cv);
}
