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
 * relocatable for sdv_compressor_clone). Step i of the shuffle draws j_i uniform on [i, d),
 * keeps the entry at position j_i and swaps positions i and j_i. All k draws come first (they
 * depend on the stream only, not on the array), then the k swaps. Position i is never read
 * again after step i (later steps read positions > i), so only the write to j_i is made, and
 * on return the written positions get their own index back: the array is the identity
 * permutation again, so the output depends only on v and the numbers drawn, never on earlier
 * calls. The bounded draws are Lemire's multiply-and-reject, inline, with the k rejection
 * thresholds 2^64 mod (d - i) computed once at init (rand_k.h); they consume the words
 * exactly as sdv_stream_below(s, d - i) would, so the subsets (and their order) are those of
 * the textbook swap-and-undo shuffle on sdv_stream_below (tests/test-compressor.c compares).
 * Cost O(k) beyond the O(d) zero fill.
 * Reference values (tests): d = 10, k = 3 gives omega = 7/3, a = 70/27 = 2.5925925..., and for
 * v_0 = 2.385, v_1 = -1.25 the entry Phi_01 = (7/27) * 2.385 * 1.25 = 0.7729166...
 */
#include <sdv/compressor.h>
#include <sdv/errors.h>

#include "compressor/rand_k.h"

#include <stdint.h>
#include <string.h>

typedef struct rand_k_state {
  size_t k;
  /* idx[0..d): the permutation (identity between calls); idx[d..d+k): swap partners;
   * idx[2d..2d+k): the kept coordinates of the last draw; idx[3d..3d+k): the rejection
   * thresholds 2^64 mod (d - i) of the k bounded draws (each < d - i, so a size_t holds it). */
  size_t idx[];
} rand_k_state;

static size_t rand_k_size(size_t dim) {
  /* An overflowing size is reported as SIZE_MAX, which alloc refuses (SDV_ELIMIT), instead
   * of wrapping to a small block that init would overrun (tests/fuzz/crashes/cli). */
  if (dim > (SIZE_MAX - sizeof(rand_k_state)) / (4 * sizeof(size_t))) return SIZE_MAX;
  /* k <= dim, so room for dim swap partners (and dim kept indices, dim thresholds) is always
   * enough. */
  return sizeof(rand_k_state) + 4 * dim * sizeof(size_t);
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
  for (size_t i = 0; i < st->k; i++) st->idx[3 * dim + i] = (size_t)sdv_rand_k_threshold(dim - i);
  return SDV_OK;
}

static double rand_k_omega(const void *state, size_t dim) {
  const rand_k_state *st = state;
  return (double)dim / (double)st->k - 1.0;
}

/* Draws the k-subset into kept[0..k) (in draw order) and returns k, leaving the permutation
 * the identity for the next call. kept[i] is what the full swap would put at position i: the
 * entry at j_i after the earlier swaps. */
static inline size_t rand_k_draw(rand_k_state *st, size_t dim, sdv_stream *s, size_t *kept) {
  const size_t k = st->k;
  size_t *idx = st->idx, *partner = st->idx + dim;
  const size_t *thresh = st->idx + 3 * dim;
  for (size_t i = 0; i < k; i++) partner[i] = i + (size_t)sdv_rand_k_below(s, dim - i, thresh[i]);
  for (size_t i = 0; i < k; i++) {
    const size_t j = partner[i];
    kept[i] = idx[j];
    idx[j] = idx[i];
  }
  /* Only the partner positions were written; each gets its own index back. */
  for (size_t i = 0; i < k; i++) idx[partner[i]] = partner[i];
  return k;
}

/* The subsets hook (sdv/compressor.h): the draws of n apply() calls, without the vectors. */
static size_t rand_k_subsets(sdv_compressor *const *c, size_t n, sdv_stream *s, size_t *kept,
                             size_t *nkept, double *scale) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    nkept[i] = rand_k_draw(c[i]->state, c[i]->dim, s, kept + total);
    scale[i] = (double)c[i]->dim / (double)nkept[i];
    total += nkept[i];
  }
  return total;
}

static void rand_k_apply(void *state, size_t dim, const double *v, double *out,
                         sdv_stream *s) {
  rand_k_state *st = state;
  size_t *kept = st->idx + 2 * dim;
  const size_t k = rand_k_draw(st, dim, s, kept);
  const double scale = (double)dim / (double)k;
  memset(out, 0, dim * sizeof *out);
  for (size_t i = 0; i < k; i++) out[kept[i]] = scale * v[kept[i]];
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
    .subsets = rand_k_subsets,
};

const sdv_compressor_type *const sdv_compressor_rand_k = &rand_k_type;
