/* Shards: which data samples each agent owns under minibatch noise (docs/math/minibatch.md).
 *
 * The n samples of the objective are split among the N agents; agent i owns a set S_i with
 * n_i = |S_i| >= 1, the S_i disjoint and covering 0..n-1. Every scheme starts from the same
 * seeded permutation pi of 0..n-1 (gsl_ran_shuffle with an MT19937 gsl_rng seeded with S,
 * default S = 1, independent of the model's --seed so that the data split stays fixed while
 * paths change), and "cutting a sequence into N near-equal parts" gives positions
 * [start_i, start_{i+1}) with start_i = i q + min(i, r), q = floor(n/N), r = n mod N (the first
 * r agents get q + 1 samples):
 *   iid           cut pi: each agent gets a uniformly random subset, sizes q or q + 1;
 *   label-skew    sort pi stably by label (ties keep their order in pi), then cut: agents get
 *                 contiguous label ranges, the most heterogeneous split of equal sizes;
 *   dirichlet:alpha=A   for each class c = 0..C-1 in turn (C = 1 + the largest label; labels
 *                 must be class indices) draw proportions p ~ Dirichlet(A, ..., A) over the N
 *                 agents (gsl_ran_dirichlet, same gsl_rng), and give the class's members, in
 *                 their order in pi, to the agents in blocks with boundaries
 *                 round(n_c (p_0 + ... + p_{i-1})), i = 0..N. Small A: few classes per agent
 *                 and unequal sizes; large A: close to iid.
 * Within a shard the samples are listed in increasing index order. A split that leaves an
 * agent without samples is an error (n < N, or a Dirichlet draw): the message says which.
 * Reference (tests/test-minibatch.c): n = 178 (data/wine.csv), N = 4, iid: sizes 45, 45, 44,
 * 44; label-skew puts all of class 0 (59 samples) in shards 1 and 2.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include <sdv/errors.h>
#include <sdv/model.h>
#include <sdv/params.h>

#include "model/minibatch.h"

/* A sample's label and its position in pi, sorted by label then position (a stable sort by
 * label of pi, whatever qsort's own stability). */
typedef struct keyed {
  double label;
  size_t pos;
  size_t sample;
} keyed;

