/* The Monte Carlo engine (see sdv/mc.h; docs/math/montecarlo.md).
 *
 * Estimator. For each (time t, observable o) the finite values v_i = g(x_i(t)) of the M
 * paths give the sample mean, its standard error sqrt(s^2/n), and G group means (median of
 * means); non-finite values are counted apart. Values are folded with Welford's update
 * within a block of paths and blocks are combined with Chan, Golub & LeVeque's pairwise
 * formula (sdv_acc_merge).
 *
 * Order of combination (why the bits do not depend on threads or ranks). The blocks of a
 * group are combined along a fixed binary tree: the node (level l, start s) with s a
 * multiple of 2^l covers the group's blocks [s, s + 2^l) and is the merge of its two
 * children. Blocks are pushed in order onto a stack; two adjacent nodes of one group and one
 * level whose left start is a multiple of 2^(l+1) are siblings and are merged at once (a
 * binary counter). The node values are thus a function of the block values only; a block
 * range [b0, b1) leaves the unique decomposition of its intersection with each group into
 * maximal aligned nodes, and merging two adjacent ranges pushes the right one's nodes onto
 * the left one's stack, completing exactly the same nodes. When a group is covered its
 * nodes are folded left to right into the group value, and a complete result folds the
 * groups left to right into the totals. The stack holds O(log blocks) nodes, so memory does
 * not grow with M.
 *
 * Heavy-tail rule: unstable iff sqrt(n) max v^2 / sum v^2 > tail_c (see sdv/mc.h for why).
 * Reference values (tests/test-mc.c): 4 paths with values (1, -2, 3, inf) give n = 3,
 * nonfinite = 1, mean = 2/3, var = 57/9, maxabs = 3, median of means 1,
 * tail_stat = sqrt(3) 9/14 = 1.1134...
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <sdv/errors.h>
#include <sdv/mc.h>

#include "distribute.h"

/* Blocks simulated per thread between two merges: enough to keep threads busy despite
 * uneven block costs (each chunk ends at a barrier, where a thread can wait for up to one
 * block: with 4 per thread that cost w1 about 10% of its two-thread speed-up, with 16 about
 * 2-3%), small enough that the chunk buffers stay small (16 x threads x times x observables
 * cells). Does not affect bits. */
#define CHUNK_PER_THREAD 16
#define MSG_LEN 256

typedef struct mc_cell {
  sdv_acc acc;        /* finite values */
  uint64_t nonfinite; /* NaN/inf values */
  double maxabs;      /* max |v| over the finite values */
} mc_cell;

typedef struct mc_node {
  size_t group, start, level; /* covers the group's local blocks [start, start + 2^level) */
} mc_node;

typedef struct mc_config {
  size_t paths, block, groups, nblocks;
  size_t ntimes, nobs, ncell; /* ncell = ntimes * nobs */
  size_t channels;            /* 1, or 3 for a COUPLED process: nobs = 3 x observables */
  double tail_c;
} mc_config;

struct sdv_mc_result {
  mc_config c;
  size_t *steps;        /* [ntimes] */
  sdv_observable *obs;  /* [nobs] copies (kind and index compared by merge) */
  size_t b0, b1;        /* blocks covered */
  size_t ndone;         /* groups complete */
  bool *gdone;          /* [G] */
  sdv_acc *gacc;        /* [ncell * G]: group g of cell k at k * G + g */
  uint64_t *gnonfinite; /* [ncell * G] */
  double *gmaxabs;      /* [ncell * G] */
  mc_node *stack;       /* [cap] */
  mc_cell *pool;        /* [cap * ncell]: stack position i uses pool + i * ncell */
  size_t depth, cap;
  mc_cell *total; /* [ncell], valid when complete */
};

void sdv_mc_options_default(sdv_mc_options *o) {
  o->paths = 10000;
  o->block = 64;
  o->groups = 16;
  o->threads = 0;
  o->tail_c = 5.0;
  o->max_bytes = (size_t)1 << 30;
  o->max_work = 1e14;
  o->cancel = NULL;
  o->progress = NULL;
  o->progress_user = NULL;
}

static int check_options(const sdv_mc_options *o) {
  if (!o) return SDV_ERROR(SDV_EINVAL, "mc: options is NULL");
  if (o->paths < 1) return SDV_ERROR(SDV_EINVAL, "mc: paths = %zu must be >= 1", o->paths);
  if (o->block < 1) return SDV_ERROR(SDV_EINVAL, "mc: block = %zu must be >= 1", o->block);
  if (o->groups < 1 || o->groups > SDV_MC_GROUPS_MAX)
    return SDV_ERROR(SDV_EINVAL, "mc: groups = %zu must be in 1..%d", o->groups, SDV_MC_GROUPS_MAX);
  if (o->threads < 0)
    return SDV_ERROR(SDV_EINVAL, "mc: threads = %d must be >= 0 (0 = default)", o->threads);
  if (!(o->tail_c > 0.0) || isinf(o->tail_c))
    return SDV_ERROR(SDV_EINVAL, "mc: tail_c = %g must be finite and > 0", o->tail_c);
  if (!(o->max_work > 0.0))
    return SDV_ERROR(SDV_EINVAL, "mc: max_work = %g must be > 0", o->max_work);
  return SDV_OK;
}

