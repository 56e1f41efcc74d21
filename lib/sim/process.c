/* One sample path of a model, discrete or SDE (see sdv/process.h), and the integrator
 * registry.
 *
 * The process owns everything its hot calls touch (state replicas, Brownian normals,
 * integrator scratch, the model's sdv_work, three streams), sized once at alloc, so start,
 * advance and observe never allocate. The integrator is a type pointer resolved at alloc:
 * the path loop makes one indirect call per integrator step and looks nothing up by name.
 * Reference value (tests/test-integrator.c): a DISCRETE process reproduces, bit for bit, a
 * hand loop of sdv_model_step on the streams (seed, path, NOISE, sub) and
 * (seed, path, COMPRESSOR, sub).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/process.h>

#include "core/registry.h"

/* ---- registry ---- */

#define NBUILTIN 2
static const void *builtin[NBUILTIN + 1];
static sdv_registry registry = {.what = "integrator", .builtin = builtin};
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

/* The exported pointers are objects in other files, not constant expressions (as in
 * compressor.c), so the list is filled once at run time. */
static void builtin_fill(void) {
  builtin[0] = sdv_integrator_euler;
  builtin[1] = sdv_integrator_richardson;
  builtin[2] = NULL;
}

static sdv_registry *reg(void) {
  pthread_once(&builtin_once, builtin_fill);
  return &registry;
}

const sdv_integrator_type *sdv_integrator_type_from_name(const char *name) {
  return sdv_registry_find(reg(), name);
}

const sdv_integrator_type *sdv_integrator_default(const sdv_model *m) {
  sdv_work *w = NULL;
  sdv_diffusion *D;
  bool sampled = false;
  if (m && sdv_work_alloc(&w, m) == SDV_OK && sdv_model_diffusion(m, w, m->x0, &D) == SDV_OK)
    sampled = D->structure == SDV_DIFFUSION_SAMPLED; /* decided at x0, as sdv_process_alloc */
  sdv_work_free(w);
  return sampled ? sdv_integrator_euler : sdv_integrator_richardson;
}

const sdv_integrator_type *sdv_process_options_integrator(const sdv_process_options *o) {
  return o->integrator ? o->integrator : sdv_integrator_euler;
}

static int check_type(const sdv_integrator_type *t) {
  if (!t) return SDV_ERROR(SDV_EINVAL, "integrator type: NULL");
  const char *n = t->name ? t->name : "(unnamed)";
  if (!t->step) return SDV_ERROR(SDV_EINVAL, "integrator type '%s': missing step", n);
  if (t->replicas < 1 || t->replicas > SDV_INTEGRATOR_REPLICAS_MAX)
    return SDV_ERROR(SDV_EINVAL, "integrator type '%s': replicas = %zu must be in 1..%d", n,
                     t->replicas, SDV_INTEGRATOR_REPLICAS_MAX);
  if (!(t->weak_order > 0.0))
    return SDV_ERROR(SDV_EINVAL, "integrator type '%s': weak_order = %g must be > 0", n,
                     t->weak_order);
  return SDV_OK;
}

int sdv_integrator_register(const sdv_integrator_type *type) {
  const int rc = check_type(type);
  if (rc) return rc;
  return sdv_registry_add(reg(), type);
}

size_t sdv_integrator_types(const sdv_integrator_type **list, size_t max) {
  return sdv_registry_list(reg(), (const void **)list, max);
}

/* ---- process ---- */

struct sdv_process {
  const sdv_model *model;          /* DISCRETE and COUPLED: the optimizer's; SDE: the SDE's */
  const sdv_model *sde;            /* the SDE's model (== model for SDE; NULL for DISCRETE) */
  sdv_process_options opt;
  const sdv_integrator_type *type; /* NULL for DISCRETE */
  sdv_work *work;                  /* model's */
  sdv_work *swork;                 /* COUPLED: the SDE model's (== work otherwise) */
  size_t replicas;
  double *x[SDV_INTEGRATOR_REPLICAS_MAX];
  double *xi;      /* [normals * d] Brownian normals of one step; NULL if not drawn */
  double *scratch; /* [type->scratch * d] */
  /* COUPLED: the optimizer's state, its coupled normals, the bridge's normals of one
   * optimizer step ([substeps * normals * d]). */
  double *xd, *shadow, *bridge;
  double *block; /* the one allocation behind the vectors */
  double h;
  bool sampled;
  bool diverged;  /* SDE (or DISCRETE) side */
  bool ddiverged; /* COUPLED: the optimizer side */
  size_t steps;
  sdv_stream noise, comp, brownian;
};

