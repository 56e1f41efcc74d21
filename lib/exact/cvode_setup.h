/* Private: the CVODE set-up shared by the exact routes that integrate an ODE (drift_ode.c,
 * moment_ode.c): a serial state vector, a dense matrix and linear solver, silenced errors,
 * scalar tolerances, and at most 10^6 internal steps per call; every SUNDIALS return checked.
 *
 * Use: sdv_exact_cvode_alloc, write y(0) through sdv_exact_cvode_state, sdv_exact_cvode_init,
 * sdv_exact_cvode_advance per output time, sdv_exact_cvode_free (also after a failure).
 * These functions do not raise: on failure they return SDV_ENOMEM (vectors) or SDV_ENUMERIC
 * with cv->what naming the SUNDIALS call and cv->flag its flag, so that the caller's message
 * can say which ODE failed. */
#ifndef SDV_EXACT_CVODE_SETUP_H
#define SDV_EXACT_CVODE_SETUP_H

#include <signal.h>
#include <stddef.h>

#include "exact/sundials_compat.h"

typedef struct sdv_exact_cvode {
  SUNContext ctx;
  N_Vector y;
  SUNMatrix A;
  SUNLinearSolver LS;
  void *mem;        /* the CVODE solver */
  sunrealtype tcur; /* where the solution is */
  const char *what; /* the call that failed ("" if none) */
  int flag;         /* its flag */
} sdv_exact_cvode;

/* Creates the context, the state vector and the dense matrix for n states. */
int sdv_exact_cvode_alloc(sdv_exact_cvode *cv, size_t n);

/* The state vector's values: y(0) before init, the solution after each advance. */
static inline double *sdv_exact_cvode_state(const sdv_exact_cvode *cv) {
  return N_VGetArrayPointer(cv->y);
}

/* Creates the solver (lmm: CV_BDF or CV_ADAMS) for y' = rhs(t, y) from y(0) at t = 0, with
 * rtol and the absolute tolerance atol, user data for rhs. */
int sdv_exact_cvode_init(sdv_exact_cvode *cv, int lmm, CVRhsFn rhs, void *user, double rtol,
                         double atol);

/* Integrates to tout (nothing if the solution is already there or beyond). */
int sdv_exact_cvode_advance(sdv_exact_cvode *cv, double tout);

/* The moment trajectory of the second-moment ODEs (moment_ode.c, lsq.c), whose state is the
 * mean (d values) followed by S (d x d): integrates to steps[t] * eta for t < nt in turn and
 * copies the mean to mean + t d and S to S + t d^2 (either may be NULL). Returns SDV_OK,
 * SDV_EINTR (with its message) when a failed advance was the cancellation *cancel (cancel
 * may be NULL), or the advance's status, cv->what and cv->flag saying which call failed. */
int sdv_exact_cvode_moments(sdv_exact_cvode *cv, const size_t *steps, size_t nt, double eta,
                            volatile sig_atomic_t *cancel, size_t d, double *mean, double *S);

/* Internal steps taken so far. */
int sdv_exact_cvode_steps(sdv_exact_cvode *cv, size_t *steps);

/* Frees what alloc and init created; a zeroed struct is fine. */
void sdv_exact_cvode_free(sdv_exact_cvode *cv);

#endif
