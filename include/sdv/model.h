/* sdv/model.h — the pairing object: one discrete optimizer and its SDE, in one model.
 *
 * A model holds the objective f, N agents each with a noise law and scale sigma_i (and, for
 * DCSGD, a compressor), the batch size B, the learning rate eta, the start x0 and a method.
 * The method type (one file per method in lib/optimizer/) provides BOTH
 *   step()       the discrete update x_{k+1} = x_k - eta * U(x_k; noise, compressor), and
 *   drift() + diffusion()   the SDE dX = b(X) dt + sqrt(eta) S(X) dW, S S^T = Sigma(X),
 * derived from the one-step mean and covariance of U (Li, Tai & E). docs/math/ (model.md and one
 * page per method) has the formulas for each method and their assumptions.
 *
 * Randomness: step() draws gradient noise from one stream and compressor randomness from
 * another; nothing else draws. Scratch lives in an sdv_work (one per thread).
 */
#ifndef SDV_MODEL_H
#define SDV_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sdv/compressor.h>
#include <sdv/diffusion.h>
#include <sdv/noise.h>
#include <sdv/objective.h>
#include <sdv/rng.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdv_model sdv_model;
typedef struct sdv_work sdv_work; /* per-thread scratch for one model (opaque) */

/* Which diffusion the SDE side uses. */
typedef enum sdv_sde_route {
  SDV_SDE_AUTO = 0,   /* closed-form structured Sigma where the components allow it */
  SDV_SDE_SAMPLED = 1 /* the generic route, even where a closed form exists (for testing);
                         SDV_ENOTSUP at sdv_model_alloc for methods without increment() */
} sdv_sde_route;

/* What a method declares about its update law, so that lib/exact (sdv/exact.h) knows which of
 * its closed-form routes applies; a user's method may declare a family too, and then gets
 * that family's exact references (tests check them against the method's own step()). */
typedef enum sdv_method_family {
  SDV_METHOD_FAMILY_NONE = 0, /* no exact reference (the default) */
  /* x -= eta (1/N) sum_i C_i(grad f(x) + Z_i) with the agents' unbiased compressors C_i (none:
   * the identity): on quadratics with linear compressors the first and second moments of
   * both sides close (DSGD, DCSGD). */
  SDV_METHOD_FAMILY_LINEAR,
  /* x -= eta (1/N) sum_i sign(grad f(x) + Z_i), sign(0) = 0: on a diagonal quadratic every
   * coordinate moves on a lattice with a Poisson-binomial step law (DSignSGD). */
  SDV_METHOD_FAMILY_SIGN,
} sdv_method_family;

