/* sdv/mc.h — the Monte Carlo engine: M paths x a grid of step counts x observables, folded
 * into streaming accumulators (no path is kept in memory).
 *
 * For every (time t, observable o) a result holds
 *   - an sdv_acc of the finite values (mean, standard error),
 *   - G group accumulators for median of means: the paths are split into G contiguous
 *     ranges (groups of whole blocks),
 *   - the number of non-finite values (a path whose value is NaN or inf at t is counted
 *     there and never averaged in),
 *   - the largest |value|, and the heavy-tail flag (below).
 *
 * Reproducibility. Path i always uses the streams of path i (sdv/process.h), and the paths
 * are cut into fixed blocks of B consecutive paths. Each block is simulated by one thread
 * into its own accumulators; blocks are then combined by a fixed binary tree over the block
 * indices of each group (pairwise merging of aligned power-of-two ranges), and the groups
 * left to right. The tree depends only on (paths, block, groups), never on the number of
 * threads, the chunking, or how block ranges were split between calls: any thread count,
 * and any split into contiguous block ranges merged with sdv_mc_merge, gives the same bits.
 * Memory is O(threads x blocks per chunk + G + log(M/B)) x grid x observables, not O(M).
 *
 * Heavy tails. The flag `unstable` is raised at (t, o) when the largest single value
 * dominates the sum of squares: sqrt(n) max_i v_i^2 / sum_i v_i^2 > tail_c (default 5),
 * n the number of finite values. If E v^4 < inf, max_i v_i^2 = o(sqrt n) almost surely while
 * sum v^2 / n converges, so the flag's probability goes to 0; if E v^4 = inf (in particular
 * if Var v = inf, e.g. Cauchy iterates) the statistic grows without bound. It therefore marks
 * exactly the cases where the sample variance, and so the standard error, cannot be trusted;
 * report the median of means or quantiles there (docs/math/montecarlo.md).
 *
 * Threads. OpenMP across blocks when sdv was built with it. Each thread owns one process
 * (sdv_process_alloc per thread). The library never changes the calling thread's OpenMP
 * settings.
 */
#ifndef SDV_MC_H
#define SDV_MC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sdv/model.h>
#include <sdv/process.h>
#include <sdv/stats.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest number of median-of-means groups. */
#define SDV_MC_GROUPS_MAX 1024

/* Progress callback, called on the calling (master) thread between chunks of blocks with
 * the number of blocks of this call done so far and in total. It must not call back into
 * the running engine. */
typedef void sdv_mc_progress(void *user, size_t blocks_done, size_t blocks_total);

typedef struct sdv_mc_options {
  size_t paths;     /* M >= 1 (default 10000) */
  size_t block;     /* B >= 1 paths per block (default 64); the engine uses
                       min(B, max(1, floor(M/G))) so that every group holds at least one block */
  size_t groups;    /* G, 1..SDV_MC_GROUPS_MAX (default 16); min(G, M) groups are used */
  int threads;      /* 0 = OpenMP's default (OMP_NUM_THREADS), else >= 1 */
  double tail_c;    /* heavy-tail rule constant, > 0 (default 5) */
  size_t max_bytes; /* resource guard: refuse runs needing more memory (default 1 GiB) */
  double max_work;  /* resource guard: refuse runs of more than this many elementary updates,
                       paths x steps x substeps x replicas x dim x agents (default 1e14) */
  /* Optional: checked between blocks; when *cancel != 0 the run stops with SDV_EINTR. */
  volatile sig_atomic_t *cancel;
  sdv_mc_progress *progress; /* optional */
  void *progress_user;
} sdv_mc_options;

/* Fills o with the defaults above. */
void sdv_mc_options_default(sdv_mc_options *o);

/* Number of blocks the paths are cut into (with the block-size reduction above); the valid
 * block ranges for sdv_mc_run_blocks are 0 <= b0 <= b1 <= this. 0 if o is invalid. */
size_t sdv_mc_blocks(const sdv_mc_options *o);

/* The memory sdv_mc_run(..., ntimes, nobs, o) would take beyond the model, in bytes, into
 * *bytes: the figure its max_bytes guard compares. Returns SDV_OK, or SDV_EINVAL for NULL
 * arguments or invalid options (the message naming the field). */
