/* sdv/compressor.h — unbiased compressors C: R^d -> R^d.
 *
 * Contract of every compressor type (the conformance check `sdv compressor-check` tests it):
 *   E C(v) = v,   E||C(v) - v||^2 <= omega ||v||^2,   C(0) = 0,
 * and the output of apply() depends only on (parameters, v, the numbers drawn from the
 * stream) — never on earlier calls — so a path can be regenerated alone.
 *
 * Error covariance Phi_C(v) = E (C(v) - v)(C(v) - v)^T. Two optional hooks describe it:
 *  - linear(): for compressors whose Phi is a linear function of v v^T of the form
 *        Phi_C(v) = a Diag(v_j^2) - c v v^T
 *    (identity a = c = 0; Bernoulli(p) a = 1/p - 1, c = 0; rand-k a = omega d/(d-1),
 *    c = omega/(d-1)). Then E_Z Phi(g + Z) is known in closed form for noise Z with i.i.d.
 *    coordinates of variance s2, DCSGD's SDE has an exact structured diffusion and its
 *    moment equations close (exact references).
 *  - covariance(): the exact Phi_C(v) as Diag(diag) - beta u u^T, for compressors that are
 *    not linear but have a closed form (QSGD, natural compression: diagonal, beta = 0).
 * A compressor with neither still works everywhere: its DCSGD SDE uses the generic sampled
 * route (see model.h) and the conformance check estimates Phi by sampling only.
 *
 * Instance state is relocatable (no internal pointers): sdv copies it with memcpy to give
 * each thread its own scratch (sdv_compressor_clone).
 */
#ifndef SDV_COMPRESSOR_H
#define SDV_COMPRESSOR_H

#include <signal.h>
#include <stddef.h>

#include <sdv/params.h>
#include <sdv/rng.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdv_compressor sdv_compressor;

typedef struct sdv_compressor_type {
  const char *name; /* registry key, e.g. "rand-k" */
  const char *help; /* one line for `sdv list` */
  /* Bytes of instance state for dimension dim, scratch included (allocated zeroed). */
  size_t (*size)(size_t dim);
  /* Reads and validates params for dimension dim (SDV_EINVAL naming key and value). */
  int (*init)(void *state, size_t dim, sdv_params *params);
  /* The declared omega (a bound that holds for every v). */
  double (*omega)(const void *state, size_t dim);
  /* out = C(v; randomness from s). out and v do not alias. May use the state as scratch. */
  void (*apply)(void *state, size_t dim, const double *v, double *out, sdv_stream *s);
  /* Optional (NULL): coefficients of the linear form above; returns SDV_OK. */
  int (*linear)(const void *state, size_t dim, double *a, double *c);
  /* Optional (NULL): exact Phi_C(v) = Diag(diag) - (*beta) u u^T. */
  int (*covariance)(const void *state, size_t dim, const double *v, double *diag,
                    double *beta, double *u);
  /* Optional (NULL), for a random sparsifier, whose C(v) is scale * v_j on a random subset of
   * the coordinates and 0 elsewhere (scale fixed by the instance): the subsets of n >= 1
   * instances c[0..n) of this type, in turn, drawn from s exactly as n calls of apply()
   * would draw them (the same numbers, in the same order). Instance i's coordinates go to
   * kept after the earlier instances' (in draw order), their number to nkept[i] and its
   * scale to scale[i]; returns the total (kept holds room for n * dim). May use the
   * instances' state as scratch. Lets a method skip the work of dropped coordinates (DCSGD
   * then draws gradient noise only where a coordinate is kept; same law). rand-k has it. */
  size_t (*subsets)(sdv_compressor *const *c, size_t n, sdv_stream *s, size_t *kept,
                    size_t *nkept, double *scale);
} sdv_compressor_type;

struct sdv_compressor {
  const sdv_compressor_type *type;
  size_t dim;
  size_t size;  /* bytes of state */
  char *spec;   /* canonical spec text, for reports (owned) */
  void *state;  /* owned */
};

