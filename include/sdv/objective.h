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
 */
extern const sdv_objective_type *const sdv_objective_quadratic;
extern const sdv_objective_type *const sdv_objective_dense_quadratic;
extern const sdv_objective_type *const sdv_objective_quartic;
extern const sdv_objective_type *const sdv_objective_double_well;
extern const sdv_objective_type *const sdv_objective_logistic;

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

#ifdef __cplusplus
}
#endif
#endif
