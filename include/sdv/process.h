/* sdv/process.h — one sample path of a model: the discrete optimizer or its SDE.
 *
 * A process is a per-thread object that owns its state, its model scratch (sdv_work) and its
 * streams. It is driven in three calls:
 *     sdv_process_start(p, path)        x = x0, streams positioned for path `path`
 *     sdv_process_advance(p, steps)     `steps` optimizer steps (time steps * eta)
 *     sdv_process_observe(p, &g)        g at the current state (an estimator of E g)
 * DISCRETE runs x_{k+1} = x_k - eta U(x_k) with the model's step(); it needs no SDE and so
 * also runs for heavy-tailed noise (Student-t nu <= 2) where the SDE does not exist. SDE
 * integrates dX = b(X) dt + sqrt(eta) S(X) dW with step h = eta/m by an integrator type.
 *
 * Streams (sdv/rng.h). Path p of a process with stream index `sub` draws gradient noise from
 * (model->seed, p, SDV_PURPOSE_NOISE, sub), compressor randomness from
 * (model->seed, p, SDV_PURPOSE_COMPRESSOR, sub) and Brownian increments from
 * (model->seed, p, SDV_PURPOSE_BROWNIAN, sub). A path is therefore reproducible alone, and
 * processes with different `sub` (e.g. the rungs of an eta ladder) are independent.
 * On a structured diffusion route, every integrator step draws type->normals * dim standard
 * normals from the Brownian stream, in order, with sdv_stream_normals (so a test can rebuild
 * the Brownian path W); on the sampled route the model draws its increments from the same
 * stream.
 *
 * Integrators are type tables (the gsl_odeiv2_step_type pattern): "euler" (Euler–Maruyama,
 * weak order 1) and "richardson" (coupled EM pair at h and h/2 combined as 2 g(fine) -
 * g(coarse), weak order 2). docs/math/integrators.md has the formulas.
 *
 * Diverged paths. IEEE arithmetic cannot bring an inf/NaN iterate back to a finite one, so
 * once a state is non-finite (checked at the end of every advance, and when a step fails
 * on a non-finite state) the path is marked diverged: advance() does nothing more and
 * observe() returns NAN. The Monte Carlo engine counts such values and never averages them.
 */
#ifndef SDV_PROCESS_H
#define SDV_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sdv/model.h>
#include <sdv/rng.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest number of state replicas an integrator type may declare. */
#define SDV_INTEGRATOR_REPLICAS_MAX 4

/* An SDE integrator. All members are read-only; the function never allocates.
 *
 * step() advances every replica x[0..replicas) by one step of size h (SDE time) in place.
 * xi holds normals * dim standard normals, the step's Brownian increments scaled to unit
 * variance (the process draws them; a test may pass its own), or is NULL on the sampled
 * route (model->method's increment()) or when the model's diffusion_scale is 0; then the
 * step draws what it needs from s (s is NULL-safe only when diffusion_scale is 0). scratch
 * holds scratch * dim doubles. Returns SDV_OK or the model's status (e.g. SDV_EDOM from a
 * diffusion that is not positive semi-definite at x). */
typedef struct sdv_integrator_type {
  const char *name;  /* registry key: "euler", "richardson" */
  const char *help;  /* one line for `sdv list` */
  double weak_order; /* declared weak order in h (tests/slow-integrator.c fits it) */
  size_t replicas;   /* state copies carried, 1..SDV_INTEGRATOR_REPLICAS_MAX */
  /* E g(X_t) is estimated on each path by sum_r weight[r] g(x_r). */
  double weight[SDV_INTEGRATOR_REPLICAS_MAX];
  size_t normals; /* standard-normal d-vectors consumed per step (structured routes) */
  size_t scratch; /* scratch d-vectors step() needs */
  int (*step)(const sdv_model *m, sdv_work *w, double h, double *const *x, const double *xi,
              sdv_stream *s, double *scratch);
} sdv_integrator_type;

