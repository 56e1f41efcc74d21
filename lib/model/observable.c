/* Observables g(x) whose expectations the weak harness compares: f, ||x||^2,
 * ||grad f||^2, x_j, x_j^2 and user functions. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/model.h>
#include <sdv/params.h>

#include "core/work.h"

/* "x:J" / "x2:J" with 1 <= J <= dim; stores J - 1. */
static int parse_index(sdv_observable *o, const char *text, const char *j, size_t dim) {
  char what[96];
  snprintf(what, sizeof what, "observable '%s': index J", text);
  size_t J;
  const int rc = sdv_parse_size(j, what, &J);
  if (rc) return rc;
  if (J < 1 || J > dim)
    return SDV_ERROR(SDV_EINVAL, "observable '%s': index J = %zu must be in 1..%zu (dim)", text,
                     J, dim);
  o->index = J - 1;
  return SDV_OK;
}

int sdv_observable_parse(sdv_observable *o, const char *text, size_t dim) {
  if (!o || !text) return SDV_ERROR(SDV_EINVAL, "observable: missing text");
  memset(o, 0, sizeof *o);
  if (strcmp(text, "f") == 0) {
    o->kind = SDV_OBS_F;
    return SDV_OK;
  }
  if (strcmp(text, "norm2") == 0) {
    o->kind = SDV_OBS_NORM2;
    return SDV_OK;
  }
  if (strcmp(text, "grad2") == 0) {
    o->kind = SDV_OBS_GRAD2;
    return SDV_OK;
  }
  if (strncmp(text, "x:", 2) == 0) {
    o->kind = SDV_OBS_X;
    return parse_index(o, text, text + 2, dim);
  }
  if (strncmp(text, "x2:", 3) == 0) {
    o->kind = SDV_OBS_X2;
    return parse_index(o, text, text + 3, dim);
  }
  return SDV_ERROR(SDV_EINVAL,
                   "observable '%s' is unknown (known: f, norm2, grad2, x:J, x2:J with J "
                   "1-based)",
                   text);
}

const char *sdv_observable_name(const sdv_observable *o, char *buf, size_t len) {
  switch (o->kind) {
  case SDV_OBS_F:
    snprintf(buf, len, "f");
    break;
  case SDV_OBS_NORM2:
    snprintf(buf, len, "norm2");
    break;
  case SDV_OBS_GRAD2:
    snprintf(buf, len, "grad2");
    break;
  case SDV_OBS_X:
    snprintf(buf, len, "x:%zu", o->index + 1);
    break;
  case SDV_OBS_X2:
    snprintf(buf, len, "x2:%zu", o->index + 1);
    break;
  case SDV_OBS_USER:
    snprintf(buf, len, "%s", o->label ? o->label : "user");
    break;
  default:
    snprintf(buf, len, "?");
  }
  return buf;
}

double sdv_observable_eval(const sdv_observable *o, const sdv_model *m, sdv_work *w,
                           const double *x) {
  const size_t d = m->dim;
  double s = 0.0;
  switch (o->kind) {
  case SDV_OBS_F:
    return sdv_objective_value(m->objective, x);
  case SDV_OBS_NORM2:
    for (size_t j = 0; j < d; j++) s += x[j] * x[j];
    return s;
  case SDV_OBS_GRAD2:
    sdv_objective_gradient(m->objective, x, w->grad);
    for (size_t j = 0; j < d; j++) s += w->grad[j] * w->grad[j];
    return s;
  case SDV_OBS_X:
    return x[o->index];
  case SDV_OBS_X2:
    return x[o->index] * x[o->index];
  case SDV_OBS_USER:
    return o->fn(o->user, d, x);
  }
  return NAN;
}