int sdv_mc_memory(const sdv_model *m, size_t ntimes, size_t nobs, const sdv_mc_options *o,
                  double *bytes);

/* A (possibly partial) result. Opaque; read it with sdv_mc_result_get. */
typedef struct sdv_mc_result sdv_mc_result;

/* Runs paths 0..M-1 of the process (m, po) and observes obs[0..nobs) after steps[t]
 * optimizer steps, t = 0..ntimes-1 (steps strictly increasing; steps[0] = 0 observes x0).
 * A COUPLED process (sdv/process.h) gives the result 3 nobs columns: o < nobs the per-path
 * difference g(optimizer) - g(SDE) (its mean and standard error are those of the coupled
 * estimator of the weak error), nobs + o the optimizer's values and 2 nobs + o the SDE's,
 * each column counting its own non-finite values; sdv_mc_memory then needs 3 nobs.
 * The observables are copied (their fn/user/label pointers are borrowed for the call).
 * Returns SDV_OK with *out a complete result (free with sdv_mc_result_free), or
 *   SDV_EINVAL  an invalid argument or option, the message naming it;
 *   SDV_ELIMIT  the resource guard: the message gives the estimate and the option to change;
 *   SDV_EINTR   *o->cancel was set;
 *   SDV_ENOMEM, or the status of a failing model/process call (with its message).
 * *out is NULL on failure. The model is borrowed and only read. */
int sdv_mc_run(sdv_mc_result **out, const sdv_model *m, const sdv_process_options *po,
               const size_t *steps, size_t ntimes, const sdv_observable *obs, size_t nobs,
               const sdv_mc_options *o);

/* As sdv_mc_run, but only for the blocks [b0, b1) (0 <= b0 <= b1 <= sdv_mc_blocks(o)): a
 * partial result to be combined with sdv_mc_merge. A process (e.g. an MPI rank) can run a
 * contiguous range and the ranges can be merged in block order. */
int sdv_mc_run_blocks(sdv_mc_result **out, const sdv_model *m, const sdv_process_options *po,
                      const size_t *steps, size_t ntimes, const sdv_observable *obs, size_t nobs,
                      const sdv_mc_options *o, size_t b0, size_t b1);

/* into <- into (+) part, where part covers the blocks right after into's
 * (part's b0 == into's b1) of the same run configuration (paths, block, groups, steps,
 * observable count). The result is bitwise the one a single call over the union gives.
 * SDV_EINVAL (with the reason) if the ranges are not adjacent or the configurations differ;
 * into is unchanged then. part is only read. Not in the hot path: it may take O(grid x
 * observables x log(blocks)) time. */
int sdv_mc_merge(sdv_mc_result *into, const sdv_mc_result *part);

void sdv_mc_result_free(sdv_mc_result *r); /* NULL is a no-op */

/* The block range [*b0, *b1) a result covers; complete means [0, sdv_mc_blocks). */
void sdv_mc_result_range(const sdv_mc_result *r, size_t *b0, size_t *b1);
bool sdv_mc_result_complete(const sdv_mc_result *r);
size_t sdv_mc_result_times(const sdv_mc_result *r);
size_t sdv_mc_result_observables(const sdv_mc_result *r);
size_t sdv_mc_result_groups(const sdv_mc_result *r); /* groups in use, <= options.groups */

/* Summary of one (time, observable) cell of a complete result. */
typedef struct sdv_mc_summary {
  uint64_t n;         /* finite values averaged */
  uint64_t nonfinite; /* NaN/inf values: counted, excluded from every estimate */
  double mean;        /* sample mean of the finite values (NAN if n = 0) */
  double se;          /* its standard error sqrt(var/n) (NAN if n < 2) */
  double var;         /* unbiased sample variance (NAN if n < 2) */
  double mom;         /* median of the group means (NAN if no group has a value) */
  double maxabs;      /* largest |value| among the finite values (0 if n = 0) */
  double tail_stat;   /* sqrt(n) max v^2 / sum v^2 (0 if n < 2 or all values are 0) */
  bool unstable;      /* tail_stat > tail_c: the mean does not stabilise (heavy tails) */
} sdv_mc_summary;

