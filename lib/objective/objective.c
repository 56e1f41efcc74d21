/* Objective registry, allocation from specs, user callbacks (see sdv/objective.h). */
#include <sdv/errors.h>
#include <sdv/objective.h>

#include "core/registry.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void builtins(const void **list) {
  list[0] = sdv_objective_quadratic;
  list[1] = sdv_objective_dense_quadratic;
  list[2] = sdv_objective_quartic;
  list[3] = sdv_objective_double_well;
  list[4] = sdv_objective_logistic;
  list[5] = sdv_objective_least_squares;
  list[6] = sdv_objective_softmax;
  list[7] = sdv_objective_mlp;
  list[8] = NULL;
}

/* Built-in and user-registered types (lib/core/registry.h). */
static sdv_registry registry = {.what = "objective", .builtins = builtins};

const sdv_objective_type *sdv_objective_type_from_name(const char *name) {
  return sdv_registry_find(&registry, name);
}

size_t sdv_objective_types(const sdv_objective_type **list, size_t max) {
  const void *all[SDV_REGISTRY_BUILTIN_MAX + SDV_REGISTRY_USER_MAX];
  const size_t n = sdv_registry_list(&registry, all, sizeof all / sizeof all[0]);
  for (size_t i = 0; i < n && i < max; i++) list[i] = all[i];
  return n;
}

/* The hooks every instance relies on; help, free and hessian are optional. */
static int check_type(const sdv_objective_type *t) {
  if (!t) return SDV_ERROR(SDV_EINVAL, "objective type: type = NULL");
  if (!t->name || !*t->name) return SDV_ERROR(SDV_EINVAL, "objective type: missing name");
  const char *missing = !t->size       ? "size"
                        : !t->init     ? "init"
                        : !t->value    ? "value"
                        : !t->gradient ? "gradient"
                                       : NULL;
  if (missing)
    return SDV_ERROR(SDV_EINVAL, "objective type '%s': required function '%s' is NULL", t->name,
                     missing);
  const int sum_hooks = !!t->samples + !!t->sample_value + !!t->sample_gradient;
  if (sum_hooks != 0 && sum_hooks != 3)
    return SDV_ERROR(SDV_EINVAL,
                     "objective type '%s': samples, sample_value and sample_gradient must be "
                     "given together (%d of 3 are set)",
                     t->name, sum_hooks);
  if (t->sample_gradient_sum && !t->samples)
    return SDV_ERROR(SDV_EINVAL,
                     "objective type '%s': sample_gradient_sum needs the finite-sum hooks "
                     "(samples, sample_value, sample_gradient)",
                     t->name);
  return SDV_OK;
}

int sdv_objective_register(const sdv_objective_type *type) {
  int rc = check_type(type);
  if (rc) return rc;
  return sdv_registry_add(&registry, type); /* documented as not thread-safe */
}

/* Allocates obj and its zeroed state, runs init with p and rejects unread keys. */
static int alloc_with_params(sdv_objective **out, const sdv_objective_type *type, size_t dim,
                             sdv_params *p) {
  *out = NULL;
  if (dim < 1)
    return SDV_ERROR(SDV_EINVAL, "objective %s: dim = %zu must be >= 1", type->name, dim);
  int rc = SDV_OK;
  sdv_objective *obj = calloc(1, sizeof *obj);
  if (!obj) goto nomem;
  obj->type = type;
  obj->dim = dim;
  const size_t size = type->size(dim);
  /* size() reports an overflowing state as SIZE_MAX: refuse it here rather than ask the
   * allocator for it (sanitizers treat such a request as an error). */
  if (size == SIZE_MAX) {
    rc = SDV_ERROR(SDV_ELIMIT,
                   "objective %s: dim = %zu is too large (its state does not fit in memory)",
                   type->name, dim);
    goto fail;
  }
  /* Resource policy: a state beyond 4 GB (e.g. a dense d x d Hessian with d = 30000) is
   * refused up front with the estimate, not attempted. */
  if ((double)size > 4e9) {
    rc = SDV_ERROR(SDV_ELIMIT,
                   "objective %s: dim = %zu needs %.3g GB of state; sdv refuses more than 4 GB: "
                   "lower --dim",
                   type->name, dim, (double)size / 1e9);
    goto fail;
  }
  /* calloc(1, 0) may legally return NULL; a stateless type still gets a valid pointer. */
  obj->state = calloc(1, size ? size : 1);
  if (!obj->state) goto nomem;
  if ((rc = type->init(obj->state, dim, p))) goto fail;
  if ((rc = sdv_params_check_unused(p))) goto fail;
  *out = obj;
  return SDV_OK;
nomem:
  rc = SDV_ERROR(SDV_ENOMEM, "objective %s: out of memory", type->name);
fail:
  sdv_objective_free(obj);
  return rc;
}