/* Euler–Maruyama, 1 replica, 1 normal vector per step, weak order 1. */
extern const sdv_integrator_type *const sdv_integrator_euler;
/* Richardson extrapolation of EM: replica 0 = fine (two h/2 steps with xi1, xi2), replica 1
 * = coarse (one h step with (xi1 + xi2)/sqrt 2), weights (2, -1), weak order 2. */
extern const sdv_integrator_type *const sdv_integrator_richardson;

/* The registered type named name (built-ins first), NULL if unknown. */
const sdv_integrator_type *sdv_integrator_type_from_name(const char *name);
/* The library's default integrator for studies of m's SDE (sdv_weak_run, `sdv weak`,
 * `sdv simulate`): Richardson extrapolation (weak order 2), except where m's SDE takes the
 * sampled diffusion route: its two replicas cannot share sampled increments there, so it
 * would only double the variance, and Euler is the default. NULL m, or a model whose SDE
 * cannot be evaluated (the study reports that itself): Richardson. */
const sdv_integrator_type *sdv_integrator_default(const sdv_model *m);
/* Adds a user type. SDV_EINVAL for NULL, a missing name or step, replicas outside
 * 1..SDV_INTEGRATOR_REPLICAS_MAX, weak_order <= 0, or a taken name; SDV_ELIMIT when full.
 * Not thread-safe: register before starting threads. The table is borrowed for good. */
int sdv_integrator_register(const sdv_integrator_type *type);
/* Copies up to max registered types into list; returns how many exist. */
size_t sdv_integrator_types(const sdv_integrator_type **list, size_t max);

/* One Euler–Maruyama step of size h, in place:
 *     x += h b(x) + sqrt(eta h) z,   z = diffusion_scale S(x) xi      (xi != NULL), or
 *                                    z = sdv_model_noise_increment(x, s) (xi == NULL),
 * with b and z both evaluated at the old x; z is skipped when diffusion_scale is 0.
 * scratch holds 2 * dim doubles. The building block of both built-in types, public so user
 * integrators can reuse it. Returns SDV_OK or the model's status. */
int sdv_integrator_em_step(const sdv_model *m, sdv_work *w, double h, double *x, const double *xi,
                           sdv_stream *s, double *scratch);

typedef enum sdv_process_kind {
  SDV_PROCESS_DISCRETE = 0, /* the optimizer itself */
  SDV_PROCESS_SDE = 1,      /* its SDE, integrated with step h = eta / substeps */
  SDV_PROCESS_COUPLED = 2   /* both on common random numbers (below) */
} sdv_process_kind;

/* COUPLED (docs/math/coupling.md). The optimizer of the process's model and the SDE of
 * sde_model (the same model when NULL; same dimension) are simulated side by side on one
 * path. The optimizer makes exactly the DISCRETE process's steps, on the same streams
 * (seed, path, NOISE/COMPRESSOR, sub), so its values are those of DISCRETE bit for bit.
 * Each optimizer step k also yields d standard normals xi_k (the method's step_coupled),
 * N(0, I) and independent of the past, that move with the step's noise. The SDE's Brownian
 * increment over [k eta, (k+1) eta] is sqrt(eta) xi_k: the substeps' normals are a Brownian
 * bridge pinned to that sum. With n = substeps x integrator normals vectors per optimizer
 * step (each the increment over an equal share of it, as for both built-in integrators),
 *     xi_(l) = z_l - mean_l(z) + xi_k / sqrt(n),   z_1..z_n i.i.d. N(0, I),
 * which are again i.i.d. N(0, I), with sum sqrt(n) xi_k. So the SDE's law is exactly the SDE
 * process's law; only the joint law of the two changes. The z come from the stream
 * (sde_model->seed, path, BROWNIAN, sde_sub), after whatever step_coupled draws there.
 * Needs a method with step_coupled and, unless the SDE's diffusion_scale is 0, a structured
 * diffusion route (SDV_ENOTSUP otherwise, at alloc). */