void sdv_process_options_default(sdv_process_options *o) {
  o->kind = SDV_PROCESS_DISCRETE;
  o->integrator = NULL;
  o->substeps = 1;
  o->sub = 0;
  o->sde_model = NULL;
  o->sde_sub = 1;
}

/* COUPLED needs the optimizer's coupled step and, unless the SDE is noise-free, a structured
 * diffusion route (the sampled route draws its own increments). */
static int check_coupled(const sdv_model *m, const sdv_model *sde, bool sampled) {
  if (sde->dim != m->dim)
    return SDV_ERROR(SDV_EINVAL, "process: coupled sides differ in dim (%zu and %zu)", m->dim,
                     sde->dim);
  if (sde->eta != m->eta)
    return SDV_ERROR(SDV_EINVAL, "process: coupled sides differ in eta (%g and %g)", m->eta,
                     sde->eta);
  if (m->minibatch || sde->minibatch)
    return SDV_ERROR(SDV_ENOTSUP,
                     "process: coupling: minibatch noise (drawn from the data) has no coupled "
                     "normals yet");
  if (!m->method->step_coupled)
    return SDV_ERROR(SDV_ENOTSUP,
                     "process: coupling: method '%s' has no coupled step (step_coupled)",
                     m->method->name);
  if (sampled && sde->diffusion_scale != 0.0)
    return SDV_ERROR(SDV_ENOTSUP,
                     "process: coupling: the SDE of '%s' uses the sampled diffusion route, "
                     "which draws its own increments; no coupling exists for it",
                     sde->description ? sde->description : sde->method->name);
  return SDV_OK;
}

int sdv_process_alloc(sdv_process **out, const sdv_model *m, const sdv_process_options *o) {
  if (!out) return SDV_ERROR(SDV_EINVAL, "process: out is NULL");
  *out = NULL;
  if (!m) return SDV_ERROR(SDV_EINVAL, "process: model is NULL");
  if (!o) return SDV_ERROR(SDV_EINVAL, "process: options is NULL");
  if (o->kind != SDV_PROCESS_DISCRETE && o->kind != SDV_PROCESS_SDE &&
      o->kind != SDV_PROCESS_COUPLED)
    return SDV_ERROR(SDV_EINVAL,
                     "process: kind = %d must be DISCRETE (0), SDE (1) or COUPLED (2)",
                     (int)o->kind);
  if (o->substeps < 1)
    return SDV_ERROR(SDV_EINVAL, "process: substeps = %zu must be >= 1", o->substeps);
  const bool coupled = o->kind == SDV_PROCESS_COUPLED;
  const sdv_model *sm = o->kind == SDV_PROCESS_DISCRETE ? NULL
                        : coupled && o->sde_model       ? o->sde_model
                                                        : m;
  const sdv_integrator_type *t = NULL;
  if (sm) {
    t = sdv_process_options_integrator(o);
    const int rc = check_type(t);
    if (rc) return rc;
  }
  int rc;
  sdv_process *p = calloc(1, sizeof *p);
  if (!p) return SDV_ERROR(SDV_ENOMEM, "out of memory");
  p->model = m;
  p->sde = sm;
  p->opt = *o;
  p->opt.integrator = t;
  p->opt.sde_model = coupled ? sm : NULL;
  p->type = t;
  p->replicas = t ? t->replicas : 1;
  p->h = (sm ? sm : m)->eta / (double)o->substeps;
  const size_t d = m->dim;
  const size_t normals = t ? t->normals : 0, scr = t ? t->scratch : 0;
  const size_t extra = coupled ? 2 + o->substeps * normals : 0;
  if ((rc = sdv_work_alloc(&p->work, m))) goto fail;
  p->swork = p->work;
  if (coupled && sm != m && (rc = sdv_work_alloc(&p->swork, sm))) goto fail;
  if (!(p->block = calloc((p->replicas + normals + scr + extra) * d, sizeof *p->block))) {
    rc = SDV_ERROR(SDV_ENOMEM, "out of memory (process state, dim = %zu)", d);
    goto fail;
  }
  for (size_t r = 0; r < p->replicas; r++) p->x[r] = p->block + r * d;
  p->xi = normals ? p->block + p->replicas * d : NULL;
  p->scratch = p->block + (p->replicas + normals) * d;
  if (coupled) {
    p->xd = p->scratch + scr * d;
    p->shadow = p->xd + d;
    p->bridge = p->shadow + d;
  }
  if (t) {
    /* The route is a property of the model's components, so one evaluation at x0 decides
     * it; it also reports a model without an SDE here rather than in the path loop. */
    sdv_diffusion *D;
    if ((rc = sdv_model_diffusion(sm, p->swork, sm->x0, &D))) goto fail;
    p->sampled = D->structure == SDV_DIFFUSION_SAMPLED;
  }
  if (coupled && (rc = check_coupled(m, sm, p->sampled))) goto fail;
  sdv_process_start(p, 0);
  *out = p;
  return SDV_OK;

fail:
  sdv_process_free(p);
  return rc;
}

