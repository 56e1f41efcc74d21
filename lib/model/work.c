/* Per-thread scratch of a model (lib/core/work.h): everything generic the hot functions need,
 * sized once from the model, and the method's own scratch, sized by its type. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/model.h>

#include "core/work.h"

#define NVECTORS 9 /* grad, gi, ci, acc, noise, tmp, xi, memo_x, memo_v */

/* Two agents' laws are the same when their types match and their parameter blocks are
 * byte-for-byte equal (the states are relocatable values, sdv/noise.h). */
static bool same_noise(const sdv_noise *a, const sdv_noise *b) {
  return a->type == b->type && memcmp(a->state, b->state, a->type->size) == 0;
}

static void set_shortcuts(sdv_work *w, const sdv_model *m) {
  const size_t n = m->agents;
  const double s0 = m->scale[0];
  w->same_law = isfinite(s0) && s0 > 0.0;
  w->all_normal = true;
  w->all_subsets = m->compressor != NULL && m->compressor[0]->type->subsets != NULL;
  for (size_t i = 0; i < n; i++) {
    if (m->scale[i] != s0 || !same_noise(m->noise[i], m->noise[0])) w->same_law = false;
    if (!m->noise[i]->type->normal) w->all_normal = false;
    if (m->compressor && m->compressor[i]->type != m->compressor[0]->type) w->all_subsets = false;
  }
}

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
  w->memo_x = block + 7 * d;
  w->memo_v = block + 8 * d;
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
  if (m->method->scratch) {
    const size_t bytes = m->method->scratch(m);
    if (bytes && !(w->method_scratch = calloc(1, bytes))) {
      rc = SDV_ERROR(SDV_ENOMEM, "out of memory (%zu bytes of scratch for method '%s')", bytes,
                     m->method->name);
      goto fail;
    }
  }
  set_shortcuts(w, m);
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
  free(w->method_scratch);
  free(w);
}

void *sdv_work_scratch(sdv_work *w) { return w ? w->method_scratch : NULL; }