typedef struct sdv_method_type {
  const char *name; /* "dsgd", "dcsgd", "dsignsgd" */
  const char *help; /* one line for `sdv list` */
  bool uses_compressor;
  /* Method-specific validation of a built model (SDV_EINVAL/ENOTSUP with a message); may be
   * NULL. */
  int (*validate)(const sdv_model *m);
  /* One discrete step, in place. */
  int (*step)(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise, sdv_stream *comp);
  /* SDE drift b(x). */
  void (*drift)(const sdv_model *m, sdv_work *w, const double *x, double *b);
  /* SDE one-step covariance Sigma(x) (without the eta factor), structured, into D. */
  int (*diffusion)(const sdv_model *m, sdv_work *w, const double *x, sdv_diffusion *D);
  /* Generic route (may be NULL): a random vector with mean 0, covariance Sigma(x) and a
   * symmetric law, drawn from s. Used when diffusion() reports SDV_DIFFUSION_SAMPLED. */
  int (*increment)(const sdv_model *m, sdv_work *w, const double *x, sdv_stream *s, double *out);
  /* Optional fast path (may be NULL): one whole Euler-Maruyama step
   *     x += h b(x) + c S(x) xi,   c = sqrt(eta h),
   * on a structured route, with exactly the bits of drift(), diffusion(), sdv_diffusion_apply
   * and that update in turn (scratch holds 2 d doubles). Sets *done = false and leaves x
   * alone where it does not apply; the integrator then takes those four steps itself. Never
   * used when model->literal. */
  int (*em_step)(const sdv_model *m, sdv_work *w, double h, double c, double *x, const double *xi,
                 double *scratch, bool *done);
  /* Optional (may be NULL): step() with common random numbers for the SDE
   * (docs/math/coupling.md). Makes exactly step()'s update, with the same draws from noise
   * and comp (so the optimizer's path is the uncoupled one, bit for bit), and writes xi: d
   * standard normals that are N(0, I) exactly given the past and independent of it, chosen
   * to move with the step's fluctuation, so that eta S(x) xi is close to
   * x_{k+1} - E[x_{k+1} | x_k]. Any extra randomness comes from aux only. Without it the
   * model has no coupling (SDV_ENOTSUP from sdv_model_step_coupled). */
  int (*step_coupled)(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                      sdv_stream *comp, sdv_stream *aux, double *xi);
  /* Optional (may be NULL): bytes of private scratch the method needs per sdv_work for model
   * m (e.g. a few d-vectors). sdv_work_alloc allocates it zeroed, aligned for any type, and
   * sdv_work_scratch returns it to the method's functions; 0 or NULL means none. This is how
   * a method outside the library (a plugin) gets scratch without knowing sdv_work. */
  size_t (*scratch)(const sdv_model *m);
  /* The update law's family, for the exact references (default NONE). */
  sdv_method_family family;
  /* Optional (both or neither), for an exact discrete reference on a lattice
   * (lib/exact/lattice.c): for a method whose coordinates move independently on a diagonal
   * quadratic f = sum_j lam_j x_j^2 / 2, each by x_j -= h s with s an integer in [-K, K]
   * whose law, given the coordinate's gradient g = lam_j x_j, depends on g and the model
   * only. lattice() reports h > 0, K >= 1 and the doubles of scratch lattice_law needs for
   * model m, or returns SDV_ENOTSUP with a message when m has no such law (e.g. a noise law
   * not known in closed form); lattice_law() fills law[k] = P(s = k - K | g), k = 0..2K.
   * DSignSGD has them (h = eta/N, K = N), and so can a plugin (examples/majority-vote). */
  int (*lattice)(const sdv_model *m, double *h, size_t *K, size_t *scratch);
  void (*lattice_law)(const sdv_model *m, double g, double *law, double *scratch);
} sdv_method_type;

extern const sdv_method_type *const sdv_method_dsgd;
extern const sdv_method_type *const sdv_method_dcsgd;
extern const sdv_method_type *const sdv_method_dsignsgd;

const sdv_method_type *sdv_method_type_from_name(const char *name);
size_t sdv_method_types(const sdv_method_type **list, size_t max);
/* Adds a user method (e.g. from a plugin, sdv/plugin.h): usable by name everywhere
 * (sdv_model_options.method, `sdv weak --method NAME`). SDV_EINVAL for NULL, a missing name,
 * step, drift or diffusion, or a taken name; SDV_ELIMIT when full. The table is borrowed for
 * good. Not thread-safe: register before starting threads. */
int sdv_method_register(const sdv_method_type *type);

/* The model's fields are public for reading; build and change models only through the
 * functions below. Per-agent arrays have `agents` entries. */
