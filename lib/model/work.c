/* Per-thread scratch of a model (lib/model/work.h): everything the hot functions need,
 * sized once from the model. */
#include <stdlib.h>

#include <sdv/errors.h>
#include <sdv/model.h>

#include "model/work.h"

#define NVECTORS 7 /* grad, gi, ci, acc, noise, tmp, xi */

int sdv_work_alloc(sdv_work **out, const sdv_model *m) {
  if (!out) return SDV_ERROR(SDV_EINVAL, "sdv_work_alloc: out is NULL");
  *out = NULL;
  if (!m) return SDV_ERROR(SDV_EINVAL, "sdv_work_alloc: model is NULL");
  sdv_work *w = calloc(1, sizeof *w);
  int rc;
  if (!w) return SDV_ERROR(SDV_ENOMEM, "out of memory");
  w->model = m;
  const size_t d = m->dim;
  /* One block for the d-vectors; w->grad owns it. */
  double *block = calloc(NVECTORS * d, sizeof *block);
  if (!block) {
    rc = SDV_ERROR(SDV_ENOMEM, "out of memory");
    goto fail;
  }
  w->grad = block;
  w->gi = block + d;
  w->ci = block + 2 * d;
  w->acc = block + 3 * d;
  w->noise = block + 4 * d;
  w->tmp = block + 5 * d;
  w->xi = block + 6 * d;
  if (m->compressor) {
    if (!(w->comp = calloc(m->agents, sizeof *w->comp))) {
      rc = SDV_ERROR(SDV_ENOMEM, "out of memory");
      goto fail;
    }
    for (size_t i = 0; i < m->agents; i++)
      if (!(w->comp[i] = sdv_compressor_clone(m->compressor[i]))) {
        rc = SDV_ERROR(SDV_ENOMEM, "out of memory (compressor of agent %zu)", i + 1);
        goto fail;
      }
  }
  /* No built-in method produces a DENSE Sigma (SCALAR, DIAGONAL, DIAG_RANK1 or SAMPLED), so
   * the d x d storage is never reserved. */
  if ((rc = sdv_diffusion_alloc(&w->diff, d, false))) goto fail;
  *out = w;
  return SDV_OK;

fail:
  sdv_work_free(w);
  return rc;
}

void sdv_work_free(sdv_work *w) {
  if (!w) return;
  if (w->comp)
    for (size_t i = 0; i < w->model->agents; i++) sdv_compressor_free(w->comp[i]);
  free(w->comp);
  sdv_diffusion_free(w->diff);
  free(w->grad);
  free(w);
}