int sdv_objective_alloc(sdv_objective **out, const char *spec, size_t dim) {
  *out = NULL;
  sdv_params p;
  int rc = sdv_params_parse(&p, spec);
  if (rc) goto done;
  const sdv_objective_type *type = sdv_objective_type_from_name(p.name);
  if (!type) {
    char names[512];
    rc = SDV_ERROR(SDV_EINVAL, "unknown objective '%s'; known: %s", p.name,
                   sdv_registry_names(&registry, names, sizeof names));
    goto done;
  }
  rc = alloc_with_params(out, type, dim, &p);
done:
  sdv_params_clear(&p);
  return rc;
}

int sdv_objective_alloc_type(sdv_objective **out, const sdv_objective_type *type, size_t dim,
                             const char *params) {
  *out = NULL;
  int rc = check_type(type);
  if (rc) return rc;
  /* Reuse the spec parser (and its messages) by putting the type's name in front. */
  const size_t len = strlen(type->name) + 1 + (params ? strlen(params) : 0) + 1;
  char *spec = malloc(len);
  if (!spec) return SDV_ERROR(SDV_ENOMEM, "objective %s: out of memory", type->name);
  if (params && *params)
    snprintf(spec, len, "%s:%s", type->name, params);
  else
    snprintf(spec, len, "%s", type->name);
  sdv_params p;
  rc = sdv_params_parse(&p, spec);
  if (!rc) rc = alloc_with_params(out, type, dim, &p);
  sdv_params_clear(&p);
  free(spec);
  return rc;
}

/* Callback objectives: a private type whose state holds the user's function pointers. */
typedef struct callback_state {
  sdv_objective_value_fn *value;
  sdv_objective_vector_fn *gradient;
  sdv_objective_vector_fn *hessian;
  void *user;
} callback_state;

static size_t callback_size(size_t dim) {
  (void)dim;
  return sizeof(callback_state);
}

/* The state is filled by sdv_objective_alloc_callback, not from a spec. */
static int callback_init(void *state, size_t dim, sdv_params *params) {
  (void)state;
  (void)dim;
  (void)params;
  return SDV_OK;
}

static double callback_value(const void *state, size_t dim, const double *x) {
  const callback_state *s = state;
  return s->value(s->user, dim, x);
}

static void callback_gradient(const void *state, size_t dim, const double *x, double *g) {
  const callback_state *s = state;
  s->gradient(s->user, dim, x, g);
}

static void callback_hessian(const void *state, size_t dim, const double *x, double *h) {
  const callback_state *s = state;
  s->hessian(s->user, dim, x, h);
}

/* Two tables so that "has a Hessian" stays a property of the type, as for built-ins. */
static const sdv_objective_type callback_type = {
    .name = "callback",
    .help = "user callbacks (value, gradient)",
    .kind = SDV_OBJECTIVE_GENERAL,
    .size = callback_size,
    .init = callback_init,
    .value = callback_value,
    .gradient = callback_gradient,
};

static const sdv_objective_type callback_hess_type = {
    .name = "callback",
    .help = "user callbacks (value, gradient, Hessian)",
    .kind = SDV_OBJECTIVE_GENERAL,
    .size = callback_size,
    .init = callback_init,
    .value = callback_value,
    .gradient = callback_gradient,
    .hessian = callback_hessian,
};

int sdv_objective_alloc_callback(sdv_objective **out, size_t dim, sdv_objective_value_fn *value,
                                 sdv_objective_vector_fn *gradient,
                                 sdv_objective_vector_fn *hessian, void *user) {
  *out = NULL;
  if (!value) return SDV_ERROR(SDV_EINVAL, "objective callback: value = NULL is required");
  if (!gradient) return SDV_ERROR(SDV_EINVAL, "objective callback: gradient = NULL is required");
  int rc = sdv_objective_alloc_type(out, hessian ? &callback_hess_type : &callback_type, dim, NULL);
  if (rc) return rc;
  callback_state *s = (*out)->state;
  s->value = value;
  s->gradient = gradient;
  s->hessian = hessian;
  s->user = user;
  return SDV_OK;
}

