/* sdv/exact.h — exact (Monte-Carlo-free) references for a model.
 *
 * Where the expectations of the discrete optimizer or of its SDE can be computed without
 * sampling, these functions compute them, so that the weak harness can compare one side
 * against an exact number (no standard error) or both sides against each other:
 *
 *   DSGD and DCSGD with linear compressors (identity, Bernoulli, rand-k: Phi_C(v) =
 *   a Diag(v^2) - c v v^T) on quadratics f = 0.5 x^T H x:
 *     DISCRETE  mean (I - eta H)^k x0 and the uncentered second moment S_k = E x_k x_k^T by
 *               its exact linear recursion (closed form per entry when H is diagonal);
 *     SDE       the mean e^{-Ht} x0 and the moment ODE of S(t) (closed form per entry when H
 *               is diagonal, CVODE otherwise), with Sigma scaled by diffusion_scale^2;
 *     stationary values and stability (spectral radius / largest real part of the maps).
 *   DSignSGD on a diagonal quadratic (independent coordinates):
 *     DISCRETE  the exact law of each coordinate on its lattice x0_j + (eta/N) Z, propagated
 *               step by step; its stationary law by iteration;
 *     SDE       the exact stationary law of each 1-D coordinate SDE by quadrature (finite
 *               times are not available: SDV_ENOTSUP).
 *   Any model (any objective, any method):
 *     ODE       the drift ODE x' = b(x), by CVODE;
 *     NOISEFREE the noise-free recursion xbar_{k+1} = xbar_k + eta b(xbar_k).
 *   These two give the leading weak-error constant [g(xbar_k) - g(x(k eta))]/eta.
 *
 * Everything else (QSGD or natural compression, non-quadratic objectives on the DISCRETE/SDE
 * sides, infinite noise variance for DSGD/DCSGD, DSignSGD on a dense H, ...) returns
 * SDV_ENOTSUP with a message saying why. The model is borrowed and never modified; all
 * functions are reentrant (they allocate their own scratch) and may run in parallel on a
 * shared model. docs/math/exact.md gives the equations.
 */
#ifndef SDV_EXACT_H
#define SDV_EXACT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <sdv/model.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Which process an exact reference describes. Time on the SDE and ODE sides is
 * t = steps * eta. */
typedef enum sdv_side {
  SDV_SIDE_DISCRETE = 0, /* the discrete optimizer x_k */
  SDV_SIDE_SDE = 1,      /* its SDE X_t, with the model's diffusion_scale applied to S */
  SDV_SIDE_ODE = 2,      /* the drift ODE x'(t) = b(x(t)), x(0) = x0 */
  SDV_SIDE_NOISEFREE = 3 /* the noise-free recursion xbar_{k+1} = xbar_k + eta b(xbar_k) */
} sdv_side;

/* "discrete", "sde", "ode", "noisefree"; "unknown" outside the enum. Static storage. */
const char *sdv_side_name(sdv_side side);

/* Numerical settings. Every field has a default (sdv_exact_options_default); functions
 * taking a `const sdv_exact_options *` accept NULL for the defaults. */
typedef struct sdv_exact_options {
  double rtol;                   /* CVODE relative tolerance (default 1e-11) */
  double atol;                   /* CVODE absolute tolerance, relative to the problem's scale
                                    max(|x0|^2, stationary level) (default 1e-14) */
  double lattice_cut;            /* DSignSGD lattice: probability dropped at each edge per step
                                    (default 1e-16); the total dropped is reported in info */
  double stationary_tol;         /* lattice stationary law: iteration stops when the remaining
                                    relative error of E x and E x^2, extrapolated from their
                                    geometric convergence, is below this (default 1e-13) */
  size_t max_iterations;         /* cap on lattice stationary iterations (default 10000000) */
  bool dense;                    /* use the d x d route even when H is diagonal (cross-checks) */
  double max_bytes;              /* resource guard: refuse (SDV_ELIMIT, with the estimate) a route
                                    needing more memory than this (default 4e9; sdv_exact_memory) */
  volatile sig_atomic_t *cancel; /* optional: checked inside the long loops and the CVODE
                                    right-hand sides; SDV_EINTR when *cancel != 0 */
} sdv_exact_options;

/* Fills o with the defaults above. */
void sdv_exact_options_default(sdv_exact_options *o);