/* Paths per block actually used: floor(M/G) caps it so that nblocks >= min(G, M). */
static size_t block_size(const sdv_mc_options *o) {
  size_t cap = o->paths / o->groups;
  if (cap < 1) cap = 1;
  return o->block < cap ? o->block : cap;
}

size_t sdv_mc_blocks(const sdv_mc_options *o) {
  if (!o || o->paths < 1 || o->block < 1 || o->groups < 1 || o->groups > SDV_MC_GROUPS_MAX)
    return 0;
  const size_t b = block_size(o);
  /* Not (M + b - 1) / b: that wraps to 0 blocks for M near SIZE_MAX. */
  return o->paths / b + (o->paths % b != 0);
}

/* Group of a block and the first block of a group (groups are contiguous, sizes differ by at
 * most one block): b is in g iff first(g) <= b < first(g + 1). */
static size_t group_of(const mc_config *c, size_t b) { return b * c->groups / c->nblocks; }
static size_t group_first(const mc_config *c, size_t g) {
  return (g * c->nblocks + c->groups - 1) / c->groups;
}
static size_t group_size(const mc_config *c, size_t g) {
  return group_first(c, g + 1) - group_first(c, g);
}

static void cell_reset(mc_cell *a) {
  sdv_acc_reset(&a->acc);
  a->nonfinite = 0;
  a->maxabs = 0.0;
}

static void cell_merge(mc_cell *a, const mc_cell *b) {
  sdv_acc_merge(&a->acc, &b->acc);
  a->nonfinite += b->nonfinite;
  if (b->maxabs > a->maxabs) a->maxabs = b->maxabs;
}

static void cells_merge(mc_cell *a, const mc_cell *b, size_t n) {
  for (size_t k = 0; k < n; k++) cell_merge(&a[k], &b[k]);
}

/* ---- results ---- */

void sdv_mc_result_free(sdv_mc_result *r) {
  if (!r) return;
  free(r->steps);
  free(r->obs);
  free(r->gdone);
  free(r->gacc);
  free(r->gnonfinite);
  free(r->gmaxabs);
  free(r->stack);
  free(r->pool);
  free(r->total);
  free(r);
}

/* Stack capacity: a range's part of one group decomposes into at most 2 bits(n_g) maximal
 * aligned nodes, a range leaves at most two groups open (its first and last), and a push
 * holds one more node before it cascades. */
static size_t stack_cap(const mc_config *c) {
  size_t nmax = (c->nblocks + c->groups - 1) / c->groups, bits = 0;
  while (nmax) {
    bits++;
    nmax >>= 1;
  }
  return 2 * bits + 6;
}

static int result_alloc(sdv_mc_result **out, const mc_config *c, const size_t *steps,
                        const sdv_observable *obs, size_t b0) {
  sdv_mc_result *r = calloc(1, sizeof *r);
  if (!r) return SDV_ERROR(SDV_ENOMEM, "out of memory");
  r->c = *c;
  r->b0 = r->b1 = b0;
  r->cap = stack_cap(c);
  const size_t G = c->groups, K = c->ncell;
  r->steps = malloc(c->ntimes * sizeof *r->steps);
  r->obs = malloc(c->nobs * sizeof *r->obs);
  r->gdone = calloc(G, sizeof *r->gdone);
  r->gacc = calloc(K * G, sizeof *r->gacc);
  r->gnonfinite = calloc(K * G, sizeof *r->gnonfinite);
  r->gmaxabs = calloc(K * G, sizeof *r->gmaxabs);
  r->stack = calloc(r->cap, sizeof *r->stack);
  r->pool = calloc(r->cap * K, sizeof *r->pool);
  r->total = calloc(K, sizeof *r->total);
  if (!r->steps || !r->obs || !r->gdone || !r->gacc || !r->gnonfinite || !r->gmaxabs || !r->stack ||
      !r->pool || !r->total) {
    sdv_mc_result_free(r);
    return SDV_ERROR(SDV_ENOMEM, "out of memory (mc result: %zu cells x %zu groups)", K, G);
  }
  memcpy(r->steps, steps, c->ntimes * sizeof *steps);
  memcpy(r->obs, obs, c->nobs * sizeof *obs);
  *out = r;
  return SDV_OK;
}

/* Folds the nodes at stack positions [j, depth) (one whole group, left to right) into the
 * group's slots and pops them. */
