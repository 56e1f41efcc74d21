/* rand-k sparsification: pick a uniformly random k-subset S of {0..d-1} and keep those
 * coordinates scaled by d/k,  C(v) = (d/k) sum_{j in S} v_j e_j.
 *
 * Source: theory §3 (table and "rand-k, element by element"); the subset is drawn by a
 * partial Fisher-Yates shuffle (§12). With omega = d/k - 1:
 *   Phi_C(v)_jj = omega v_j^2,   Phi_C(v)_jl = -(omega/(d-1)) v_j v_l  (j != l),
 * i.e. the linear form Phi = a Diag(v_j^2) - c v v^T with a = omega d/(d-1), c = omega/(d-1)
 * (d = 1 forces k = 1: the identity, a = c = 0).
 *
 * The index array lives inside the state (flexible array member, so the state stays
 * relocatable for sdv_compressor_clone). Each call performs k swaps, records them, and undoes
 * them in reverse order, so the array is the identity permutation again on return: the output
 * depends only on v and the k numbers drawn, never on earlier calls. Cost O(k) beyond the
 * O(d) zero fill.
 * Reference values (tests): d = 10, k = 3 gives omega = 7/3, a = 70/27 = 2.5925925..., and for
 * v_0 = 2.385, v_1 = -1.25 the entry Phi_01 = (7/27) * 2.385 * 1.25 = 0.7729166...
 */
#include <sdv/compressor.h>
#include <sdv/errors.h>

#include <string.h>

typedef struct rand_k_state {
  size_t k;
  /* idx[0..d): the permutation (identity between calls); idx[d..d+k): swap partners. */
  size_t idx[];
} rand_k_state;

static size_t rand_k_size(size_t dim) {
  /* k <= dim, so room for dim swap partners is always enough. */
  return sizeof(rand_k_state) + 2 * dim * sizeof(size_t);
}

static int rand_k_init(void *state, size_t dim, sdv_params *params) {
  rand_k_state *st = state;
  if (!sdv_params_has(params, "k"))
    return SDV_ERROR(SDV_EINVAL, "rand-k: parameter 'k' is required (1 <= k <= d = %zu)", dim);
  int rc = sdv_params_get_size(params, "k", 0, &st->k);
  if (rc) return rc;
  if (st->k < 1 || st->k > dim)
    return SDV_ERROR(SDV_EINVAL, "rand-k: k = %zu must satisfy 1 <= k <= d = %zu", st->k, dim);
  for (size_t i = 0; i < dim; i++) st->idx[i] = i;
  return SDV_OK;
}

static double rand_k_omega(const void *state, size_t dim) {
  const rand_k_state *st = state;
  return (double)dim / (double)st->k - 1.0;
}

static void rand_k_apply(void *state, size_t dim, const double *v, double *out,
                         sdv_stream *s) {
  rand_k_state *st = state;
  const size_t k = st->k;
  size_t *idx = st->idx, *partner = st->idx + dim;
  const double scale = (double)dim / (double)k;
  memset(out, 0, dim * sizeof *out);
  for (size_t i = 0; i < k; i++) {
    const size_t j = i + sdv_stream_below(s, dim - i);
    const size_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
    partner[i] = j;
    out[idx[i]] = scale * v[idx[i]];
  }
  /* Undo the swaps (last first) so the next call starts from the identity again. */
  for (size_t i = k; i-- > 0;) {
    const size_t j = partner[i];
    const size_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}

static int rand_k_linear(const void *state, size_t dim, double *a, double *c) {
  if (dim == 1) { /* k = 1 = d: the identity */
    *a = 0.0;
    *c = 0.0;
    return SDV_OK;
  }
  const double omega = rand_k_omega(state, dim);
  *a = omega * (double)dim / (double)(dim - 1);
  *c = omega / (double)(dim - 1);
  return SDV_OK;
}

static const sdv_compressor_type rand_k_type = {
    .name = "rand-k",
    .help = "uniform random k of d coordinates, scaled by d/k (omega = d/k - 1); rand-k:k=K",
    .size = rand_k_size,
    .init = rand_k_init,
    .omega = rand_k_omega,
    .apply = rand_k_apply,
    .linear = rand_k_linear,
    .covariance = NULL,
};

const sdv_compressor_type *const sdv_compressor_rand_k = &rand_k_type;