/* What a computation did; functions taking a `sdv_exact_info *` accept NULL. */
typedef struct sdv_exact_info {
  const char *route;     /* static text: "closed form", "recursion", "cvode", "lattice",
                            "quadrature", "linear solve", "fixed point" */
  double truncated_mass; /* lattice: total probability dropped at the edges (0 elsewhere) */
  size_t iterations;     /* lattice stationary iterations, or CVODE steps; else 0 */
} sdv_exact_info;

/* SDV_OK if an exact reference exists for observable obs (NULL: the first and second
 * moments) on this side of model m, at finite times (stationary = false) or at
 * stationarity (stationary = true). Otherwise SDV_ENOTSUP with a message saying why, or
 * SDV_EINVAL for a NULL model or a side outside the enum. Stationarity of an unstable
 * model is still "supported": sdv_exact_stationary then reports SDV_EDOM. */
int sdv_exact_supported(const sdv_model *m, sdv_side side, const sdv_observable *obs,
                        bool stationary);

/* The same answer as a bool, without raising an error. */
bool sdv_exact_available(const sdv_model *m, sdv_side side, const sdv_observable *obs,
                         bool stationary);

/* E g(side at step steps[t]) for each time t < nt and observable o < nobs, into
 * values[t * nobs + o]. steps must be nondecreasing; step 0 gives g(x0). Observables of kind
 * SDV_OBS_USER are supported on the ODE and NOISEFREE sides only.
 * Returns SDV_OK; SDV_EINVAL (NULL pointers, nt or nobs 0, steps decreasing, bad index);
 * SDV_ENOTSUP with a message where no exact reference exists; SDV_ENUMERIC if CVODE fails;
 * SDV_ENOMEM. values is owned by the caller; its contents are unspecified on failure. */
int sdv_exact_eval(const sdv_model *m, sdv_side side, const size_t *steps, size_t nt,
                   const sdv_observable *obs, size_t nobs, double *values,
                   const sdv_exact_options *opt, sdv_exact_info *info);

/* The memory sdv_exact_eval(m, side, steps, nt, obs, nobs, ...) would take, in bytes, into
 * *bytes (0 when no exact route exists): what the route allocates beyond the model, e.g.
 * about 16 d^2 for the drift ODE's dense Jacobian and 16 (d + d^2)^2 for the dense SDE
 * moment ODE. Returns SDV_OK, or SDV_EINVAL for NULL arguments. */
int sdv_exact_memory(const sdv_model *m, sdv_side side, const sdv_observable *obs, size_t nobs,
                     size_t nt, double *bytes);

/* Mean trajectory mean[t * d + j] = E x_j and uncentered second moments
 * second[t * d * d + j * d + l] = E x_j x_l at steps[t] (t < nt, nondecreasing). Either
 * output may be NULL when not wanted (second needs nt * d * d doubles). On the ODE and
 * NOISEFREE sides second = mean mean^T. Return codes as sdv_exact_eval. */
int sdv_exact_moments(const sdv_model *m, sdv_side side, const size_t *steps, size_t nt,
                      double *mean, double *second, const sdv_exact_options *opt,
                      sdv_exact_info *info);

/* The limits of E g as time goes to infinity, values[o] for o < nobs. Requires a quadratic
 * objective (its minimizer is 0). ODE and NOISEFREE give g(0) when the mean map is stable.
 * Returns SDV_OK; SDV_EDOM with a message when the side is unstable (no stationary law);
 * SDV_ENUMERIC when the lattice iteration does not converge within max_iterations; other
 * codes as sdv_exact_eval. */
int sdv_exact_stationary(const sdv_model *m, sdv_side side, const sdv_observable *obs, size_t nobs,
                         double *values, const sdv_exact_options *opt, sdv_exact_info *info);

/* Growth of the moments. DISCRETE: spectral radius of the linear map S_k -> S_{k+1}
 * (stable iff < 1). SDE: largest real part of the generator of dS/dt (stable iff < 0). These
 * two need DSGD/DCSGD with linear compressors on a quadratic. NOISEFREE: spectral radius of
 * the mean map I - eta J at the minimizer, ODE: largest real part of -J, where J = kappa H
 * is the Jacobian of -b at 0 (kappa = 1 for DSGD/DCSGD, a1 = (1/N) sum_i ell_i/scale_i for
 * DSignSGD); quadratic objectives and the built-in methods only. Either output may be NULL.
 * Returns SDV_OK, SDV_EINVAL, SDV_ENOTSUP (with a message), SDV_ENUMERIC, SDV_ENOMEM. */
int sdv_exact_stability(const sdv_model *m, sdv_side side, double *growth, bool *stable);

#ifdef __cplusplus
}
#endif
#endif