static void group_collapse(sdv_mc_result *r, size_t j) {
  const size_t K = r->c.ncell, G = r->c.groups, g = r->stack[j].group;
  mc_cell *v = r->pool + j * K;
  for (size_t i = j + 1; i < r->depth; i++) cells_merge(v, r->pool + i * K, K);
  for (size_t k = 0; k < K; k++) {
    r->gacc[k * G + g] = v[k].acc;
    r->gnonfinite[k * G + g] = v[k].nonfinite;
    r->gmaxabs[k * G + g] = v[k].maxabs;
  }
  r->gdone[g] = true;
  r->ndone++;
  r->depth = j;
}

/* Pushes a node (group g, local start s, level l) with the given cells (copied), merges
 * siblings, and collapses the group once covered. SDV_ENUMERIC if the stack bound is broken
 * (a bug, never expected). */
static int push(sdv_mc_result *r, size_t g, size_t s, size_t l, const mc_cell *cells) {
  const size_t K = r->c.ncell;
  if (r->depth == r->cap)
    return SDV_ERROR(SDV_ENUMERIC, "mc: internal error: merge stack overflow (cap %zu)", r->cap);
  const size_t i = r->depth++;
  r->stack[i] = (mc_node){.group = g, .start = s, .level = l};
  memcpy(r->pool + i * K, cells, K * sizeof *cells);
  while (r->depth >= 2) {
    mc_node *a = &r->stack[r->depth - 2];
    const mc_node *b = &r->stack[r->depth - 1];
    if (a->group != b->group || a->level != b->level || ((a->start >> a->level) & 1) ||
        a->start + ((size_t)1 << a->level) != b->start)
      break;
    cells_merge(r->pool + (r->depth - 2) * K, r->pool + (r->depth - 1) * K, K);
    a->level++;
    r->depth--;
  }
  /* The group's nodes are contiguous at the top; it is covered when they span [0, n_g). */
  const mc_node *top = &r->stack[r->depth - 1];
  if (top->start + ((size_t)1 << top->level) == group_size(&r->c, g)) {
    size_t j = r->depth - 1;
    while (j > 0 && r->stack[j - 1].group == g) j--;
    if (r->stack[j].start == 0) group_collapse(r, j);
  }
  return SDV_OK;
}

static void finish(sdv_mc_result *r) {
  const size_t K = r->c.ncell, G = r->c.groups;
  for (size_t k = 0; k < K; k++) {
    mc_cell *t = &r->total[k];
    cell_reset(t);
    for (size_t g = 0; g < G; g++) {
      const mc_cell gc = {r->gacc[k * G + g], r->gnonfinite[k * G + g], r->gmaxabs[k * G + g]};
      cell_merge(t, &gc);
    }
  }
}

bool sdv_mc_result_complete(const sdv_mc_result *r) { return r->ndone == r->c.groups; }

void sdv_mc_result_range(const sdv_mc_result *r, size_t *b0, size_t *b1) {
  *b0 = r->b0;
  *b1 = r->b1;
}
size_t sdv_mc_result_times(const sdv_mc_result *r) { return r->c.ntimes; }
size_t sdv_mc_result_observables(const sdv_mc_result *r) { return r->c.nobs; }
size_t sdv_mc_result_groups(const sdv_mc_result *r) { return r->c.groups; }

int sdv_mc_merge(sdv_mc_result *into, const sdv_mc_result *part) {
  if (!into || !part) return SDV_ERROR(SDV_EINVAL, "mc merge: result is NULL");
  const mc_config *a = &into->c, *b = &part->c;
  if (a->paths != b->paths || a->block != b->block || a->groups != b->groups ||
      a->ntimes != b->ntimes || a->nobs != b->nobs || a->channels != b->channels)
    return SDV_ERROR(SDV_EINVAL,
                     "mc merge: configurations differ (paths %zu/%zu, block %zu/%zu, groups "
                     "%zu/%zu, times %zu/%zu, observables %zu/%zu)",
                     a->paths, b->paths, a->block, b->block, a->groups, b->groups, a->ntimes,
                     b->ntimes, a->nobs, b->nobs);
  for (size_t t = 0; t < a->ntimes; t++)
    if (into->steps[t] != part->steps[t])
      return SDV_ERROR(SDV_EINVAL, "mc merge: steps[%zu] differ (%zu vs %zu)", t, into->steps[t],
                       part->steps[t]);
  for (size_t o = 0; o < a->nobs; o++)
    if (into->obs[o].kind != part->obs[o].kind || into->obs[o].index != part->obs[o].index)
      return SDV_ERROR(SDV_EINVAL, "mc merge: observable %zu differs", o);
  if (part->b0 != into->b1)
    return SDV_ERROR(SDV_EINVAL,
                     "mc merge: part covers blocks [%zu, %zu), not adjacent to [%zu, %zu)",
                     part->b0, part->b1, into->b0, into->b1);
  if (part->b0 == part->b1) return SDV_OK;
  const size_t K = a->ncell, G = a->groups;
  for (size_t g = 0; g < G; g++) {
    if (!part->gdone[g]) continue;
    for (size_t k = 0; k < K; k++) {
      into->gacc[k * G + g] = part->gacc[k * G + g];
      into->gnonfinite[k * G + g] = part->gnonfinite[k * G + g];
      into->gmaxabs[k * G + g] = part->gmaxabs[k * G + g];
    }
    into->gdone[g] = true;
    into->ndone++;
  }
  for (size_t i = 0; i < part->depth; i++) {
    const mc_node *n = &part->stack[i];
    const int rc = push(into, n->group, n->start, n->level, part->pool + i * K);
    if (rc) return rc;
  }
  into->b1 = part->b1;
  if (sdv_mc_result_complete(into)) finish(into);
  return SDV_OK;
}