struct sdv_model {
  const sdv_method_type *method;
  size_t dim;    /* d >= 1 */
  size_t agents; /* N >= 1 */
  size_t batch;  /* B >= 1 */
  double eta;    /* > 0 */
  uint64_t seed;
  sdv_objective *objective;    /* owned */
  sdv_noise **noise;           /* [N] per-agent law (owned) */
  double *sigma;               /* [N] per-sample scale sigma_i >= 0 */
  double *var;                 /* [N] per-coordinate variance of the minibatch noise,
                                  sigma_i^2 Var(T) / B; INFINITY when infinite */
  double *scale;               /* [N] scale of the minibatch noise as sigma_i c_B when the
                                  law is stable under averaging, else NAN */
  sdv_compressor **compressor; /* [N] (owned); NULL when !method->uses_compressor */
  double *omega;               /* [N] declared omega_i (0 without compressor) */
  double *x0;                  /* [d] */
  sdv_sde_route sde_route;
  double diffusion_scale; /* multiplies S; 1 for the model, 0 = drift ODE, other
                             values are deliberately wrong models (negative controls) */
  char *description;      /* canonical one-line spec (owned) */
  bool literal;           /* simulate every agent in step() (no exact shortcuts)
                             and take no fused SDE step (method em_step) */
  /* Minibatch noise (noise "minibatch" or "minibatch+LAW", docs/math/minibatch.md): agent i's
   * stochastic gradient is the mean of B per-sample gradients grad f_s(x) drawn with
   * replacement from its shard, plus, with "+LAW", the minibatch mean of B draws sigma_i T
   * (noise[i], sigma[i], var[i], scale[i] then describe that added noise; plain "minibatch"
   * has sigma[i] = 0). false: the synthetic noise above, and the shard fields are empty. */
  bool minibatch;
  size_t samples;      /* n, the objective's number of samples (0 without minibatch) */
  size_t *shard_start; /* [N + 1]: agent i owns shard_index[shard_start[i] .. shard_start[i+1]) */
  size_t *shard_index; /* [n]: the sample indices, a permutation of 0..n-1 (owned) */
  bool objective_borrowed; /* built by sdv_model_alloc_spec: objective is the caller's */
};

/* Options, as text, exactly as the command line gives them (borrowed strings). */
typedef struct sdv_model_options {
  const char *method;     /* default "dsgd" */
  size_t dim;             /* default 1 */
  size_t agents;          /* default 1 */
  size_t batch;           /* default 1 */
  double eta;             /* default 0.1 */
  const char *objective;  /* default "quadratic:lam=1" */
  const char *noise;      /* default "gaussian"; 1 or N specs separated by ';'; "minibatch"
                             or "minibatch+LAW" (all agents or none) samples the data */
  const char *sigma;      /* default "1"; 1 or N comma-separated values */
  const char *compressor; /* default "identity"; 1 or N specs separated by ';' */
  const char *x0;         /* default "1"; 1 or d comma-separated values */
  uint64_t seed;          /* default 1 */
  sdv_sde_route sde_route;
  double diffusion_scale; /* default 1 */
  /* default false: step() may use exact-in-distribution shortcuts where the agents allow
   * them (docs/performance.md): rand-k draws noise only for the kept coordinates, equal-law
   * DSignSGD agents' sign sum is 2 Binomial(N, p_j) - N, Gaussian DSGD agents' mean noise is
   * one Gaussian. true simulates every agent literally (same law, other draws). */
  bool literal;
  /* default "iid": how the data samples are split among the agents under minibatch noise,
   * "iid | label-skew | dirichlet:alpha=A", each with an optional ":seed=S" (default 1)
   * (docs/math/minibatch.md). Anything but iid without minibatch noise is SDV_EINVAL. */
  const char *shards;
} sdv_model_options;

void sdv_model_options_default(sdv_model_options *o);

/* ---- The typed model API: a model from numbers, arrays and component handles ----
 *
 * What sdv_model_options says in text, said with values: a method type, sizes, arrays, and
 * component objects (an objective, including sdv_objective_alloc_callback's; noise laws;
 * compressors). Lists of one apply to every agent (every coordinate for x0); a count of 0
 * takes the default. Nothing is formatted to text and parsed back.
 *   objective   BORROWED: the model reads it and never frees it; it must outlive every model
 *               built from the spec (a weak study builds one per rung).
 *   noise,      COPIED (sdv_noise_clone, sdv_compressor_clone): the caller keeps and frees its
 *   compressor  own handles.
 * Errors name the field ("eta = -1 must be > 0 and finite", "sigma has 3 values; expected 1
 * or 2 (agents)"). Minibatch noise (drawn from the data) is text-only for now. */
