/* Private: per-thread scratch of a model (struct sdv_work), shared by lib/model and the
 * method files in lib/optimizer. Everything a hot function (step, drift, diffusion) needs is
 * allocated here once, sized from the model, so those functions never allocate. */
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
  size_t *kept;          /* [N d] coordinates the agents' rand-k draws kept (shortcut scratch) */
  size_t *nkept;         /* [N] how many each agent kept */
  double *knoise;        /* [N d] their noise */
  /* Properties of the model's agents that decide which exact shortcuts step() may take
   * (docs/performance.md); set once by sdv_work_alloc. None applies when model->literal. */
  bool same_law;     /* every agent: the same noise law (type and parameters) and the same
                        finite scale > 0 */
  bool all_gaussian; /* every agent's law is gaussian (so scale is finite) */
  bool all_rand_k;   /* every agent's compressor is rand-k */
  /* DCSGD's closed-form diffusion: the route and the sums over the agents of the linear
   * coefficients, which depend on the model only, decided at the first diffusion() call
   * (lib/optimizer/dcsgd.c). lin_inv_n2 = 1/N^2 when that is exact (N a power of 2), else 0. */
  bool lin_ready;
  bool lin_sampled;
  double lin_base, lin_asum, lin_csum, lin_inv_n2;
  /* DCSGD's SDE: the drift's grad f, memoised for diffusion() at a bitwise equal x
   * (gmemo_valid: gmemo_x holds that x), or at the same x by pair_x. */
  double *gmemo_x; /* [d] the x of the memo */
  double *gmemo;   /* [d] grad f there */
  bool gmemo_valid;
  /* True only inside sdv_integrator_em_step, from its drift() call to its diffusion() call,
   * which take the same x (lib/sim/euler.c): a method's diffusion() may then reuse what its
   * drift() just computed without recording or comparing x. */
  bool pair_x;
  /* DSignSGD with equal agents: the drift also forms Sigma's diagonal at the same x (one
   * law evaluation serves both); diffusion() at a bitwise equal x takes it from here. */
  double *memo_x; /* [d] the x of the memo */
  double *memo_d; /* [d] Sigma's diagonal there */
  bool memo_valid;
  void *method_scratch; /* sdv_method_type.scratch bytes, or NULL */
};

#endif