/* Fills s for time index t < times and observable index o < observables. SDV_EINVAL if the
 * indices are out of range or the result is not complete (merge the missing blocks first). */
int sdv_mc_result_get(const sdv_mc_result *r, size_t t, size_t o, sdv_mc_summary *s);

/* The accumulator of the finite values of (t, o) (NULL if out of range or incomplete), and
 * the group accumulators (G of them, contiguous) for robust estimators; both owned by r. */
const sdv_acc *sdv_mc_result_acc(const sdv_mc_result *r, size_t t, size_t o);
const sdv_acc *sdv_mc_result_group_accs(const sdv_mc_result *r, size_t t, size_t o);

/* Serialisation of a (partial) result, e.g. to send it between MPI ranks: a flat native-
 * endian byte image (same build and architecture on both sides). sdv_mc_result_pack writes
 * sdv_mc_result_packed_size(r) bytes into buf (SDV_EINVAL if len is smaller). unpack builds
 * a new result from such an image (*out owned by the caller; SDV_EINVAL if the image is
 * truncated or not one; observables come back with their kind and index only, which is all
 * sdv_mc_merge compares). Packing and unpacking preserve every bit. */
size_t sdv_mc_result_packed_size(const sdv_mc_result *r);
int sdv_mc_result_pack(const sdv_mc_result *r, void *buf, size_t len);
int sdv_mc_result_unpack(sdv_mc_result **out, const void *buf, size_t len);

/* ---- several processes (e.g. MPI ranks): lib/mc/distribute.c, docs/mpi.md ----
 *
 * The library has no MPI dependency: the program supplies the exchange. With a distributor
 * of size R > 1 set on the calling thread, sdv_mc_run on rank r runs only the contiguous
 * blocks [r nb / R, (r + 1) nb / R) (nb = sdv_mc_blocks), every rank contributes its packed
 * part to one allgather, and every rank merges the parts in rank order, i.e. block order:
 * each rank returns the COMPLETE result, bitwise the one a single process computes, and
 * then continues the same deterministic computation. Every rank must therefore make the
 * same sequence of sdv_mc_run calls (the same program on the same input does).
 *
 * Errors. An error on some ranks (an invalid option, a failing path) travels in the
 * exchange: every rank returns the status and message of the lowest failing rank (for a
 * failing path, the first failing block, as in one process). A rank that leaves early
 * (sdv_mc_distributed_exit before the others) is seen by the others at their next exchange:
 * their sdv_mc_run returns SDV_EINTR and no exchange happens on this thread after that, so
 * no rank waits forever for one that has gone.
 *
 * Threads. The distributor belongs to the thread that set it (OpenMP workers and other
 * threads run undistributed); the exchange is only ever called from that thread. */
typedef struct sdv_mc_distributor {
  size_t rank; /* this process, 0..size-1 */
  size_t size; /* number of processes R >= 1 */
  /* Collective: every rank calls it with its bytes (mine, len). On success returns 0, sets
   * *all to a malloc'd buffer holding the parts of ranks 0..R-1 back to back (freed by the
   * library with free()) and lens[0..R-1] to their lengths. Non-zero on a transport
   * failure (the library then stops distributing on this thread). */
  int (*allgather)(void *user, const void *mine, size_t len, void **all, size_t *lens);
  void *user;
} sdv_mc_distributor;

/* Sets (copies) the calling thread's distributor; NULL or size 1 = single process. Returns
 * SDV_EINVAL if size is 0, rank >= size or allgather is NULL (the setting is unchanged). */
int sdv_mc_set_distributor(const sdv_mc_distributor *d);

/* The last collective of a distributed program: every rank calls it once with its exit
 * code. Returns the agreed code, the same on every rank: the code of the lowest rank that
 * left early if one did (without exchanging again), else the first non-zero code in rank
 * order, else 0. *from (may be NULL) is that rank, or size if all codes are 0. The
 * distributor is cleared. Without a distributor returns code and sets *from = 0. */
int sdv_mc_distributed_exit(int code, size_t *from);

#ifdef __cplusplus
}
#endif
#endif