typedef struct sdv_model_spec {
  const sdv_method_type *method; /* NULL: dsgd */
  size_t dim;                    /* d >= 1, the objective's dimension (required) */
  size_t agents;                 /* N >= 1 (default 1) */
  size_t batch;                  /* B >= 1 (default 1) */
  double eta;                    /* > 0 (default 0.1) */
  uint64_t seed;                 /* default 1 */
  const sdv_objective *objective; /* required; borrowed */
  const sdv_noise *const *noise;  /* [nnoise]: 0 (gaussian), 1 or N laws; copied */
  size_t nnoise;
  const double *sigma; /* [nsigma]: 0 (1 for every agent), 1 or N values >= 0 */
  size_t nsigma;
  const sdv_compressor *const *compressor; /* [ncompressor]: 0 (identity), 1 or N, of dimension
                                              d; copied; only for methods that compress */
  size_t ncompressor;
  const double *x0; /* [nx0]: 0 (1 in every coordinate), 1 or d values, finite */
  size_t nx0;
  sdv_sde_route sde_route; /* default AUTO */
  double diffusion_scale;  /* >= 0 (default 1) */
  bool literal;            /* default false (sdv_model_options.literal) */
  /* Minibatch noise (docs/math/minibatch.md): every agent's stochastic gradient is the mean
   * of B per-sample gradients drawn from its shard of the objective's data (the objective
   * must have samples); noise and sigma then describe noise ADDED to it (sigma_i = 0: none,
   * which is what the text spec "minibatch" means; "minibatch+LAW" is LAW with sigma_i). */
  bool minibatch;     /* default false */
  const char *shards; /* with minibatch: "iid" (NULL), "label-skew" or
                         "dirichlet:alpha=A[:seed=S]"; anything else without minibatch */
} sdv_model_spec;

/* Fills s with the defaults above (objective NULL: it must be set). */
void sdv_model_spec_default(sdv_model_spec *s);

/* Builds and validates a model from a spec, as sdv_model_alloc does from text (the same
 * checks, the same validated model: the same numbers for the same components and seed).
 * *out is NULL on failure. The description names components by type (and compressors by
 * their spec). */
int sdv_model_alloc_spec(sdv_model **out, const sdv_model_spec *s);

/* Sets one option from its command-line name without dashes ("method", "dim", "agents",
 * "eta", "batch", "objective", "noise", "sigma", "compressor", "x0", "seed", "sde",
 * "diffusion-scale", "literal" with yes|no|1|0, "shards"). value is borrowed. SDV_EINVAL naming the
 * option for unknown names and unparsable numbers. */
int sdv_model_options_set(sdv_model_options *o, const char *name, const char *value);

/* Builds and validates a model. Every field is checked: SDV_EINVAL with a message naming
 * the field and value (eta <= 0, N = 0, sigma < 0, a list of the wrong length, NaN/inf,
 * unknown component names, bad component parameters, ...). *out is NULL on failure. */
int sdv_model_alloc(sdv_model **out, const sdv_model_options *o);
void sdv_model_free(sdv_model *m); /* NULL is a no-op */

/* Per-thread scratch. */
int sdv_work_alloc(sdv_work **out, const sdv_model *m);
void sdv_work_free(sdv_work *w); /* NULL is a no-op */
/* The method's private scratch in w (sdv_method_type.scratch bytes), NULL if it has none. */
void *sdv_work_scratch(sdv_work *w);

/* Thin wrappers over the method table. */
int sdv_model_step(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise, sdv_stream *comp);
void sdv_model_drift(const sdv_model *m, sdv_work *w, const double *x, double *b);
/* Computes Sigma(x) into the work's diffusion and returns it through *D (owned by w).
 * The result includes diffusion_scale^2 (S is scaled by diffusion_scale everywhere).
 * SDV_ENOTSUP when the model has no SDE (DSGD/DCSGD with infinite noise variance). */