void sdv_process_free(sdv_process *p) {
  if (!p) return;
  if (p->swork != p->work) sdv_work_free(p->swork);
  sdv_work_free(p->work);
  free(p->block);
  free(p);
}

void sdv_process_start(sdv_process *p, uint64_t path) {
  const sdv_model *m = p->model, *sm = p->sde ? p->sde : m;
  for (size_t r = 0; r < p->replicas; r++) memcpy(p->x[r], sm->x0, m->dim * sizeof *m->x0);
  if (p->xd) memcpy(p->xd, m->x0, m->dim * sizeof *m->x0);
  p->steps = 0;
  p->diverged = false;
  p->ddiverged = false;
  sdv_stream_init(&p->noise, m->seed, path, SDV_PURPOSE_NOISE, p->opt.sub);
  sdv_stream_init(&p->comp, m->seed, path, SDV_PURPOSE_COMPRESSOR, p->opt.sub);
  if (p->xd)
    sdv_stream_init(&p->brownian, sm->seed, path, SDV_PURPOSE_BROWNIAN, p->opt.sde_sub);
  else
    sdv_stream_init(&p->brownian, m->seed, path, SDV_PURPOSE_BROWNIAN, p->opt.sub);
}

static bool vec_finite(const double *x, size_t d) {
  for (size_t j = 0; j < d; j++)
    if (!isfinite(x[j])) return false;
  return true;
}

static bool state_finite(const sdv_process *p) {
  for (size_t r = 0; r < p->replicas; r++)
    if (!vec_finite(p->x[r], p->model->dim)) return false;
  return true;
}

/* A status from a step is the model's verdict on a finite state; on a non-finite one it is
 * a consequence of the overflow (e.g. a "negative" NaN variance), so the path is diverged. */
static int step_failed(sdv_process *p, int rc) {
  if (state_finite(p)) return rc;
  p->diverged = true;
  return SDV_OK;
}

/* COUPLED: one optimizer step with its coupled normals, then the SDE's substeps on the
 * Brownian bridge pinned to them (sdv/process.h). A diverged optimizer stops stepping and
 * its normals are drawn fresh, so the SDE's law never depends on it. */
static int advance_coupled(sdv_process *p) {
  const sdv_model *m = p->model, *sm = p->sde;
  const sdv_integrator_type *t = p->type;
  const size_t d = m->dim, nv = p->opt.substeps * t->normals, nxi = t->normals * d;
  int rc;
  if (!p->ddiverged) {
    rc = sdv_model_step_coupled(m, p->work, p->xd, &p->noise, &p->comp, &p->brownian, p->shadow);
    if (rc && vec_finite(p->xd, d)) return rc;
    if (rc || !vec_finite(p->xd, d)) p->ddiverged = true;
  }
  if (p->ddiverged) sdv_stream_normals(&p->brownian, p->shadow, d);
  /* A safety net: the built-in methods' normals are finite by construction. */
  for (size_t j = 0; j < d; j++)
    if (!isfinite(p->shadow[j])) p->shadow[j] = sdv_stream_normal(&p->brownian);
  if (p->diverged) return SDV_OK;
  const bool draw = !p->sampled && nxi && sm->diffusion_scale != 0.0;
  if (draw) {
    if (nv == 1) {
      memcpy(p->bridge, p->shadow, d * sizeof *p->bridge);
    } else {
      sdv_stream_normals(&p->brownian, p->bridge, nv * d);
      const double c = 1.0 / sqrt((double)nv);
      for (size_t j = 0; j < d; j++) {
        double mean = 0.0;
        for (size_t l = 0; l < nv; l++) mean += p->bridge[l * d + j];
        mean /= (double)nv;
        const double shift = c * p->shadow[j] - mean;
        for (size_t l = 0; l < nv; l++) p->bridge[l * d + j] += shift;
      }
    }
  }
  for (size_t l = 0; l < p->opt.substeps; l++) {
    const double *xi = draw ? p->bridge + l * nxi : NULL;
    if ((rc = t->step(sm, p->swork, p->h, p->x, xi, &p->brownian, p->scratch)))
      return step_failed(p, rc);
  }
  if (!state_finite(p)) p->diverged = true;
  return SDV_OK;
}

