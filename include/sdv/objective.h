/* sdv/objective.h — objectives f: R^d -> R with gradient and (optionally) Hessian.
 *
 * An objective is a type table (sdv_objective_type) plus an instance that holds its
 * parameters. Built-in types are registered by name; user types are added with
 * sdv_objective_register() or used directly with sdv_objective_alloc_type(). The quadratic
 * kinds f(x) = 0.5 x^T H x (minimizer 0, f* = 0) are flagged so that exact moment references
 * can use H.
 *
 * Instances are immutable after allocation and may be shared between threads.
 */
#ifndef SDV_OBJECTIVE_H
#define SDV_OBJECTIVE_H

#include <stddef.h>

#include <sdv/params.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sdv_objective_kind {
  SDV_OBJECTIVE_GENERAL = 0,        /* anything smooth */
  SDV_OBJECTIVE_QUADRATIC_DIAG = 1, /* 0.5 sum_j lambda_j x_j^2 */
  SDV_OBJECTIVE_QUADRATIC_DENSE = 2 /* 0.5 x^T H x, H symmetric positive definite */
} sdv_objective_kind;

typedef struct sdv_objective_type {
  const char *name; /* registry key, e.g. "quadratic" */
  const char *help; /* one line: parameters and meaning, for `sdv list` */
  sdv_objective_kind kind;
  /* Bytes of instance state for dimension dim (allocated zeroed by sdv). */
  size_t (*size)(size_t dim);
  /* Reads and validates params (SDV_EINVAL naming the key and value on bad input). */
  int (*init)(void *state, size_t dim, sdv_params *params);
  /* Releases resources the state points to; NULL if it owns none. */
  void (*free)(void *state);
  double (*value)(const void *state, size_t dim, const double *x);
  void (*gradient)(const void *state, size_t dim, const double *x, double *grad);
  /* Dense row-major d x d Hessian at x; NULL if not provided. For quadratic kinds it is H. */
  void (*hessian)(const void *state, size_t dim, const double *x, double *hess);

  /* Optional hooks, added after the fields above so that existing tables (which leave them
   * NULL) stay valid. Like value and gradient they only read the state, never allocate and
   * may run concurrently on one instance; outputs never alias inputs.
   *
   * Finite-sum structure, all three or none (sdv_objective_register checks): objectives
   * built from n data samples have f(x) = (1/n) sum_{s=0}^{n-1} f_s(x), where every f_s
   * carries the whole regulariser, so that (1/n) sum_s grad f_s = grad f exactly (up to
   * rounding) and a minibatch mean of grad f_s is an unbiased estimate of grad f. */
  /* Number of samples n >= 1 (fixed by init). */
  size_t (*samples)(const void *state);
  /* f_s(x) for a sample index 0 <= s < n. */
  double (*sample_value)(const void *state, size_t dim, size_t s, const double *x);
  /* grad f_s(x) into grad[dim], 0 <= s < n. */
  void (*sample_gradient)(const void *state, size_t dim, size_t s, const double *x, double *grad);
  /* Hessian-vector product hv[dim] = Hess f(x) v, in O(cost of a gradient) without forming
   * the d x d matrix; NULL if not provided. */
  void (*hvp)(const void *state, size_t dim, const double *x, const double *v, double *hv);
  /* Writes a documented starting point x0[dim] (e.g. the seeded random weights of a network,
   * which from x = 0 would train nothing but its output biases); NULL if the type suggests
   * none. */
  void (*initial_point)(const void *state, size_t dim, double *x0);
  /* The label of sample s (a class index 0, 1, ... for classifiers, the real target for
   * regression), which label-skewed and Dirichlet shards split the data by; NULL if the
   * samples have no labels. */
  double (*sample_label)(const void *state, size_t s);
  /* Affine per-sample gradients (NULL if the type has none): writes a[dim], *y and *mu such
   * that grad f_s(x) = a (a.x - y) + mu x for every x, in exact agreement with
   * sample_gradient (so f_s = (a.x - y)^2/2 + mu ||x||^2/2 up to a constant). Requires the
   * finite-sum hooks. With minibatch noise the first and second moments of DSGD and DCSGD
   * (linear compressors) then close, and sdv_exact_eval computes them exactly
   * (docs/math/exact.md, "Least squares with minibatch noise"); least-squares provides it. */
  void (*sample_affine)(const void *state, size_t dim, size_t s, double *a, double *y, double *mu);
  /* Weighted sum of the per-sample gradients, out[dim] = sum_{s=0}^{n-1} w[s] grad f_s(x), for
   * weights w[n] of any sign (n = samples()), in about the cost of one full gradient: the
   * samples are processed in blocks, so that no d-vector is written per sample. The result is
   * sum_s w_s grad f_s up to rounding (a different summation order than the per-sample loop).
   * NULL: sdv_objective_sample_gradient_sum loops over sample_gradient. Needs the finite-sum
   * hooks above. */
  void (*sample_gradient_sum)(const void *state, size_t dim, const double *x, const double *w,
                              double *out);
} sdv_objective_type;

typedef struct sdv_objective {
  const sdv_objective_type *type;
  size_t dim;
  void *state;
} sdv_objective;

