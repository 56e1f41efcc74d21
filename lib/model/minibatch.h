/* Private: minibatch noise drawn from the data (docs/math/minibatch.md), private to lib/model
 * (shards, the agents' minibatch gradients); the methods' step, drift and diffusion under that
 * noise are in lib/optimizer/minibatch.c and use public functions only. */
#ifndef SDV_MODEL_MINIBATCH_H
#define SDV_MODEL_MINIBATCH_H

#include <stddef.h>

#include <sdv/model.h>

/* Splits the model's m->samples samples among its m->agents agents as the shards spec says
 * ("iid", "label-skew", "dirichlet:alpha=A", each with an optional ":seed=S"), into
 * m->shard_start and m->shard_index (allocated here, freed by sdv_model_free). SDV_EINVAL
 * naming --shards for a bad spec, labels a scheme cannot use, or an agent left without
 * samples; SDV_ENOMEM. */
int sdv_shards_build(sdv_model *m, const char *spec);

/* Number of samples of agent i's shard, n_i >= 1. */
static inline size_t sdv_shard_size(const sdv_model *m, size_t i) {
  return m->shard_start[i + 1] - m->shard_start[i];
}

#endif