typedef struct sdv_process_options {
  sdv_process_kind kind;                 /* default DISCRETE */
  const sdv_integrator_type *integrator; /* SDE, COUPLED; NULL means euler (default NULL) */
  size_t substeps;                       /* m >= 1 integrator steps per optimizer step (1) */
  uint32_t sub;                          /* stream sub-index (default 0) */
  const sdv_model *sde_model;            /* COUPLED: the SDE's model (default NULL: the same) */
  uint32_t sde_sub;                      /* COUPLED: the SDE side's stream sub-index (1) */
} sdv_process_options;

/* Fills o with the defaults above. */
void sdv_process_options_default(sdv_process_options *o);
/* The integrator a process built from o uses: o->integrator, or Euler when it is NULL. */
const sdv_integrator_type *sdv_process_options_integrator(const sdv_process_options *o);

typedef struct sdv_process sdv_process;

/* Allocates a process for model m (borrowed: m must outlive it). Validates the options
 * (SDV_EINVAL naming the option: kind, substeps = 0, integrator with replicas outside
 * 1..SDV_INTEGRATOR_REPLICAS_MAX). For SDE it evaluates the diffusion once at x0 to choose
 * the route, so a model without an SDE fails here (e.g. SDV_ENOTSUP: infinite noise variance).
 * The process starts at path 0. *out is NULL on failure. Not thread-safe to share: allocate
 * one per thread. */
int sdv_process_alloc(sdv_process **out, const sdv_model *m, const sdv_process_options *o);
void sdv_process_free(sdv_process *p); /* NULL is a no-op */

/* Sets every replica to x0, step count 0, clears the diverged mark and positions the streams
 * at the start of path `path` (see the top of this file). Never fails, never allocates. */
void sdv_process_start(sdv_process *p, uint64_t path);

/* Advances by `steps` optimizer steps: DISCRETE applies the model's step() `steps` times;
 * SDE makes steps * substeps integrator steps of h = eta / substeps. Returns SDV_OK (also for
 * a diverged path, which is left alone) or the first failing status of the model or the
 * integrator with its message. Never allocates. */
int sdv_process_advance(sdv_process *p, size_t steps);

/* sum_r weight[r] g(x_r) over the replicas (g(x) for DISCRETE and euler); NAN once the path
 * has diverged. COUPLED: the difference g(optimizer) - (the SDE's value). Never allocates. */
double sdv_process_observe(sdv_process *p, const sdv_observable *g);
/* COUPLED: the optimizer's value into *disc and the SDE's into *sde (each NAN once its side
 * has diverged). Other kinds: the process's value into the matching side, NAN into the
 * other. Never allocates. */
void sdv_process_observe_pair(sdv_process *p, const sdv_observable *g, double *disc,
                              double *sde);
/* COUPLED: the optimizer's state (dim doubles, owned by p); NULL for the other kinds. */
const double *sdv_process_discrete_state(const sdv_process *p);

/* Replica r's state (dim doubles, owned by p, valid until the next call on p); r = 0 is the
 * primary (the fine path of richardson). COUPLED: the SDE's replicas. NULL if r >= sdv_process_replicas(p). */
const double *sdv_process_state(const sdv_process *p, size_t r);
size_t sdv_process_replicas(const sdv_process *p);
/* Optimizer steps made since start, and the time steps * eta. */
size_t sdv_process_steps(const sdv_process *p);
double sdv_process_time(const sdv_process *p);
/* True once the path has become non-finite (COUPLED: either side). */
bool sdv_process_diverged(const sdv_process *p);
/* The options in use (integrator filled in), and whether the SDE uses the sampled route. */
const sdv_process_options *sdv_process_get_options(const sdv_process *p);
bool sdv_process_sampled(const sdv_process *p);

#ifdef __cplusplus
}
#endif
#endif
