/* Private: what the diagonal-minus-rank-1 square root (lib/diffusion/diffusion.c) shares with
 * fused steps that apply it inline (lib/optimizer/dcsgd.c), so that both decide alike. */
#ifndef SDV_DIFFUSION_RANK1_H
#define SDV_DIFFUSION_RANK1_H

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "core/clones.h"

/* How far above one r = beta sum_j u_j^2 / D_j may come out from round-off when Sigma is
 * singular but PSD (r = 1); beyond it Sigma is indefinite. */
#define SDV_DIFFUSION_R_TOL 1e-12

/* Four coordinates of the root's first pass: s = sqrt(D), w = u / s, t = s xi, and adds w^2
 * to *a and w xi to *b lane by lane (lane l of the sums takes the j = l mod 4). Inlined into
 * each caller's clones, so every caller does the same operations in the same order. Vectors
 * go through memory, not by value (lib/core/clones.h: that would change the ABI between the
 * clones). */
static inline void sdv_rank1_block(const double *d, const double *u, const double *xi, double *t,
                                   sdv_v4d *a, sdv_v4d *b) {
  sdv_v4d dj, uj, xj, sj;
  memcpy(&dj, d, sizeof dj);
  memcpy(&uj, u, sizeof uj);
  memcpy(&xj, xi, sizeof xj);
  for (int l = 0; l < 4; l++) sj[l] = sqrt(dj[l]);
  const sdv_v4d wj = uj / sj, tj = sj * xj;
  memcpy(t, &tj, sizeof tj);
  *a += wj * wj;
  *b += wj * xj;
}

/* gamma = beta / (1 + sqrt(1 - r)) for r = beta sum_w2 (see diffusion.c), false when r is
 * beyond the tolerance or NaN (the general path then reports it). This form has no
 * cancellation as r -> 0 and stays finite when u = 0. */
static inline bool sdv_rank1_gamma(double beta, double sum_w2, double *gamma) {
  const double r = beta * sum_w2;
  if (!(r <= 1.0 + SDV_DIFFUSION_R_TOL)) return false;
  *gamma = beta / (1.0 + sqrt(r < 1.0 ? 1.0 - r : 0.0));
  return true;
}

#endif