static int by_label(const void *a, const void *b) {
  const keyed *x = a, *y = b;
  if (x->label != y->label) return x->label < y->label ? -1 : 1;
  return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Agent of position k when n positions are cut into N near-equal parts. */
static size_t cut_owner(size_t k, size_t n, size_t N) {
  const size_t q = n / N, r = n % N;
  /* The first r agents hold q + 1 positions each, r (q + 1) in all. */
  return k < r * (q + 1) ? k / (q + 1) : r + (k - r * (q + 1)) / q;
}

/* Reads every label into lab[n]; SDV_EINVAL naming the scheme without labels. */
static int read_labels(const sdv_model *m, const char *spec, double *lab) {
  if (!m->objective->type->sample_label)
    return SDV_ERROR(SDV_EINVAL,
                     "shards = '%s' needs sample labels, which objective %s does not provide "
                     "(use iid)",
                     spec, m->objective->type->name);
  for (size_t s = 0; s < m->samples; s++) {
    const int rc = sdv_objective_sample_label(m->objective, s, &lab[s]);
    if (rc) return rc;
  }
  return SDV_OK;
}

static int dirichlet_owners(const sdv_model *m, const char *spec, double alpha, gsl_rng *r,
                            const size_t *pi, const double *lab, size_t *owner) {
  const size_t n = m->samples, N = m->agents;
  size_t classes = 0;
  for (size_t s = 0; s < n; s++) {
    if (!(lab[s] >= 0.0 && lab[s] == floor(lab[s]) && lab[s] < 1048576.0))
      return SDV_ERROR(SDV_EINVAL,
                       "shards = '%s': sample %zu has label %g; Dirichlet shards need class "
                       "indices 0, 1, 2, ...",
                       spec, s + 1, lab[s]);
    if ((size_t)lab[s] + 1 > classes) classes = (size_t)lab[s] + 1;
  }
  double *a = malloc(N * sizeof *a), *p = malloc(N * sizeof *p);
  int rc = SDV_OK;
  if (!a || !p) {
    rc = SDV_ERROR(SDV_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < N; i++) a[i] = alpha;
  for (size_t c = 0; c < classes; c++) {
    gsl_ran_dirichlet(r, N, a, p);
    size_t nc = 0;
    for (size_t k = 0; k < n; k++) nc += lab[pi[k]] == (double)c;
    double sum = 0.0;
    for (size_t i = 0; i < N; i++) sum += p[i];
    if (!isfinite(sum) || !(sum > 0.0)) {
      rc = SDV_ERROR(SDV_EINVAL,
                     "shards = '%s': the Dirichlet draw for class %zu is degenerate "
                     "(alpha too small); raise alpha",
                     spec, c);
      goto done;
    }
    /* Member t (0-based, in pi order) goes to the agent whose block [b_i, b_{i+1}) holds it. */
    size_t t = 0, i = 0;
    double cum = 0.0;
    size_t hi = 0;
    for (size_t k = 0; k < n; k++) {
      if (lab[pi[k]] != (double)c) continue;
      while (t >= hi && i < N) {
        cum += p[i] / sum;
        hi = i + 1 == N ? nc : (size_t)llround((double)nc * cum);
        i++;
      }
      owner[pi[k]] = i - 1;
      t++;
    }
  }
done:
  free(a);
  free(p);
  return rc;
}

/* Re-raises a parameter error with the option in front; the component's message is copied
 * first, since raising rewrites the buffer it lives in. */
static int wrap_error(int rc, const char *spec) {
  char inner[768];
  snprintf(inner, sizeof inner, "%s", sdv_last_error());
  return SDV_ERROR(rc, "shards = '%s': %s", spec, inner);
}

int sdv_shards_build(sdv_model *m, const char *spec) {
  const size_t n = m->samples, N = m->agents;
  sdv_params par = {0};
  size_t seed = 1, *pi = NULL, *owner = NULL;
  double alpha = 0.0, *lab = NULL;
  keyed *key = NULL;
  gsl_rng *r = NULL;
  int rc = sdv_params_parse(&par, spec);
  if (rc) goto wrap;
  const bool iid = strcmp(par.name, "iid") == 0, skew = strcmp(par.name, "label-skew") == 0,
             dir = strcmp(par.name, "dirichlet") == 0;
  if (!iid && !skew && !dir) {
    rc = SDV_ERROR(SDV_EINVAL,
                   "shards = '%s' is unknown (known: iid, label-skew, dirichlet:alpha=A; "
                   "each with :seed=S)",
                   spec);
    goto done;
  }
  if ((rc = sdv_params_get_size(&par, "seed", 1, &seed))) goto wrap;
  if (dir) {
    if (!sdv_params_has(&par, "alpha")) {
      rc = SDV_ERROR(SDV_EINVAL, "shards = '%s': dirichlet needs alpha = A > 0", spec);
      goto done;
    }
    if ((rc = sdv_params_get_double(&par, "alpha", 1.0, &alpha))) goto wrap;
    if (!(alpha > 0.0)) {
      rc = SDV_ERROR(SDV_EINVAL, "shards = '%s': alpha = %g must be > 0", spec, alpha);
      goto done;
    }
  }
  if ((rc = sdv_params_check_unused(&par))) goto wrap;
  if (n < N) {
    rc = SDV_ERROR(SDV_EINVAL,
                   "shards = '%s': the %zu samples cannot give each of the %zu agents "
                   "(agents) one",
                   spec, n, N);
    goto done;
  }
  pi = malloc(n * sizeof *pi);
  owner = malloc(n * sizeof *owner);
  m->shard_start = calloc(N + 1, sizeof *m->shard_start);
  m->shard_index = malloc(n * sizeof *m->shard_index);
  r = gsl_rng_alloc(gsl_rng_mt19937);
  if (!pi || !owner || !m->shard_start || !m->shard_index || !r) {
    rc = SDV_ERROR(SDV_ENOMEM, "out of memory");
    goto done;
  }
  gsl_rng_set(r, (unsigned long)seed);
  for (size_t k = 0; k < n; k++) pi[k] = k;
  gsl_ran_shuffle(r, pi, n, sizeof *pi);
  if (iid) {
    for (size_t k = 0; k < n; k++) owner[pi[k]] = cut_owner(k, n, N);
  } else {
    if (!(lab = malloc(n * sizeof *lab))) {
      rc = SDV_ERROR(SDV_ENOMEM, "out of memory");
      goto done;
    }
    if ((rc = read_labels(m, spec, lab))) goto done;
    if (skew) {
      if (!(key = malloc(n * sizeof *key))) {
        rc = SDV_ERROR(SDV_ENOMEM, "out of memory");
        goto done;
      }
      for (size_t k = 0; k < n; k++) key[k] = (keyed){lab[pi[k]], k, pi[k]};
      qsort(key, n, sizeof *key, by_label);
      for (size_t k = 0; k < n; k++) owner[key[k].sample] = cut_owner(k, n, N);
    } else if ((rc = dirichlet_owners(m, spec, alpha, r, pi, lab, owner))) {
      goto done;
    }
  }
  /* Counting sort by owner, samples in increasing index order within a shard. */
  for (size_t s = 0; s < n; s++) m->shard_start[owner[s] + 1]++;
  for (size_t i = 0; i < N; i++) {
    if (m->shard_start[i + 1] == 0) {
      rc = SDV_ERROR(SDV_EINVAL,
                     "shards = '%s': agent %zu gets no samples (n = %zu, N = %zu); every "
                     "agent needs one: raise alpha, change the seed or lower agents",
                     spec, i + 1, n, N);
      goto done;
    }
    m->shard_start[i + 1] += m->shard_start[i];
  }
  for (size_t i = 0; i < N; i++) pi[i] = m->shard_start[i]; /* pi (n >= N) as fill cursors */
  for (size_t s = 0; s < n; s++) m->shard_index[pi[owner[s]]++] = s;
  goto done;
wrap:
  rc = wrap_error(rc, spec);
done:
  sdv_params_clear(&par);
  if (r) gsl_rng_free(r);
  free(pi);
  free(owner);
  free(lab);
  free(key);
  return rc;
}