int sdv_mc_result_get(const sdv_mc_result *r, size_t t, size_t o, sdv_mc_summary *s) {
  if (!r || !s) return SDV_ERROR(SDV_EINVAL, "mc result: NULL argument");
  if (t >= r->c.ntimes || o >= r->c.nobs)
    return SDV_ERROR(SDV_EINVAL, "mc result: (t, o) = (%zu, %zu) out of range (%zu x %zu)", t, o,
                     r->c.ntimes, r->c.nobs);
  if (!sdv_mc_result_complete(r))
    return SDV_ERROR(SDV_EINVAL,
                     "mc result: covers blocks [%zu, %zu) of %zu only; merge the rest first", r->b0,
                     r->b1, r->c.nblocks);
  const size_t k = t * r->c.nobs + o, G = r->c.groups;
  const mc_cell *c = &r->total[k];
  s->n = c->acc.n;
  s->nonfinite = c->nonfinite;
  s->mean = sdv_acc_mean(&c->acc);
  s->var = sdv_acc_var(&c->acc);
  s->se = sdv_acc_se(&c->acc);
  double scratch[SDV_MC_GROUPS_MAX];
  s->mom = sdv_median_of_means(r->gacc + k * G, G, scratch);
  s->maxabs = c->maxabs;
  /* sum v^2 = m2 + n mean^2, scaled by maxabs^2 so that huge finite values do not overflow;
   * an overflowed m2 means the values are too large to have a usable variance at all. */
  s->tail_stat = 0.0;
  if (c->acc.n >= 2 && c->maxabs > 0.0) {
    const double mu = c->acc.mean / c->maxabs, q = c->acc.m2 / c->maxabs / c->maxabs;
    const double sum = q + (double)c->acc.n * mu * mu;
    s->tail_stat = isfinite(sum) && sum > 0.0 ? sqrt((double)c->acc.n) / sum : INFINITY;
  }
  s->unstable = s->tail_stat > r->c.tail_c;
  return SDV_OK;
}

const sdv_acc *sdv_mc_result_acc(const sdv_mc_result *r, size_t t, size_t o) {
  if (!r || t >= r->c.ntimes || o >= r->c.nobs || !sdv_mc_result_complete(r)) return NULL;
  return &r->total[t * r->c.nobs + o].acc;
}

const sdv_acc *sdv_mc_result_group_accs(const sdv_mc_result *r, size_t t, size_t o) {
  if (!r || t >= r->c.ntimes || o >= r->c.nobs || !sdv_mc_result_complete(r)) return NULL;
  return r->gacc + (t * r->c.nobs + o) * r->c.groups;
}

/* ---- serialisation: header, then the arrays in a fixed order ---- */

#define PACK_MAGIC 0x7364766d63723031ULL /* "sdvmcr01" */

typedef struct pack_header {
  uint64_t magic;
  mc_config c;
  size_t b0, b1, ndone, depth, cap;
} pack_header;

/* The (pointer, bytes) pieces of r's image after the header, in order. */
static size_t pieces(const sdv_mc_result *r, void **ptr, size_t *len) {
  const size_t K = r->c.ncell, G = r->c.groups;
  size_t n = 0;
#define PIECE(p, bytes) (ptr[n] = (void *)(p), len[n++] = (bytes))
  PIECE(r->steps, r->c.ntimes * sizeof *r->steps);
  PIECE(r->obs, r->c.nobs * sizeof *r->obs);
  PIECE(r->gdone, G * sizeof *r->gdone);
  PIECE(r->gacc, K * G * sizeof *r->gacc);
  PIECE(r->gnonfinite, K * G * sizeof *r->gnonfinite);
  PIECE(r->gmaxabs, K * G * sizeof *r->gmaxabs);
  PIECE(r->stack, r->depth * sizeof *r->stack);
  PIECE(r->pool, r->depth * K * sizeof *r->pool);
  PIECE(r->total, K * sizeof *r->total);
#undef PIECE
  return n;
}