extern const sdv_compressor_type *const sdv_compressor_identity;  /* "identity" */
extern const sdv_compressor_type *const sdv_compressor_bernoulli; /* "bernoulli:p=P", 0<P<=1 */
extern const sdv_compressor_type *const sdv_compressor_rand_k;    /* "rand-k:k=K", 1<=K<=d */
extern const sdv_compressor_type *const sdv_compressor_qsgd;      /* "qsgd:s=S", S>=1 */
extern const sdv_compressor_type *const sdv_compressor_natural;   /* "natural" */

const sdv_compressor_type *sdv_compressor_type_from_name(const char *name);
/* Adds a user type (SDV_EINVAL: name taken, or name/size/init/omega/apply missing). */
int sdv_compressor_register(const sdv_compressor_type *type);
size_t sdv_compressor_types(const sdv_compressor_type **list, size_t max);

/* Allocates an instance from "NAME[:KEY=VALUE...]" for dimension dim >= 1. */
int sdv_compressor_alloc(sdv_compressor **out, const char *spec, size_t dim);
int sdv_compressor_alloc_type(sdv_compressor **out, const sdv_compressor_type *type,
                              size_t dim, const char *params);
/* An independent copy (own scratch) for another thread; NULL when out of memory. */
sdv_compressor *sdv_compressor_clone(const sdv_compressor *c);
void sdv_compressor_free(sdv_compressor *c); /* NULL is a no-op */

static inline void sdv_compressor_apply(sdv_compressor *c, const double *v, double *out,
                                        sdv_stream *s) {
  c->type->apply(c->state, c->dim, v, out, s);
}
static inline double sdv_compressor_omega(const sdv_compressor *c) {
  return c->type->omega(c->state, c->dim);
}
/* Linear coefficients (a, c); SDV_ENOTSUP if the type is not linear. */
int sdv_compressor_linear(const sdv_compressor *c, double *a, double *cc);
/* Exact Phi_C(v) as Diag(diag) - beta u u^T, from covariance() or linear();
 * SDV_ENOTSUP if the type declares neither. */
int sdv_compressor_covariance(const sdv_compressor *c, const double *v, double *diag,
                              double *beta, double *u);

/* ---- Conformance (the check behind `sdv compressor-check`) ---- */

typedef struct sdv_conformance_options {
  size_t samples; /* draws per test vector (default 20000) */
  size_t vectors; /* number of high-entropy test vectors (default 4) */
  uint64_t seed;  /* stream seed */
  double alpha;   /* family-wise false-failure rate of the whole check (default 1e-3) */
  volatile sig_atomic_t *cancel; /* optional: checked between draws; SDV_EINTR when set */
} sdv_conformance_options;

/* One row of the conformance table: one statistic on one test vector. */
typedef struct sdv_conformance_row {
  size_t vector;     /* which test vector */
  const char *what;  /* "bias", "omega", "covariance", "zero" */
  double value;      /* the statistic (max |z| for bias/covariance, ratio for omega) */
  double bound;      /* what it is compared with */
  double se;         /* standard error where meaningful, else NAN */
  int pass;
} sdv_conformance_row;

typedef struct sdv_conformance_report {
  size_t nrows;
  sdv_conformance_row *rows; /* owned */
  int pass;                  /* every row passed, and nothing was untestable */
  char note[256];            /* e.g. "covariance: sampled only (no closed form declared)" */
  size_t stuck;              /* coordinates never changed by any draw of their vector (a rare
                                outcome never seen; their tests rest on the declared variance) */
  int inconclusive;          /* some test vector had at least half of its coordinates stuck:
                                its law was hardly sampled, so pass = 0 without a failed row
                                (e.g. bernoulli:p=1e-300); 0 otherwise */
} sdv_conformance_report;

void sdv_conformance_options_default(sdv_conformance_options *o);
/* Runs the check; *report must be freed with sdv_conformance_report_free. A failing check
 * is not an error: status SDV_OK with report->pass == 0. SDV_EINTR when *o->cancel is set,
 * SDV_ELIMIT for sizes beyond the work or memory guard (the message gives the estimate). */
int sdv_compressor_conformance(const sdv_compressor *c, const sdv_conformance_options *o,
                               sdv_conformance_report **report);
void sdv_conformance_report_free(sdv_conformance_report *r);

#ifdef __cplusplus
}
#endif
#endif
