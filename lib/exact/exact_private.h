/* Private interface between the files of lib/exact (and tests/test-exact.c).
 *
 * linear.c     the linear second-moment model of DSGD/DCSGD on a quadratic (sdv_exact_lin)
 * recursion.c  its discrete side (per-entry closed form, or the d x d recursion)
 * moment_ode.c its SDE side (per-entry closed form, or CVODE on the moment ODE)
 * drift_ode.c  the drift ODE (CVODE) and the noise-free recursion, for any model
 * lsq.c        DSGD/DCSGD with minibatch noise on affine per-sample gradients (least squares)
 * lattice.c    DSignSGD, discrete, exact law of one coordinate on its lattice
 * stationary.c DSignSGD SDE, exact stationary law of one coordinate by quadrature
 * exact.c      the public dispatcher
 */
#ifndef SDV_EXACT_PRIVATE_H
#define SDV_EXACT_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include <sdv/exact.h>
#include <sdv/model.h>

/* Whether every agent's compressor (if any) declares the linear covariance form
 * a Diag(v^2) - c v v^T that closes the second moments; if not, false with the reason in why
 * (shared by the quadratic and the least-squares routes). */
bool sdv_exact_compressors_linear(const sdv_model *m, char *why, size_t len);

/* Linear second-moment dynamics of DSGD/DCSGD with linear compressors on f = 0.5 x^T H x.
 * With A = I - eta H, the uncentered S = E x x^T obeys
 *   DISCRETE  S' = A S A + eta^2 [ qv I + asum diag(H S H) - csum H S H ]
 *   SDE       S' = -(H S + S H) + c2 eta [ qv I + asum diag(H S H) - csum H S H ]
 * where qv = (1/N^2) sum_i (1 + a_i - c_i) v_i, asum = (1/N^2) sum_i a_i,
 * csum = (1/N^2) sum_i c_i, and c2 = diffusion_scale^2. */
typedef struct sdv_exact_lin {
  size_t d;
  double eta;
  double c2;
  double qv, asum, csum;
  bool diag;   /* per-entry route: H diagonal (and not forced dense) */
  double *lam; /* [d] diagonal of H (always set) */
  double *h;   /* [d*d] H row-major (dense route only, else NULL) */
  const double *x0;
  volatile sig_atomic_t *cancel; /* sdv_exact_options.cancel, for the long loops */
} sdv_exact_lin;

/* Reads H, the compressor coefficients and the variances from m. The caller has checked
 * support (DSGD/DCSGD, quadratic, linear compressors, finite variances). */
int sdv_exact_lin_init(sdv_exact_lin *L, const sdv_model *m, bool force_dense);
void sdv_exact_lin_free(sdv_exact_lin *L);

/* Per-entry route (diagonal H): E x_j at step k / time t, and S_jl. */
double sdv_exact_lin_mean_disc(const sdv_exact_lin *L, size_t j, size_t k);
double sdv_exact_lin_entry_disc(const sdv_exact_lin *L, size_t j, size_t l, size_t k);
double sdv_exact_lin_mean_sde(const sdv_exact_lin *L, size_t j, double t);
double sdv_exact_lin_entry_sde(const sdv_exact_lin *L, size_t j, size_t l, double t);
/* Per-entry coefficients: DISCRETE S_jl' = rho S_jl + q with one_minus_rho = 1 - rho
 * computed without cancellation; SDE S_jl' = -alpha S_jl + q. */
void sdv_exact_lin_coef_disc(const sdv_exact_lin *L, size_t j, size_t l, double *rho,
                             double *one_minus_rho, double *q);
void sdv_exact_lin_coef_sde(const sdv_exact_lin *L, size_t j, size_t l, double *alpha, double *q);

/* The linear part of either map applied to S (d x d), into out; scratch holds 2 d^2. The
 * constant term (qv I scaled) is NOT added. */
void sdv_exact_lin_apply(const sdv_exact_lin *L, sdv_side side, const double *S, double *out,
                         double *scratch);