int sdv_model_diffusion(const sdv_model *m, sdv_work *w, const double *x, sdv_diffusion **D);
/* out = diffusion_scale * S(x) xi. SDV_ENOTSUP if the model uses the sampled route. */
int sdv_model_diffusion_apply(const sdv_model *m, sdv_work *w, const double *x, const double *xi,
                              double *out);
/* out = diffusion_scale * (a zero-mean draw with covariance Sigma(x)): S(x) xi with fresh
 * normals from s on structured routes, the method's increment() on the sampled route. */
int sdv_model_noise_increment(const sdv_model *m, sdv_work *w, const double *x, sdv_stream *s,
                              double *out);

/* Draws agent i's minibatch gradient noise Z_i (d values) from s: one draw per coordinate
 * scaled by scale[i] when the law is stable under averaging, else the mean of B draws
 * (B draws for coordinate 0, then B for coordinate 1, ...). sigma_i = 0 gives exact zeros
 * and still consumes its d draws. */
void sdv_model_draw_noise(const sdv_model *m, size_t agent, sdv_stream *s, double *z);
/* As sdv_model_draw_noise (the same z, the same stream use), and zn: d standard normals
 * coupled with the draws (sdv_noise_sample_coupled; the mean of B draws gets the normalised
 * sum of their normals, sum_b n_b / sqrt(B)), N(0, I) exactly. */
void sdv_model_draw_noise_coupled(const sdv_model *m, size_t agent, sdv_stream *s, double *z,
                                  double *zn);
/* One discrete step with the coupled normals xi (sdv_method_type.step_coupled). SDV_ENOTSUP
 * when the method has no coupled step. */
int sdv_model_step_coupled(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                           sdv_stream *comp, sdv_stream *aux, double *xi);

/* Minibatch models only: agent i's stochastic gradient g (d values) at x, drawn from s:
 * B sample indices uniform on the agent's shard (with replacement), then, when the agent has
 * an added law (sigma[i] > 0), its noise by sdv_model_draw_noise; g = the mean of the B
 * per-sample gradients + that noise. Uses w's scratch (x and g must not be w's vectors).
 * SDV_EINVAL for a model without minibatch noise or agent >= N. */
int sdv_model_minibatch_gradient(const sdv_model *m, sdv_work *w, size_t agent, const double *x,
                                 sdv_stream *s, double *g);

/* ---- Observables g(x) whose expectations the harness compares ---- */

typedef enum sdv_observable_kind {
  SDV_OBS_F = 0,     /* f(x) */
  SDV_OBS_NORM2 = 1, /* ||x||^2 */
  SDV_OBS_GRAD2 = 2, /* ||grad f(x)||^2 */
  SDV_OBS_X = 3,     /* x_j */
  SDV_OBS_X2 = 4,    /* x_j^2 */
  SDV_OBS_USER = 5   /* fn(user, d, x) */
} sdv_observable_kind;

typedef struct sdv_observable {
  sdv_observable_kind kind;
  size_t index; /* j for X and X2 (0-based) */
  double (*fn)(void *user, size_t dim, const double *x);
  void *user;
  const char *label; /* for USER */
} sdv_observable;

/* Parses "f", "norm2", "grad2", "x:J", "x2:J" (J 1-based on the command line, 1 <= J <= d). */
int sdv_observable_parse(sdv_observable *o, const char *text, size_t dim);
/* Writes the canonical text ("x2:3") into buf. */
const char *sdv_observable_name(const sdv_observable *o, char *buf, size_t len);
double sdv_observable_eval(const sdv_observable *o, const sdv_model *m, sdv_work *w,
                           const double *x);

#ifdef __cplusplus
}
#endif
#endif