void sdv_objective_free(sdv_objective *obj) {
  if (!obj) return;
  if (obj->state && obj->type->free) obj->type->free(obj->state);
  free(obj->state);
  free(obj);
}

int sdv_objective_hessian(const sdv_objective *o, const double *x, double *hess) {
  if (!o->type->hessian)
    return SDV_ERROR(SDV_ENOTSUP, "objective %s: no Hessian provided", o->type->name);
  o->type->hessian(o->state, o->dim, x, hess);
  return SDV_OK;
}

/* The optional hooks (sdv/objective.h): ENOTSUP names the type and the missing hook. */
static int need(const sdv_objective *o, bool has, const char *what) {
  if (has) return SDV_OK;
  return SDV_ERROR(SDV_ENOTSUP, "objective %s: no %s provided", o->type->name, what);
}

static int check_sample(const sdv_objective *o, size_t s) {
  int rc = need(o, o->type->samples != NULL, "per-sample structure (samples)");
  if (rc) return rc;
  const size_t n = o->type->samples(o->state);
  if (s >= n)
    return SDV_ERROR(SDV_EINVAL, "objective %s: sample s = %zu must be < n = %zu", o->type->name, s,
                     n);
  return SDV_OK;
}

int sdv_objective_samples(const sdv_objective *o, size_t *n) {
  const int rc = need(o, o->type->samples != NULL, "per-sample structure (samples)");
  *n = rc ? 0 : o->type->samples(o->state);
  return rc;
}

int sdv_objective_sample_value(const sdv_objective *o, size_t s, const double *x, double *f) {
  const int rc = check_sample(o, s);
  if (rc) return rc;
  *f = o->type->sample_value(o->state, o->dim, s, x);
  return SDV_OK;
}

int sdv_objective_sample_gradient(const sdv_objective *o, size_t s, const double *x, double *grad) {
  const int rc = check_sample(o, s);
  if (rc) return rc;
  o->type->sample_gradient(o->state, o->dim, s, x, grad);
  return SDV_OK;
}

int sdv_objective_hvp(const sdv_objective *o, const double *x, const double *v, double *hv) {
  const int rc = need(o, o->type->hvp != NULL, "Hessian-vector product (hvp)");
  if (rc) return rc;
  o->type->hvp(o->state, o->dim, x, v, hv);
  return SDV_OK;
}

int sdv_objective_initial_point(const sdv_objective *o, double *x0) {
  const int rc = need(o, o->type->initial_point != NULL, "initial point (initial_point)");
  if (rc) return rc;
  o->type->initial_point(o->state, o->dim, x0);
  return SDV_OK;
}

int sdv_objective_sample_label(const sdv_objective *o, size_t s, double *label) {
  int rc = need(o, o->type->sample_label != NULL, "sample labels (sample_label)");
  if (!rc) rc = check_sample(o, s);
  *label = rc ? NAN : o->type->sample_label(o->state, s);
  return rc;
}

int sdv_objective_sample_gradient_sum(const sdv_objective *o, const double *x, const double *w,
                                      double *out, double *scratch) {
  const int rc = need(o, o->type->samples != NULL, "per-sample structure (samples)");
  if (rc) return rc;
  const size_t d = o->dim;
  if (o->type->sample_gradient_sum) {
    o->type->sample_gradient_sum(o->state, d, x, w, out);
    return SDV_OK;
  }
  if (!scratch)
    return SDV_ERROR(SDV_EINVAL,
                     "objective %s: sdv_objective_sample_gradient_sum needs scratch[dim] (the "
                     "type has no sample_gradient_sum hook)",
                     o->type->name);
  const size_t n = o->type->samples(o->state);
  for (size_t j = 0; j < d; j++) out[j] = 0.0;
  for (size_t s = 0; s < n; s++) {
    if (w[s] == 0.0) continue;
    o->type->sample_gradient(o->state, d, s, x, scratch);
    for (size_t j = 0; j < d; j++) out[j] += w[s] * scratch[j];
  }
  return SDV_OK;
}