size_t sdv_mc_result_packed_size(const sdv_mc_result *r) {
  void *ptr[9];
  size_t len[9], total = sizeof(pack_header);
  const size_t n = pieces(r, ptr, len);
  for (size_t i = 0; i < n; i++) total += len[i];
  return total;
}

int sdv_mc_result_pack(const sdv_mc_result *r, void *buf, size_t len) {
  if (!r || !buf) return SDV_ERROR(SDV_EINVAL, "mc pack: NULL argument");
  const size_t need = sdv_mc_result_packed_size(r);
  if (len < need)
    return SDV_ERROR(SDV_EINVAL, "mc pack: len = %zu is below the %zu bytes needed", len, need);
  const pack_header h = {.magic = PACK_MAGIC,
                         .c = r->c,
                         .b0 = r->b0,
                         .b1 = r->b1,
                         .ndone = r->ndone,
                         .depth = r->depth,
                         .cap = r->cap};
  unsigned char *out = buf;
  memcpy(out, &h, sizeof h);
  out += sizeof h;
  void *ptr[9];
  size_t plen[9];
  const size_t n = pieces(r, ptr, plen);
  for (size_t i = 0; i < n; i++) {
    memcpy(out, ptr[i], plen[i]);
    out += plen[i];
  }
  return SDV_OK;
}

int sdv_mc_result_unpack(sdv_mc_result **out, const void *buf, size_t len) {
  if (!out || !buf) return SDV_ERROR(SDV_EINVAL, "mc unpack: NULL argument");
  *out = NULL;
  pack_header h;
  if (len < sizeof h) return SDV_ERROR(SDV_EINVAL, "mc unpack: len = %zu is too short", len);
  memcpy(&h, buf, sizeof h);
  if (h.magic != PACK_MAGIC || h.c.groups < 1 || h.c.groups > SDV_MC_GROUPS_MAX ||
      h.c.ncell != h.c.ntimes * h.c.nobs || (h.c.channels != 1 && h.c.channels != 3) ||
      h.cap != stack_cap(&h.c) || h.depth > h.cap ||
      h.ndone > h.c.groups)
    return SDV_ERROR(SDV_EINVAL, "mc unpack: not an sdv mc result image");
  /* result_alloc copies steps and observables: point it at the image's own copies, whose
   * offsets are the first two pieces. */
  const unsigned char *in = (const unsigned char *)buf + sizeof h;
  const size_t steps_bytes = h.c.ntimes * sizeof(size_t),
               obs_bytes = h.c.nobs * sizeof(sdv_observable);
  if (len < sizeof h + steps_bytes + obs_bytes)
    return SDV_ERROR(SDV_EINVAL, "mc unpack: len = %zu is too short", len);
  size_t *steps = malloc(steps_bytes);
  sdv_observable *obs = malloc(obs_bytes);
  if (!steps || !obs) {
    free(steps);
    free(obs);
    return SDV_ERROR(SDV_ENOMEM, "out of memory");
  }
  memcpy(steps, in, steps_bytes);
  memcpy(obs, in + steps_bytes, obs_bytes);
  for (size_t o = 0; o < h.c.nobs; o++) {
    obs[o].fn = NULL;
    obs[o].user = NULL;
    obs[o].label = NULL;
  }
  sdv_mc_result *r = NULL;
  int rc = result_alloc(&r, &h.c, steps, obs, h.b0);
  free(steps);
  free(obs);
  if (rc) return rc;
  r->b1 = h.b1;
  r->ndone = h.ndone;
  r->depth = h.depth;
  if (len < sdv_mc_result_packed_size(r)) {
    sdv_mc_result_free(r);
    return SDV_ERROR(SDV_EINVAL, "mc unpack: len = %zu is too short", len);
  }
  void *ptr[9];
  size_t plen[9];
  const size_t n = pieces(r, ptr, plen);
  in += steps_bytes + obs_bytes;
  for (size_t i = 2; i < n; i++) { /* steps and observables are in place already */
    memcpy(ptr[i], in, plen[i]);
    in += plen[i];
  }
  *out = r;
  return SDV_OK;
}

/* ---- the run ---- */

static int default_threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

