/* Private: per-thread scratch of a model (struct sdv_work), the context every method
 * (lib/optimizer), the integrators (lib/sim) and the model's own functions (lib/model) share.
 * It holds only what is generic: d-vectors any method may use, the agents' compressor clones,
 * the diffusion storage, properties of the agents that exact shortcuts test, and one drift ->
 * diffusion memo. What belongs to one component lives in that component's own scratch, sized
 * by its type (sdv_method_type.scratch, returned by sdv_work_scratch), as
 * gsl_odeiv2_step_type sizes its state. Allocated by sdv_work_alloc (lib/model/work.c), sized
 * from the model once, so the hot functions (step, drift, diffusion) never allocate. */
#ifndef SDV_WORK_H
#define SDV_WORK_H

#include <stdbool.h>
#include <stddef.h>

#include <sdv/model.h>

struct sdv_work {
  const sdv_model *model;
  double *grad;          /* [d] grad f(x) */
  double *gi;            /* [d] one agent's stochastic gradient */
  double *ci;            /* [d] one agent's message (compressed vector, sign vector) */
  double *acc;           /* [d] sum of the agents' messages */
  double *noise;         /* [d] noise draws */
  double *tmp;           /* [d] general scratch */
  double *xi;            /* [d] standard normals */
  sdv_compressor **comp; /* [N] this thread's compressor clones; NULL without compressor */
  sdv_diffusion *diff;   /* Sigma(x) storage (with dense storage when the model needs it) */
  /* Properties of the model's agents that decide which exact shortcuts step() may take
   * (docs/performance.md); set once by sdv_work_alloc from what the types declare about
   * themselves. None applies when model->literal. */
  bool same_law;    /* every agent: the same noise law (type and parameters) and the same
                       finite scale > 0 */
  bool all_normal;  /* every agent's law declares sdv_noise_type.normal (its draws are the
                       stream's standard normals, so scale is finite) */
  bool all_subsets; /* every agent's compressor has the same type, and it has the subsets
                       hook (a random sparsifier) */
  /* A drift -> diffusion memo: a method's drift() may leave a d-vector it computed at x
   * (grad f, or Sigma's diagonal) in memo_v with x in memo_x and memo_valid set, for its
   * diffusion() at a bitwise equal x. A model has one method, so one memo serves. */
  double *memo_x; /* [d] the x of the memo */
  double *memo_v; /* [d] the method's vector there */
  bool memo_valid;
  /* True only inside sdv_integrator_em_step, from its drift() call to its diffusion() call,
   * which take the same x (lib/sim/euler.c): a method's diffusion() may then reuse what its
   * drift() just computed without recording or comparing x. */
  bool pair_x;
  void *method_scratch; /* sdv_method_type.scratch bytes, or NULL */
};

#endif
