/* Private to the methods (lib/optimizer): the last stage of their coupled steps
 * (docs/math/coupling.md). */
#ifndef SDV_OPTIMIZER_COUPLED_H
#define SDV_OPTIMIZER_COUPLED_H

#include <stddef.h>

#include <sdv/rng.h>

/* xi_j = -acc_j / sqrt(a2) for per-agent coupled normals summed with weights a_i in acc and
 * a2 = sum_i a_i^2 (a standard normal vector), or fresh normals from aux when a2 = 0 (no
 * agent has noise). The minus sign: the noise enters the step as x -= eta Z, the Brownian
 * increment the SDE as X += S dW. xi may alias acc. */
void sdv_coupled_finish(size_t d, const double *acc, double a2, sdv_stream *aux, double *xi);

#endif
