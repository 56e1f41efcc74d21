/* Private: minibatch noise drawn from the data (docs/math/minibatch.md), shared by lib/model
 * (shards, the agents' minibatch gradients) and lib/optimizer (each method's step, drift and
 * diffusion under that noise, lib/optimizer/minibatch.c). */
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

/* out = (1/N) sum_i grad f_i(x), f_i the mean loss over shard i: grad f(x) when every shard
 * has n/N samples, else the per-shard means. Uses w->gi and w->ci. */
void sdv_minibatch_mean_gradient(const sdv_model *m, sdv_work *w, const double *x, double *out);

/* Per-coordinate mean and population variance over shard i of the per-sample gradients
 * (Welford), into mean[d] and var[d]; uses w->gi. */
void sdv_minibatch_shard_moments(const sdv_model *m, sdv_work *w, size_t i, const double *x,
                                 double *mean, double *var);

/* out = (1/N) sum_i [ sum_{s in shard i} (grad f_s(x) - grad f_i(x)) zeta_s / sqrt(n_i B)
 *                     + sqrt(var_i) xi_i ],
 * a Gaussian vector with covariance (1/N^2) sum_i [Cov_{s in shard i} grad f_s / B + var_i I],
 * the zeta_s (shard order, agent by agent) and then, for agents with an added law, the d
 * normals xi_i, drawn from s. Uses w->gi, w->ci, w->tmp, w->noise. */
void sdv_minibatch_gaussian(const sdv_model *m, sdv_work *w, const double *x, sdv_stream *s,
                            double *out);

#endif