int sdv_process_advance(sdv_process *p, size_t steps) {
  if (steps == 0) return SDV_OK;
  const sdv_model *m = p->model;
  int rc;
  if (p->xd) {
    if (p->diverged && p->ddiverged) return SDV_OK;
    for (size_t k = 0; k < steps; k++)
      if ((rc = advance_coupled(p))) return rc;
    p->steps += steps;
    return SDV_OK;
  }
  if (p->diverged) return SDV_OK;
  if (!p->type) {
    for (size_t k = 0; k < steps; k++)
      if ((rc = sdv_model_step(m, p->work, p->x[0], &p->noise, &p->comp)))
        return step_failed(p, rc);
  } else {
    const sdv_integrator_type *t = p->type;
    const size_t n = steps * p->opt.substeps, nxi = t->normals * m->dim;
    const bool draw = !p->sampled && p->xi && m->diffusion_scale != 0.0;
    const double *xi = draw ? p->xi : NULL;
    for (size_t k = 0; k < n; k++) {
      if (draw) sdv_stream_normals(&p->brownian, p->xi, nxi);
      if ((rc = t->step(m, p->work, p->h, p->x, xi, &p->brownian, p->scratch)))
        return step_failed(p, rc);
    }
  }
  p->steps += steps;
  if (!state_finite(p)) p->diverged = true;
  return SDV_OK;
}

static double observe_sde(sdv_process *p, const sdv_observable *g) {
  if (p->diverged) return NAN;
  double v = 0.0;
  for (size_t r = 0; r < p->replicas; r++)
    v += p->type->weight[r] * sdv_observable_eval(g, p->sde, p->swork, p->x[r]);
  return v;
}

void sdv_process_observe_pair(sdv_process *p, const sdv_observable *g, double *disc,
                              double *sde) {
  if (p->xd) {
    *disc = p->ddiverged ? NAN : sdv_observable_eval(g, p->model, p->work, p->xd);
    *sde = observe_sde(p, g);
  } else if (!p->type) {
    *disc = p->diverged ? NAN : sdv_observable_eval(g, p->model, p->work, p->x[0]);
    *sde = NAN;
  } else {
    *disc = NAN;
    *sde = observe_sde(p, g);
  }
}

double sdv_process_observe(sdv_process *p, const sdv_observable *g) {
  if (p->xd) {
    double a, b;
    sdv_process_observe_pair(p, g, &a, &b);
    return a - b;
  }
  if (p->diverged) return NAN;
  if (!p->type) return sdv_observable_eval(g, p->model, p->work, p->x[0]);
  return observe_sde(p, g);
}

const double *sdv_process_discrete_state(const sdv_process *p) { return p->xd; }

const double *sdv_process_state(const sdv_process *p, size_t r) {
  return r < p->replicas ? p->x[r] : NULL;
}

size_t sdv_process_replicas(const sdv_process *p) { return p->replicas; }
size_t sdv_process_steps(const sdv_process *p) { return p->steps; }
double sdv_process_time(const sdv_process *p) {
  return (double)p->steps * (p->sde ? p->sde : p->model)->eta;
}
bool sdv_process_diverged(const sdv_process *p) { return p->diverged || p->ddiverged; }
const sdv_process_options *sdv_process_get_options(const sdv_process *p) { return &p->opt; }
bool sdv_process_sampled(const sdv_process *p) { return p->sampled; }