/* Built-in types.
 *  quadratic:lam=LIST        diagonal H = diag(lam), lam_j > 0; LIST may be a range A..B
 *  dense-quadratic:lam=LIST:seed=S   H = Q diag(lam) Q^T with Q a seeded random rotation
 *  double-well:a=A           f = sum_j (x_j^2 - a^2)^2 / 4, a > 0; minima at x_j = +-a
 *  quartic:lam=LIST          f = sum_j (x_j^4/4 + lam_j x_j^2/2)
 *  logistic:data=FILE:l2=MU:bias=B   L2-regularised logistic loss on a CSV data set
 *  least-squares:data=FILE:l2=MU:bias=B   L2-regularised linear regression on the CSV's last
 *                            column as a real target
 *  softmax:data=FILE:l2=MU   multinomial logistic regression, d = C (p + 1)
 *  mlp:data=FILE:hidden=H:l2=MU:seed=S   one tanh hidden layer of width H, softmax output,
 *                            d = H (p + 1) + C (H + 1); initial point seeded (Glorot)
 * The four data-driven types (docs/math/objectives.md, data/README.md) provide the per-sample
 * hooks and the Hessian-vector product; mlp also provides an initial point.
 */
extern const sdv_objective_type *const sdv_objective_quadratic;
extern const sdv_objective_type *const sdv_objective_dense_quadratic;
extern const sdv_objective_type *const sdv_objective_quartic;
extern const sdv_objective_type *const sdv_objective_double_well;
extern const sdv_objective_type *const sdv_objective_logistic;
extern const sdv_objective_type *const sdv_objective_least_squares;
extern const sdv_objective_type *const sdv_objective_softmax;
extern const sdv_objective_type *const sdv_objective_mlp;

/* Finds a registered type by name (built-ins first), NULL if unknown. */
const sdv_objective_type *sdv_objective_type_from_name(const char *name);

/* Adds a user type. SDV_EINVAL if the name is taken or a required function is missing,
 * SDV_ELIMIT if the registry is full. Call before starting threads. */
int sdv_objective_register(const sdv_objective_type *type);

/* Fills list with up to max registered types; returns how many exist. */
size_t sdv_objective_types(const sdv_objective_type **list, size_t max);

/* Allocates an instance from a spec "NAME[:KEY=VALUE...]" for dimension dim >= 1.
 * On failure *out is NULL and the status (SDV_EINVAL with a message, SDV_ENOMEM) returned. */
int sdv_objective_alloc(sdv_objective **out, const char *spec, size_t dim);

/* Same, for a type given directly; params is the spec text after the name ("k=3"), or NULL. */
int sdv_objective_alloc_type(sdv_objective **out, const sdv_objective_type *type, size_t dim,
                             const char *params);

/* The diagonal quadratic f = 0.5 sum_j lam_j x_j^2 from numbers: the same objective as the spec
 * "quadratic:lam=l_0,...,l_{d-1}" (the same type, the same state bit for bit), without text.
 * lam[dim] is read and copied (the caller keeps it). SDV_EINVAL naming the field for dim 0, a
 * NULL out or lam, or lam[j] <= 0, NaN or infinite ("quadratic: lam[2] = -1 must be > 0 and
 * finite"); SDV_ELIMIT or SDV_ENOMEM as sdv_objective_alloc. *out is NULL on failure; free it
 * with sdv_objective_free. */
int sdv_objective_alloc_quadratic(sdv_objective **out, size_t dim, const double *lam);

/* A user objective from plain callbacks (hess may be NULL). user is passed back as the
 * first argument and is borrowed. */
typedef double sdv_objective_value_fn(void *user, size_t dim, const double *x);
typedef void sdv_objective_vector_fn(void *user, size_t dim, const double *x, double *out);
int sdv_objective_alloc_callback(sdv_objective **out, size_t dim, sdv_objective_value_fn *value,
                                 sdv_objective_vector_fn *gradient,
                                 sdv_objective_vector_fn *hessian, void *user);

void sdv_objective_free(sdv_objective *obj); /* NULL is a no-op */

static inline double sdv_objective_value(const sdv_objective *o, const double *x) {
  return o->type->value(o->state, o->dim, x);
}
static inline void sdv_objective_gradient(const sdv_objective *o, const double *x, double *g) {
  o->type->gradient(o->state, o->dim, x, g);
}
/* SDV_ENOTSUP (with a message) if the type has no Hessian. */
int sdv_objective_hessian(const sdv_objective *o, const double *x, double *hess);

/* The optional hooks of sdv_objective_type. Each returns SDV_ENOTSUP with a message naming
 * the type when the type lacks the hook, SDV_EINVAL for a sample index s >= n (naming s and
 * n), else SDV_OK. They read o only (safe on several threads at once) and never allocate;
 * the caller owns every output array (dim doubles, not aliasing x or v). */

/* *n = the number of samples of a finite-sum objective (0 with SDV_ENOTSUP). */
int sdv_objective_samples(const sdv_objective *o, size_t *n);
/* *f = f_s(x), the value of sample s (f = mean over s of f_s, regulariser included). */
int sdv_objective_sample_value(const sdv_objective *o, size_t s, const double *x, double *f);
/* grad = grad f_s(x). */
int sdv_objective_sample_gradient(const sdv_objective *o, size_t s, const double *x, double *grad);
/* hv = Hess f(x) v. */
int sdv_objective_hvp(const sdv_objective *o, const double *x, const double *v, double *hv);
/* x0 = the type's suggested starting point (mlp: seeded Glorot-uniform weights). */
int sdv_objective_initial_point(const sdv_objective *o, double *x0);
/* *label = the label of sample s (class index, or the regression target). */
int sdv_objective_sample_label(const sdv_objective *o, size_t s, double *label);
/* out = sum_{s=0}^{n-1} w[s] grad f_s(x) for weights w[n] (n from sdv_objective_samples):
 * through the type's sample_gradient_sum hook, or else by a loop over sample_gradient that
 * uses scratch[dim] (scratch may be NULL when the type has the hook; it must not alias out).
 * SDV_ENOTSUP without the finite-sum hooks, SDV_EINVAL for a NULL scratch that is needed. */
int sdv_objective_sample_gradient_sum(const sdv_objective *o, const double *x, const double *w,
                                      double *out, double *scratch);

#ifdef __cplusplus
}
#endif
#endif
