/* Private: per-thread scratch of a model (struct sdv_work), shared by lib/model and the
 * method files in lib/optimizer. Everything a hot function (step, drift, diffusion) needs is
 * allocated here once, sized from the model, so those functions never allocate. */
#ifndef SDV_WORK_H
#define SDV_WORK_H

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
};

#endif