/* Dense route: mean[t*d + j] and S[t*d*d + ...] at steps[t] (nondecreasing). */
int sdv_exact_lin_run_disc(const sdv_exact_lin *L, const size_t *steps, size_t nt, double *mean,
                           double *S);
int sdv_exact_lin_run_sde(const sdv_exact_lin *L, const size_t *steps, size_t nt, double *mean,
                          double *S, const sdv_exact_options *opt, sdv_exact_info *info);

/* Growth (spectral radius / largest real part) of the linear map; stationary S (mean 0):
 * d x d on the dense route, only the d diagonal entries on the per-entry route (its
 * off-diagonal entries are 0). SDV_EDOM (with message) from stationary when unstable;
 * SDV_ELIMIT for the dense route when d > SDV_EXACT_DENSE_MAX. */
#define SDV_EXACT_DENSE_MAX 20
int sdv_exact_lin_growth(const sdv_exact_lin *L, sdv_side side, double *growth);
int sdv_exact_lin_stationary(const sdv_exact_lin *L, sdv_side side, double *S);

/* Drift ODE / noise-free recursion: x[t*d + j] at steps[t] (nondecreasing). */
int sdv_exact_drift_ode(const sdv_model *m, const size_t *steps, size_t nt, double *x,
                        const sdv_exact_options *opt, sdv_exact_info *info);
int sdv_exact_noisefree(const sdv_model *m, const size_t *steps, size_t nt, double *x);

/* DSGD/DCSGD (linear compressors) with minibatch noise on an objective with the
 * sample_affine hook (lsq.c). supported: false with the reason in why (stationary requests,
 * infinite added variance, a nonlinear compressor). bytes: what the route allocates.
 * moments: mean[t*d + j] and S[t*d*d + ...] at steps[t] (nondecreasing), either NULL;
 * eval: the built-in observables (obs[o].kind != SDV_OBS_USER) into values[t*nobs + o]. The
 * caller has checked support, the steps and the memory. */
bool sdv_exact_lsq_supported(const sdv_model *m, bool stationary, char *why, size_t len);
double sdv_exact_lsq_bytes(sdv_side side, size_t dim, size_t nt);
int sdv_exact_lsq_moments(const sdv_model *m, sdv_side side, const size_t *steps, size_t nt,
                          double *mean, double *S, const sdv_exact_options *opt,
                          sdv_exact_info *info);
int sdv_exact_lsq_eval(const sdv_model *m, sdv_side side, const size_t *steps, size_t nt,
                       const sdv_observable *obs, size_t nobs, double *values,
                       const sdv_exact_options *opt, sdv_exact_info *info);

/* DSignSGD lattice, coordinate j of a diagonal quadratic with curvature lam: E x_j and
 * E x_j^2 at steps[t] (nondecreasing) into mean[t], second[t]. *mass receives the
 * probability still on the lattice at the last step and *dropped what the edges lost (so
 * that *mass + *dropped = 1 up to rounding); either may be NULL. */
int sdv_exact_lattice_run(const sdv_model *m, double lam, double x0, const size_t *steps, size_t nt,
                          double *mean, double *second, double *mass, double *dropped,
                          const sdv_exact_options *opt);
/* Stationary E x_j and E x_j^2 of the same chain (on the lattice through x0). */
int sdv_exact_lattice_stationary(const sdv_model *m, double lam, double x0, double *mean,
                                 double *second, const sdv_exact_options *opt,
                                 sdv_exact_info *info);

/* DSignSGD SDE, coordinate with curvature lam: stationary E X^2 by quadrature (E X = 0 by
 * symmetry). */
int sdv_exact_sign_sde_stationary(const sdv_model *m, double lam, double *second);

/* DSignSGD slope a1 = (1/N) sum_i ell_i / scale_i (requires every sigma_i > 0). */
double sdv_exact_sign_a1(const sdv_model *m);

/* Diagonal of a diagonal quadratic's H (gradient at the all-ones vector), into lam[d]. */
int sdv_exact_diag_lambda(const sdv_model *m, double *lam);

#endif