static int thread_id(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* Simulates the paths of block b into cells[ncell] (reset first). The hot loop: no
 * allocation, no lookup; one process call per step count and observable. */
static void cell_add(mc_cell *cell, double v) {
  if (isfinite(v)) {
    sdv_acc_add(&cell->acc, v);
    if (fabs(v) > cell->maxabs) cell->maxabs = fabs(v);
  } else {
    cell->nonfinite++;
  }
}

/* Simulates the paths of block b into cells[ncell] (reset first). The hot loop: no
 * allocation, no lookup; one process call per step count and observable. A COUPLED process
 * fills three columns per observable o of n: o the difference, n + o the optimizer, 2n + o
 * the SDE (sdv/mc.h). */
static int run_block(sdv_process *p, const mc_config *c, const size_t *steps,
                     const sdv_observable *obs, size_t b, mc_cell *cells) {
  for (size_t k = 0; k < c->ncell; k++) cell_reset(&cells[k]);
  const size_t first = b * c->block;
  const size_t last = first + c->block < c->paths ? first + c->block : c->paths;
  const size_t n = c->nobs / c->channels;
  for (size_t path = first; path < last; path++) {
    sdv_process_start(p, path);
    size_t prev = 0;
    for (size_t t = 0; t < c->ntimes; t++) {
      const int rc = sdv_process_advance(p, steps[t] - prev);
      if (rc) return rc;
      prev = steps[t];
      mc_cell *row = cells + t * c->nobs;
      if (c->channels == 1) {
        for (size_t o = 0; o < n; o++) cell_add(&row[o], sdv_process_observe(p, &obs[o]));
        continue;
      }
      for (size_t o = 0; o < n; o++) {
        double vd, vs;
        sdv_process_observe_pair(p, &obs[o], &vd, &vs);
        cell_add(&row[o], vd - vs);
        cell_add(&row[n + o], vd);
        cell_add(&row[2 * n + o], vs);
      }
    }
  }
  return SDV_OK;
}

static int check_problem(const sdv_model *m, const sdv_process_options *po, const size_t *steps,
                         size_t ntimes, const sdv_observable *obs, size_t nobs) {
  if (!m) return SDV_ERROR(SDV_EINVAL, "mc: model is NULL");
  if (!po) return SDV_ERROR(SDV_EINVAL, "mc: process options is NULL");
  if (po->kind != SDV_PROCESS_DISCRETE && po->kind != SDV_PROCESS_SDE &&
      po->kind != SDV_PROCESS_COUPLED)
    return SDV_ERROR(SDV_EINVAL,
                     "mc: process kind = %d must be DISCRETE (0), SDE (1) or COUPLED (2)",
                     (int)po->kind);
  if (po->substeps < 1)
    return SDV_ERROR(SDV_EINVAL, "mc: substeps = %zu must be >= 1", po->substeps);
  if (!steps || ntimes == 0)
    return SDV_ERROR(SDV_EINVAL, "mc: steps: the time grid is empty (ntimes = %zu)", ntimes);
  for (size_t t = 1; t < ntimes; t++)
    if (steps[t] <= steps[t - 1])
      return SDV_ERROR(SDV_EINVAL,
                       "mc: steps[%zu] = %zu must be > steps[%zu] = %zu (strictly increasing)", t,
                       steps[t], t - 1, steps[t - 1]);
  if (!obs || nobs == 0)
    return SDV_ERROR(SDV_EINVAL, "mc: observables: none given (nobs = %zu)", nobs);
  for (size_t o = 0; o < nobs; o++) {
    const sdv_observable *g = &obs[o];
    if ((g->kind == SDV_OBS_X || g->kind == SDV_OBS_X2) && g->index >= m->dim)
      return SDV_ERROR(SDV_EINVAL, "mc: observable %zu: index = %zu must be < dim = %zu", o,
                       g->index, m->dim);
    if (g->kind == SDV_OBS_USER && !g->fn)
      return SDV_ERROR(SDV_EINVAL, "mc: observable %zu: user observable without fn", o);
    if ((unsigned)g->kind > SDV_OBS_USER)
      return SDV_ERROR(SDV_EINVAL, "mc: observable %zu: kind = %d is unknown", o, (int)g->kind);
  }
  return SDV_OK;
}

/* Elementary updates per optimizer step of one path: agents x dim for the optimizer; for the
 * SDE substeps x (EM evaluations per integrator step) x dim, times agents on the sampled
 * route (which simulates the agents). */
static double step_cost(const sdv_model *m, const sdv_process_options *po) {
  const double d = (double)m->dim, n = (double)m->agents;
  if (po->kind == SDV_PROCESS_DISCRETE) return n * d;
  const sdv_integrator_type *t = sdv_process_options_integrator(po);
  const double evals = (double)(t->replicas + (t->normals ? t->normals - 1 : 0));
  const double sde = (double)po->substeps * evals * d * n;
  return po->kind == SDV_PROCESS_COUPLED ? sde + n * d : sde;
}

static int threads_for(const sdv_mc_options *o, size_t nrange) {
  int threads = o->threads ? o->threads : default_threads();
  if (threads < 1) threads = 1;
  if ((size_t)threads > nrange) threads = nrange ? (int)nrange : 1;
  return threads;
}

/* The run configuration of options o for ntimes x nobs cells (options already checked). */
static mc_config config_of(const sdv_mc_options *o, size_t ntimes, size_t nobs) {
  mc_config c = {.paths = o->paths,
                 .block = block_size(o),
                 .nblocks = sdv_mc_blocks(o),
                 .ntimes = ntimes,
                 .nobs = nobs,
                 .channels = 1,
                 .tail_c = o->tail_c};
  c.groups = o->groups < c.nblocks ? o->groups : c.nblocks;
  return c;
}

/* The memory of a run: accumulators per cell and group, the merge stack, the chunk buffers
 * and per-thread state vectors. In double so that absurd requests cannot overflow the
 * arithmetic that is meant to refuse them. */
static double mc_bytes(const mc_config *c, int threads, size_t dim) {
  const double cells = (double)c->ntimes * (double)c->nobs;
  const double chunk = (double)CHUNK_PER_THREAD * threads;
  const double cap = (double)stack_cap(c);
  const double dvec = (double)dim * sizeof(double);
  return cells * ((double)c->groups * (sizeof(sdv_acc) + sizeof(uint64_t) + sizeof(double)) +
                  (cap + 1.0 + chunk) * sizeof(mc_cell)) +
         (double)threads * dvec * (SDV_INTEGRATOR_REPLICAS_MAX + 8.0 + 12.0) +
         (double)c->ntimes * sizeof(size_t);
}

int sdv_mc_memory(const sdv_model *m, size_t ntimes, size_t nobs, const sdv_mc_options *o,
                  double *bytes) {
  if (!m || !bytes) return SDV_ERROR(SDV_EINVAL, "mc memory: NULL model or bytes");
  int rc = check_options(o);
  if (rc) return rc;
  mc_config c = config_of(o, ntimes, nobs);
  *bytes = mc_bytes(&c, threads_for(o, c.nblocks), m->dim);
  return SDV_OK;
}

/* sdv_mc_run_blocks; if whole, the work guard counts all M paths, not only those of
 * [b0, b1): a distributed run hands each process a part, and the guard must refuse the same
 * runs whatever the number of processes. */
static int run_range(sdv_mc_result **out, const sdv_model *m, const sdv_process_options *po,
                     const size_t *steps, size_t ntimes, const sdv_observable *obs, size_t nobs,
                     const sdv_mc_options *o, size_t b0, size_t b1, bool whole) {
  if (!out) return SDV_ERROR(SDV_EINVAL, "mc: out is NULL");
  *out = NULL;
  int rc;
  if ((rc = check_options(o))) return rc;
  if ((rc = check_problem(m, po, steps, ntimes, obs, nobs))) return rc;
  const size_t channels = po->kind == SDV_PROCESS_COUPLED ? 3 : 1;
  mc_config c = config_of(o, ntimes, channels * nobs);
  c.channels = channels;
  if (b0 > b1 || b1 > c.nblocks)
    return SDV_ERROR(SDV_EINVAL, "mc: block range [b0, b1) = [%zu, %zu) must lie in [0, %zu]", b0,
                     b1, c.nblocks);

  /* Resource guard, before anything is allocated. */
  const size_t nrange = b1 - b0;
  const int threads = threads_for(o, nrange);
  const double chunk = (double)CHUNK_PER_THREAD * threads;
  const double bytes = mc_bytes(&c, threads, m->dim);
  if (bytes > (double)o->max_bytes)
    return SDV_ERROR(SDV_ELIMIT,
                     "mc: needs about %.3g MiB (%zu times x %zu observables, dim %zu, %d "
                     "threads), above max_bytes = %zu; use a coarser grid (--every), fewer "
                     "observables or a smaller --dim (library: sdv_mc_options.max_bytes)",
                     bytes / 1048576.0, ntimes, c.nobs, m->dim, threads, o->max_bytes);
  /* b * block can wrap for M near SIZE_MAX (b * block >= M there anyway): compare by division. */
  const size_t first = whole || b0 == 0 ? 0 : b0 > c.paths / c.block ? c.paths : b0 * c.block;
  const size_t last = whole || b1 > c.paths / c.block ? c.paths : b1 * c.block;
  const double work = (double)(last - first) * (double)steps[ntimes - 1] * step_cost(m, po);
  if (work > o->max_work)
    return SDV_ERROR(SDV_ELIMIT,
                     "mc: about %.3g elementary updates (%zu paths x %zu steps x %.3g per "
                     "step), above max_work = %.3g; use fewer --paths, or fewer steps (a larger "
                     "--eta, a shorter --T) (library: sdv_mc_options.max_work)",
                     work, last - first, steps[ntimes - 1], step_cost(m, po), o->max_work);
  c.ncell = ntimes * c.nobs;

  sdv_mc_result *r = NULL;
  sdv_observable *cols = NULL; /* the observables of the result's columns */
  sdv_process **procs = NULL;
  mc_cell *buf = NULL;
  int *status = NULL;
  char *msg = NULL;
  const size_t nchunk = (size_t)chunk;
  if (!(cols = malloc(c.nobs * sizeof *cols))) {
    rc = SDV_ERROR(SDV_ENOMEM, "out of memory (mc columns)");
    goto fail;
  }
  for (size_t k = 0; k < c.nobs; k++) cols[k] = obs[k % nobs];
  if ((rc = result_alloc(&r, &c, steps, cols, b0))) goto fail;
  if (nrange == 0) goto done;
  procs = calloc((size_t)threads, sizeof *procs);
  buf = malloc(nchunk * c.ncell * sizeof *buf);
  status = calloc(nchunk, sizeof *status);
  msg = calloc(nchunk, MSG_LEN);
  if (!procs || !buf || !status || !msg) {
    rc = SDV_ERROR(SDV_ENOMEM, "out of memory (mc buffers)");
    goto fail;
  }
  for (int i = 0; i < threads; i++)
    if ((rc = sdv_process_alloc(&procs[i], m, po))) goto fail;

  for (size_t c0 = b0; c0 < b1; c0 += nchunk) {
    const size_t n = b1 - c0 < nchunk ? b1 - c0 : nchunk;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
#endif
    for (size_t i = 0; i < n; i++) {
      if (o->cancel && *o->cancel) {
        status[i] = SDV_EINTR;
        continue;
      }
      status[i] = run_block(procs[thread_id()], &c, steps, obs, c0 + i, buf + i * c.ncell);
      /* The message lives in the worker's thread-local error slot: copy it out. */
      if (status[i]) snprintf(msg + i * MSG_LEN, MSG_LEN, "%s", sdv_last_error());
    }
    for (size_t i = 0; i < n; i++) {
      if (status[i] == SDV_EINTR) {
        rc = SDV_ERROR(SDV_EINTR, "mc: cancelled after %zu of %zu blocks", c0 + i - b0, nrange);
        goto fail;
      }
      if (status[i]) {
        rc = SDV_ERROR(status[i], "%s", msg + i * MSG_LEN);
        goto fail;
      }
      const size_t b = c0 + i, g = group_of(&c, b);
      if ((rc = push(r, g, b - group_first(&c, g), 0, buf + i * c.ncell))) goto fail;
    }
    r->b1 = c0 + n;
    if (o->progress) o->progress(o->progress_user, c0 + n - b0, nrange);
    if (o->cancel && *o->cancel && c0 + n < b1) {
      rc = SDV_ERROR(SDV_EINTR, "mc: cancelled after %zu of %zu blocks", c0 + n - b0, nrange);
      goto fail;
    }
  }
  if (sdv_mc_result_complete(r)) finish(r);
done:
  rc = SDV_OK;
  *out = r;
  r = NULL;
fail:
  if (procs)
    for (int i = 0; i < threads; i++) sdv_process_free(procs[i]);
  free(procs);
  free(buf);
  free(status);
  free(msg);
  free(cols);
  sdv_mc_result_free(r);
  return rc;
}

int sdv_mc_run_blocks(sdv_mc_result **out, const sdv_model *m, const sdv_process_options *po,
                      const size_t *steps, size_t ntimes, const sdv_observable *obs, size_t nobs,
                      const sdv_mc_options *o, size_t b0, size_t b1) {
  return run_range(out, m, po, steps, ntimes, obs, nobs, o, b0, b1, false);
}

int sdv_mc_run_part(sdv_mc_result **out, const sdv_model *m, const sdv_process_options *po,
                    const size_t *steps, size_t ntimes, const sdv_observable *obs, size_t nobs,
                    const sdv_mc_options *o, size_t b0, size_t b1) {
  return run_range(out, m, po, steps, ntimes, obs, nobs, o, b0, b1, true);
}

int sdv_mc_run(sdv_mc_result **out, const sdv_model *m, const sdv_process_options *po,
               const size_t *steps, size_t ntimes, const sdv_observable *obs, size_t nobs,
               const sdv_mc_options *o) {
  if (!out) return SDV_ERROR(SDV_EINVAL, "mc: out is NULL");
  *out = NULL;
  const size_t nb = sdv_mc_blocks(o);
  if (nb == 0) return check_options(o); /* the reason the options give no blocks */
  /* Hook: with a distributor (several processes), this process runs its share of the blocks
   * and the parts are exchanged and merged in block order (lib/mc/distribute.c). */
  if (sdv_mc_distributed())
    return sdv_mc_run_distributed(out, m, po, steps, ntimes, obs, nobs, o, nb);
  return sdv_mc_run_blocks(out, m, po, steps, ntimes, obs, nobs, o, 0, nb);
}
