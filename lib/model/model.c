/* The model object: options, validation, derived per-agent quantities, minibatch noise
 * (docs/math/model.md).
 *
 * Per-agent derived values, from the noise type of agent i (Var T, c_B) and sigma_i, B:
 *     var[i]   = sigma_i^2 Var(T) / B        (INFINITY when Var T is infinite, 0 if sigma_i = 0)
 *     scale[i] = sigma_i c_B                 (NAN when the mean of B draws is not a scaled T;
 *                                             0 if sigma_i = 0; c_1 = 1 for every law)
 *     omega[i] = the compressor's declared omega (0 without compressor).
 * Reference value (tests/test-model.c): student-t:nu=3, sigma = 2.385, B = 4:
 *     var = 2.385^2 * 3 / 4 = 4.26624..., scale = NAN (t_3 is not stable under averaging).
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/model.h>
#include <sdv/params.h>

#include "model/minibatch.h"
#include "core/work.h"

void sdv_model_options_default(sdv_model_options *o) {
  *o = (sdv_model_options){.method = "dsgd",
                           .dim = 1,
                           .agents = 1,
                           .batch = 1,
                           .eta = 0.1,
                           .objective = "quadratic:lam=1",
                           .noise = "gaussian",
                           .sigma = "1",
                           .compressor = "identity",
                           .x0 = "1",
                           .seed = 1,
                           .sde_route = SDV_SDE_AUTO,
                           .diffusion_scale = 1.0,
                           .shards = "iid"};
}

int sdv_model_options_set(sdv_model_options *o, const char *name, const char *value) {
  if (!o || !name) return SDV_ERROR(SDV_EINVAL, "model option: missing option or name");
  if (!value) return SDV_ERROR(SDV_EINVAL, "%s: missing value", name);
  if (strcmp(name, "method") == 0) {
    o->method = value;
  } else if (strcmp(name, "objective") == 0) {
    o->objective = value;
  } else if (strcmp(name, "noise") == 0) {
    o->noise = value;
  } else if (strcmp(name, "sigma") == 0) {
    o->sigma = value;
  } else if (strcmp(name, "compressor") == 0) {
    o->compressor = value;
  } else if (strcmp(name, "x0") == 0) {
    o->x0 = value;
  } else if (strcmp(name, "shards") == 0) {
    o->shards = value;
  } else if (strcmp(name, "dim") == 0) {
    return sdv_parse_size(value, "dim", &o->dim);
  } else if (strcmp(name, "agents") == 0) {
    return sdv_parse_size(value, "agents", &o->agents);
  } else if (strcmp(name, "batch") == 0) {
    return sdv_parse_size(value, "batch", &o->batch);
  } else if (strcmp(name, "eta") == 0) {
    return sdv_parse_double(value, "eta", &o->eta);
  } else if (strcmp(name, "diffusion-scale") == 0) {
    return sdv_parse_double(value, "diffusion_scale", &o->diffusion_scale);
  } else if (strcmp(name, "seed") == 0) {
    size_t seed;
    const int rc = sdv_parse_size(value, "seed", &seed);
    if (rc) return rc;
    o->seed = (uint64_t)seed;
  } else if (strcmp(name, "literal") == 0) {
    if (strcmp(value, "yes") == 0 || strcmp(value, "1") == 0)
      o->literal = true;
    else if (strcmp(value, "no") == 0 || strcmp(value, "0") == 0)
      o->literal = false;
    else
      return SDV_ERROR(SDV_EINVAL, "literal = '%s' must be yes, no, 1 or 0", value);
  } else if (strcmp(name, "sde") == 0) {
    if (strcmp(value, "auto") == 0)
      o->sde_route = SDV_SDE_AUTO;
    else if (strcmp(value, "sampled") == 0)
      o->sde_route = SDV_SDE_SAMPLED;
    else
      return SDV_ERROR(SDV_EINVAL, "sde_route = '%s' must be auto or sampled", value);
  } else {
    return SDV_ERROR(SDV_EINVAL,
                     "unknown model option '%s' (known: method, dim, agents, batch, eta, "
                     "objective, noise, sigma, compressor, x0, seed, sde, diffusion-scale, "
                     "literal, shards)",
                     name);
  }
  return SDV_OK;
}

/* ---- small helpers ---- */

/* Largest per-thread model footprint sdv accepts (bytes). */
#define SDV_MODEL_MAX_BYTES 4e9

/* A ';'-separated list of component specs, split in a private copy. */
typedef struct spec_list {
  char *buf;
  char **part;
  size_t n;
} spec_list;

static void spec_list_clear(spec_list *l) {
  free(l->buf);
  free(l->part);
  memset(l, 0, sizeof *l);
}

static int spec_list_split(spec_list *l, const char *text, const char *option) {
  memset(l, 0, sizeof *l);
  size_t n = 1;
  for (const char *c = text; *c; c++) n += (*c == ';');
  l->buf = malloc(strlen(text) + 1);
  l->part = malloc(n * sizeof *l->part);
  if (!l->buf || !l->part) return SDV_ERROR(SDV_ENOMEM, "out of memory");
  strcpy(l->buf, text);
  char *s = l->buf;
  for (size_t k = 0; k < n; k++) {
    char *semi = strchr(s, ';');
    if (semi) *semi = '\0';
    if (*s == '\0')
      return SDV_ERROR(SDV_EINVAL, "%s = '%s': spec %zu of %zu is empty", option, text, k + 1, n);
    l->part[k] = s;
    s = semi ? semi + 1 : s;
  }
  l->n = n;
  return SDV_OK;
}

/* Shortest of %.15g / %.17g that reads back as v. */
static const char *format_double(char *buf, size_t len, double v) {
  snprintf(buf, len, "%.15g", v);
  if (strtod(buf, NULL) != v) snprintf(buf, len, "%.17g", v);
  return buf;
}

typedef struct strbuf {
  char *s;
  size_t len, cap;
  int failed;
} strbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
strbuf_printf(strbuf *b, const char *fmt, ...) {
  if (b->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    const int w = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (w < 0) {
      b->failed = 1;
      return;
    }
    if (b->s && b->len + (size_t)w < b->cap) {
      b->len += (size_t)w;
      return;
    }
    const size_t cap = 2 * (b->len + (size_t)w + 64);
    char *s = realloc(b->s, cap);
    if (!s) {
      b->failed = 1;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
}

/* Appends " key=v_0,v_1,..." or " key=v" when all n values are equal. */
static void strbuf_values(strbuf *b, const char *key, const double *v, size_t n) {
  bool same = true;
  for (size_t k = 1; k < n; k++) same = same && v[k] == v[0];
  char num[40];
  strbuf_printf(b, " %s=", key);
  for (size_t k = 0; k < (same ? 1 : n); k++)
    strbuf_printf(b, "%s%s", k ? "," : "", format_double(num, sizeof num, v[k]));
}

/* Appends " key=s_0;s_1;..." or " key=s" when all n specs are equal. */
static void strbuf_specs(strbuf *b, const char *key, const char *const *s, size_t n) {
  bool same = true;
  for (size_t k = 1; k < n; k++) same = same && strcmp(s[k], s[0]) == 0;
  strbuf_printf(b, " %s=", key);
  for (size_t k = 0; k < (same ? 1 : n); k++) strbuf_printf(b, "%s%s", k ? ";" : "", s[k]);
}

/* The canonical one-line spec of a built model: noise[nnoise] are the noise specs as given
 * (strbuf_specs writes one when all are equal), shards is written for minibatch models. */
static char *describe(const sdv_model *m, const char *objective, const char *const *noise,
                      size_t nnoise, const char *shards) {
  strbuf b = {0};
  char num[40];
  strbuf_printf(&b, "%s dim=%zu agents=%zu batch=%zu eta=%s objective=%s", m->method->name, m->dim,
                m->agents, m->batch, format_double(num, sizeof num, m->eta), objective);
  strbuf_specs(&b, "noise", noise, nnoise);
  strbuf_values(&b, "sigma", m->sigma, m->agents);
  if (m->compressor) {
    strbuf_printf(&b, " compressor=");
    bool same = true;
    for (size_t i = 1; i < m->agents; i++)
      same = same && strcmp(m->compressor[i]->spec, m->compressor[0]->spec) == 0;
    for (size_t i = 0; i < (same ? 1 : m->agents); i++)
      strbuf_printf(&b, "%s%s", i ? ";" : "", m->compressor[i]->spec);
  }
  strbuf_values(&b, "x0", m->x0, m->dim);
  strbuf_printf(&b, " seed=%llu sde=%s diffusion-scale=%s", (unsigned long long)m->seed,
                m->sde_route == SDV_SDE_SAMPLED ? "sampled" : "auto",
                format_double(num, sizeof num, m->diffusion_scale));
  if (m->literal) strbuf_printf(&b, " literal=yes");
  if (m->minibatch) strbuf_printf(&b, " shards=%s", shards);
  if (b.failed) {
    free(b.s);
    return NULL;
  }
  return b.s;
}

/* Names of the methods that use a compressor, for the "only used by" message. */
static const char *compressing_methods(char *buf, size_t len) {
  const sdv_method_type *list[32];
  const size_t n = sdv_method_types(list, 32);
  size_t used = 0;
  buf[0] = '\0';
  for (size_t k = 0; k < n && k < 32; k++) {
    if (!list[k]->uses_compressor) continue;
    const int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", list[k]->name);
    if (w < 0 || (size_t)w >= len - used) break;
    used += (size_t)w;
  }
  return buf;
}

static const char *method_names(char *buf, size_t len) {
  const sdv_method_type *list[32];
  const size_t n = sdv_method_types(list, 32);
  size_t used = 0;
  buf[0] = '\0';
  for (size_t k = 0; k < n && k < 32; k++) {
    const int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", list[k]->name);
    if (w < 0 || (size_t)w >= len - used) break;
    used += (size_t)w;
  }
  return buf;
}

/* ---- alloc / free ----
 *
 * One builder, model_build, turns a typed spec (sdv_model_spec: numbers, arrays and component
 * handles) into a validated model. sdv_model_alloc_spec calls it directly; sdv_model_alloc is
 * a text parser on top: it allocates the components from their specs, reads the lists, and
 * hands the same builder a spec, plus what only text has (the specs as written, for the
 * description). So both entry points validate alike and build the same model from the same
 * components and seed. Messages name the spec's fields ("eta = -1 must be > 0"); the command
 * shows them as its flags (verify/cli.c). */

/* What the text parser adds to a spec: the objective it allocated (the model takes it over
 * on success) and the specs as written, for the description. */
typedef struct text_extras {
  const char *objective;      /* as written */
  const char *const *noise;   /* [nnoise] as written */
  size_t nnoise;
} text_extras;

/* The scalar fields, in the order a reader meets them; method must be resolved. */
static int check_scalars(const sdv_model_spec *s, const sdv_method_type *method) {
  if (!method->step || !method->drift || !method->diffusion)
    return SDV_ERROR(SDV_EINVAL, "method '%s' lacks step, drift or diffusion",
                     method->name ? method->name : "(unnamed)");
  if (s->dim < 1) return SDV_ERROR(SDV_EINVAL, "dim = %zu must be >= 1", s->dim);
  /* Overflow guard only (not a resource policy): every model holds several d-vectors, and
   * sizes of products of d must not wrap. */
  if (s->dim > SIZE_MAX / (64 * sizeof(double)))
    return SDV_ERROR(SDV_ELIMIT, "dim = %zu is too large to address", s->dim);
  if (s->agents > SIZE_MAX / (64 * sizeof(double)))
    return SDV_ERROR(SDV_ELIMIT, "agents = %zu is too large to address", s->agents);
  if (s->agents < 1) return SDV_ERROR(SDV_EINVAL, "agents = %zu must be >= 1", s->agents);
  /* Resource policy, checked before anything is allocated: a model and one thread's scratch
   * hold about 16 + 4N vectors of d doubles; refuse what no study could afford. */
  const double bytes = 8.0 * (double)s->dim * (16.0 + 4.0 * (double)s->agents);
  if (bytes > SDV_MODEL_MAX_BYTES)
    return SDV_ERROR(SDV_ELIMIT,
                     "dim = %zu with agents = %zu needs about %.3g GB per thread "
                     "(8 d (16 + 4N) bytes); sdv refuses models above %.0f GB: lower dim "
                     "or agents",
                     s->dim, s->agents, bytes / 1e9, SDV_MODEL_MAX_BYTES / 1e9);
  if (s->batch < 1) return SDV_ERROR(SDV_EINVAL, "batch = %zu must be >= 1", s->batch);
  if (!(s->eta > 0.0) || !isfinite(s->eta))
    return SDV_ERROR(SDV_EINVAL, "eta = %g must be > 0 and finite", s->eta);
  if (!(s->diffusion_scale >= 0.0) || !isfinite(s->diffusion_scale))
    return SDV_ERROR(SDV_EINVAL, "diffusion_scale = %g must be >= 0 and finite",
                     s->diffusion_scale);
  if (s->sde_route != SDV_SDE_AUTO && s->sde_route != SDV_SDE_SAMPLED)
    return SDV_ERROR(SDV_EINVAL, "sde_route = %d must be auto (0) or sampled (1)",
                     (int)s->sde_route);
  if (s->sde_route == SDV_SDE_SAMPLED && !method->increment)
    return SDV_ERROR(SDV_ENOTSUP,
                     "sde_route = sampled: method %s has no sampled route (its diffusion is "
                     "always in closed form)",
                     method->name);
  return SDV_OK;
}

/* var_i and scale_i from sigma_i and the laws. */
static int set_scales(sdv_model *m) {
  const size_t n = m->agents;
  for (size_t i = 0; i < n; i++)
    if (!(m->sigma[i] >= 0.0) || isinf(m->sigma[i]))
      return SDV_ERROR(SDV_EINVAL, "sigma = %g (agent %zu) must be >= 0 and finite", m->sigma[i],
                       i + 1);
  for (size_t i = 0; i < n; i++) {
    const sdv_noise *z = m->noise[i];
    const double s = m->sigma[i];
    if (s == 0.0) { /* no noise at all, whatever the law */
      m->var[i] = 0.0;
      m->scale[i] = 0.0;
      continue;
    }
    const double vt = z->type->variance(z->state);
    const double c = m->batch == 1 ? 1.0 : z->type->batch_scale(z->state, m->batch);
    m->var[i] = isinf(vt) ? INFINITY : s * s * vt / (double)m->batch;
    /* INFINITY means "the law has no variance" (no SDE); a finite variance that overflows
     * (sigma = 1e300) must not be mistaken for it. */
    if (isinf(m->var[i]) && !isinf(vt))
      return SDV_ERROR(SDV_EINVAL,
                       "sigma = %g (agent %zu) is too large: the noise variance "
                       "sigma^2 Var(T)/B overflows a double",
                       s, i + 1);
    m->scale[i] = isnan(c) ? NAN : s * c;
  }
  return SDV_OK;
}

/* Minibatch noise: the objective must have samples; the agents get their shards. */
static int build_minibatch(sdv_model *m, const char *shards) {
  if (!m->minibatch) {
    if (shards && strcmp(shards, "iid") != 0)
      return SDV_ERROR(SDV_EINVAL,
                       "shards = '%s' is given, but shards are only used with minibatch noise",
                       shards);
    return SDV_OK;
  }
  size_t n = 0;
  const sdv_objective_type *t = m->objective->type;
  if (t->samples) n = t->samples(m->objective->state);
  if (n == 0)
    return SDV_ERROR(SDV_EINVAL,
                     "noise = minibatch needs an objective with data samples (logistic, "
                     "least-squares, softmax, mlp with data=FILE); objective %s has none",
                     t->name);
  m->samples = n;
  return sdv_shards_build(m, shards ? shards : "iid");
}

/* "name has k values; expected 1 or n (what)" unless k is 0 (default), 1 or n. */
static int list_count(size_t k, size_t n, const char *name, const char *what) {
  if (k <= 1 || k == n) return SDV_OK;
  return SDV_ERROR(SDV_EINVAL, "%s has %zu values; expected 1 or %zu (%s)", name, k, n, what);
}

/* The array fields of a spec: counts and presence. */
static int check_lists(const sdv_model_spec *s, const sdv_method_type *method) {
  const size_t n = s->agents, d = s->dim;
  int rc;
  if ((rc = list_count(s->nnoise, n, "noise", "agents")) ||
      (rc = list_count(s->nsigma, n, "sigma", "agents")) ||
      (rc = list_count(s->ncompressor, n, "compressor", "agents")) ||
      (rc = list_count(s->nx0, d, "x0", "dim")))
    return rc;
  if (s->nnoise && !s->noise) return SDV_ERROR(SDV_EINVAL, "noise is NULL with nnoise > 0");
  if (s->nsigma && !s->sigma) return SDV_ERROR(SDV_EINVAL, "sigma is NULL with nsigma > 0");
  if (s->ncompressor && !s->compressor)
    return SDV_ERROR(SDV_EINVAL, "compressor is NULL with ncompressor > 0");
  if (s->nx0 && !s->x0) return SDV_ERROR(SDV_EINVAL, "x0 is NULL with nx0 > 0");
  if (s->ncompressor && !method->uses_compressor)
    return SDV_ERROR(SDV_EINVAL, "compressor is given, but method %s does not compress",
                     method->name);
  for (size_t j = 0; j < s->nx0; j++)
    if (!isfinite(s->x0[j]))
      return SDV_ERROR(SDV_EINVAL, "x0[%zu] = %g must be finite", j, s->x0[j]);
  return SDV_OK;
}

/* The agents' laws (copies; Gaussian by default) and noise scales. */
static int build_agents(sdv_model *m, const sdv_model_spec *s) {
  int rc;
  for (size_t i = 0; i < m->agents; i++) {
    if (s->nnoise) {
      const sdv_noise *z = s->noise[s->nnoise == 1 ? 0 : i];
      if (!z) return SDV_ERROR(SDV_EINVAL, "noise[%zu] is NULL", s->nnoise == 1 ? 0 : i);
      if ((rc = sdv_noise_clone(&m->noise[i], z))) return rc;
    } else if ((rc = sdv_noise_alloc(&m->noise[i], "gaussian"))) {
      return rc;
    }
    m->sigma[i] = s->nsigma ? s->sigma[s->nsigma == 1 ? 0 : i] : 1.0;
  }
  return set_scales(m);
}

/* The agents' compressors (copies; identity by default) and their declared omegas. */
static int build_compressors(sdv_model *m, const sdv_model_spec *s) {
  const size_t n = m->agents, d = m->dim;
  if (!(m->compressor = calloc(n, sizeof *m->compressor)))
    return SDV_ERROR(SDV_ENOMEM, "out of memory");
  int rc;
  for (size_t i = 0; i < n; i++) {
    if (s->ncompressor) {
      const size_t k = s->ncompressor == 1 ? 0 : i;
      const sdv_compressor *c = s->compressor[k];
      if (!c) return SDV_ERROR(SDV_EINVAL, "compressor[%zu] is NULL", k);
      if (c->dim != d)
        return SDV_ERROR(SDV_EINVAL, "compressor[%zu] has dimension %zu; dim = %zu", k, c->dim,
                         d);
      if (!(m->compressor[i] = sdv_compressor_clone(c)))
        return SDV_ERROR(SDV_ENOMEM, "out of memory");
    } else if ((rc = sdv_compressor_alloc(&m->compressor[i], "identity", d))) {
      return rc;
    }
    m->omega[i] = sdv_compressor_omega(m->compressor[i]);
  }
  return SDV_OK;
}

/* The description: the text as written (tx), else components by type name (compressors by
 * spec). */
static char *describe_model(const sdv_model *m, const sdv_model_spec *s, const text_extras *tx) {
  const char *shards = s->shards ? s->shards : "iid";
  if (tx) return describe(m, tx->objective, tx->noise, tx->nnoise, shards);
  const char *names[64];
  const size_t k = m->agents < 64 ? m->agents : 64;
  for (size_t i = 0; i < k; i++) names[i] = m->noise[i]->type->name;
  return describe(m, m->objective->type->name, names, k, shards);
}

/* The builder of both entry points. The objective stays the caller's (borrowed) unless the
 * caller says it hands it over on success. */
static int model_build(sdv_model **out, const sdv_model_spec *s, const text_extras *tx,
                       bool own_objective) {
  const sdv_method_type *method = s->method ? s->method : sdv_method_type_from_name("dsgd");
  int rc;
  if ((rc = check_scalars(s, method))) return rc;
  if (!s->objective) return SDV_ERROR(SDV_EINVAL, "objective is NULL (required)");
  if (s->objective->dim != s->dim)
    return SDV_ERROR(SDV_EINVAL, "objective has dimension %zu; dim = %zu", s->objective->dim,
                     s->dim);
  if ((rc = check_lists(s, method))) return rc;
  sdv_model *m = calloc(1, sizeof *m);
  if (!m) return SDV_ERROR(SDV_ENOMEM, "out of memory");
  const size_t n = s->agents, d = s->dim;
  m->method = method;
  m->dim = d;
  m->agents = n;
  m->batch = s->batch;
  m->eta = s->eta;
  m->seed = s->seed;
  m->sde_route = s->sde_route;
  m->diffusion_scale = s->diffusion_scale;
  m->literal = s->literal;
  m->minibatch = s->minibatch;
  m->objective = (sdv_objective *)s->objective; /* borrowed until the end */
  m->objective_borrowed = true;
  m->noise = calloc(n, sizeof *m->noise);
  m->sigma = calloc(n, sizeof *m->sigma);
  m->var = calloc(n, sizeof *m->var);
  m->scale = calloc(n, sizeof *m->scale);
  m->omega = calloc(n, sizeof *m->omega);
  m->x0 = calloc(d, sizeof *m->x0);
  if (!m->noise || !m->sigma || !m->var || !m->scale || !m->omega || !m->x0) {
    rc = SDV_ERROR(SDV_ENOMEM, "out of memory");
    goto fail;
  }
  if ((rc = build_agents(m, s)) || (rc = build_minibatch(m, s->shards))) goto fail;
  if (method->uses_compressor && (rc = build_compressors(m, s))) goto fail;
  for (size_t j = 0; j < d; j++) m->x0[j] = s->nx0 ? s->x0[s->nx0 == 1 ? 0 : j] : 1.0;
  if (!(m->description = describe_model(m, s, tx))) {
    rc = SDV_ERROR(SDV_ENOMEM, "out of memory");
    goto fail;
  }
  if (method->validate && (rc = method->validate(m))) goto fail;
  m->objective_borrowed = !own_objective;
  *out = m;
  return SDV_OK;
fail:
  sdv_model_free(m); /* the objective is still borrowed: the caller keeps it */
  return rc;
}

/* ---- the text parser (sdv_model_options) on top of the builder ---- */

static int wrap_error(int rc, const char *option, const char *spec) {
  char inner[768];
  snprintf(inner, sizeof inner, "%s", sdv_last_error());
  return SDV_ERROR(rc, "%s = '%s': %s", option, spec, inner);
}

/* The parsed text: components and lists the spec points to (freed by text_clear; the model
 * keeps copies, and the objective when it is built). */
typedef struct parsed {
  spec_list noise_specs;
  sdv_noise **noise;
  size_t nnoise;
  double *sigma;
  sdv_compressor **comp;
  size_t ncomp;
  double *x0;
} parsed;

static void text_clear(parsed *p) {
  for (size_t k = 0; p->noise && k < p->nnoise; k++) sdv_noise_free(p->noise[k]);
  for (size_t k = 0; p->comp && k < p->ncomp; k++) sdv_compressor_free(p->comp[k]);
  free(p->noise);
  free(p->comp);
  free(p->sigma);
  free(p->x0);
  spec_list_clear(&p->noise_specs);
}

/* noise: 1 or N specs; "minibatch" or "minibatch+LAW" for every agent or none. Plain
 * "minibatch" agents get a placeholder law and sigma_i = 0 (set by parse_sigma). */
static int parse_noise(parsed *p, sdv_model_spec *s, const char *text) {
  spec_list *specs = &p->noise_specs;
  int rc = spec_list_split(specs, text, "noise");
  if (rc) return rc;
  if (specs->n != 1 && specs->n != s->agents)
    return SDV_ERROR(SDV_EINVAL, "noise = '%s' has %zu specs; expected 1 or %zu (agents)", text,
                     specs->n, s->agents);
  size_t nmb = 0;
  for (size_t k = 0; k < specs->n; k++) nmb += strncmp(specs->part[k], "minibatch", 9) == 0;
  if (nmb != 0 && nmb != specs->n)
    return SDV_ERROR(SDV_EINVAL,
                     "noise = '%s': minibatch noise must be given for every agent or for none",
                     text);
  s->minibatch = nmb != 0;
  if (!(p->noise = calloc(specs->n, sizeof *p->noise)))
    return SDV_ERROR(SDV_ENOMEM, "out of memory");
  p->nnoise = specs->n;
  for (size_t k = 0; k < specs->n; k++) {
    const char *spec = specs->part[k];
    if (s->minibatch) {
      const char *rest = spec + 9;
      if (*rest == '\0') spec = "gaussian"; /* placeholder: sigma_i = 0 */
      else if (*rest != '+' || rest[1] == '\0')
        return SDV_ERROR(SDV_EINVAL,
                         "noise = '%s' must be minibatch or minibatch+LAW (e.g. "
                         "minibatch+student-t:nu=2.5)",
                         spec);
      else
        spec = rest + 1;
    }
    if ((rc = sdv_noise_alloc(&p->noise[k], spec))) return wrap_error(rc, "noise", spec);
  }
  s->noise = (const sdv_noise *const *)p->noise;
  s->nnoise = p->nnoise;
  return SDV_OK;
}

/* sigma: 1 or N values >= 0, expanded to N (plain minibatch agents: 0). */
static int parse_sigma(parsed *p, sdv_model_spec *s, const char *text) {
  const size_t n = s->agents;
  double *v;
  size_t count;
  int rc = sdv_parse_double_list(text, "sigma", &v, &count);
  if (rc) return rc;
  if (count != 1 && count != n) {
    free(v);
    return SDV_ERROR(SDV_EINVAL, "sigma = '%s' has %zu values; expected 1 or %zu (agents)", text,
                     count, n);
  }
  if (!(p->sigma = malloc(n * sizeof *p->sigma))) {
    free(v);
    return SDV_ERROR(SDV_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n; i++) p->sigma[i] = v[count == 1 ? 0 : i];
  free(v);
  for (size_t i = 0; i < n; i++)
    if (!(p->sigma[i] >= 0.0))
      return SDV_ERROR(SDV_EINVAL, "sigma = %g (agent %zu) must be >= 0", p->sigma[i], i + 1);
  const spec_list *ns = &p->noise_specs;
  for (size_t i = 0; i < n && s->minibatch; i++)
    if (strcmp(ns->part[ns->n == 1 ? 0 : i], "minibatch") == 0) p->sigma[i] = 0.0;
  s->sigma = p->sigma;
  s->nsigma = n;
  return SDV_OK;
}

/* compressor: 1 or N specs, only for methods that compress ("identity" is the default). */
static int parse_compressor(parsed *p, sdv_model_spec *s, const char *text) {
  const size_t n = s->agents;
  if (!s->method->uses_compressor) {
    if (strcmp(text, "identity") != 0) {
      char names[256];
      return SDV_ERROR(SDV_EINVAL,
                       "compressor = '%s' is given, but the compressor is only used by %s "
                       "(method = %s)",
                       text, compressing_methods(names, sizeof names), s->method->name);
    }
    return SDV_OK;
  }
  spec_list specs;
  int rc = spec_list_split(&specs, text, "compressor");
  if (rc) goto done;
  if (specs.n != 1 && specs.n != n) {
    rc = SDV_ERROR(SDV_EINVAL, "compressor = '%s' has %zu specs; expected 1 or %zu (agents)",
                   text, specs.n, n);
    goto done;
  }
  if (!(p->comp = calloc(specs.n, sizeof *p->comp))) {
    rc = SDV_ERROR(SDV_ENOMEM, "out of memory");
    goto done;
  }
  p->ncomp = specs.n;
  for (size_t k = 0; k < specs.n; k++)
    if ((rc = sdv_compressor_alloc(&p->comp[k], specs.part[k], s->dim))) {
      rc = wrap_error(rc, "compressor", specs.part[k]);
      goto done;
    }
  s->compressor = (const sdv_compressor *const *)p->comp;
  s->ncompressor = p->ncomp;
done:
  spec_list_clear(&specs);
  return rc;
}

/* x0: 1 or d values. */
static int parse_x0(parsed *p, sdv_model_spec *s, const char *text) {
  size_t count;
  int rc = sdv_parse_double_list(text, "x0", &p->x0, &count);
  if (rc) return rc;
  if (count != 1 && count != s->dim)
    return SDV_ERROR(SDV_EINVAL, "x0 = '%s' has %zu values; expected 1 or %zu (dim)", text, count,
                     s->dim);
  s->x0 = p->x0;
  s->nx0 = count;
  return SDV_OK;
}

/* NULL option strings mean the default, so a zeroed options struct is not a crash. */
static const char *or_default(const char *s, const char *def) { return s ? s : def; }

int sdv_model_alloc(sdv_model **out, const sdv_model_options *o) {
  if (!out) return SDV_ERROR(SDV_EINVAL, "sdv_model_alloc: out is NULL");
  *out = NULL;
  if (!o) return SDV_ERROR(SDV_EINVAL, "sdv_model_alloc: options are NULL");
  const char *method = or_default(o->method, "dsgd");
  sdv_model_spec s;
  sdv_model_spec_default(&s);
  if (!(s.method = sdv_method_type_from_name(method))) {
    char names[256];
    return SDV_ERROR(SDV_EINVAL, "method = '%s' is unknown (known: %s)", method,
                     method_names(names, sizeof names));
  }
  s.dim = o->dim;
  s.agents = o->agents;
  s.batch = o->batch;
  s.eta = o->eta;
  s.seed = o->seed;
  s.sde_route = o->sde_route;
  s.diffusion_scale = o->diffusion_scale;
  s.literal = o->literal;
  s.shards = or_default(o->shards, "iid");
  int rc = check_scalars(&s, s.method);
  if (rc) return rc;
  const char *objective = or_default(o->objective, "quadratic:lam=1");
  sdv_objective *obj = NULL;
  if ((rc = sdv_objective_alloc(&obj, objective, s.dim))) return wrap_error(rc, "objective", objective);
  s.objective = obj;
  parsed p = {0};
  if ((rc = parse_noise(&p, &s, or_default(o->noise, "gaussian"))) ||
      (rc = parse_sigma(&p, &s, or_default(o->sigma, "1"))) ||
      (rc = parse_compressor(&p, &s, or_default(o->compressor, "identity"))) ||
      (rc = parse_x0(&p, &s, or_default(o->x0, "1"))))
    goto done;
  const text_extras tx = {.objective = objective,
                          .noise = (const char *const *)p.noise_specs.part,
                          .nnoise = p.noise_specs.n};
  rc = model_build(out, &s, &tx, true);
done:
  if (rc) sdv_objective_free(obj); /* on success the model owns it */
  text_clear(&p);
  return rc;
}

/* ---- the typed API (sdv/model.h) ---- */

void sdv_model_spec_default(sdv_model_spec *s) {
  memset(s, 0, sizeof *s);
  s->agents = 1;
  s->batch = 1;
  s->eta = 0.1;
  s->seed = 1;
  s->sde_route = SDV_SDE_AUTO;
  s->diffusion_scale = 1.0;
}

int sdv_model_alloc_spec(sdv_model **out, const sdv_model_spec *s) {
  if (!out) return SDV_ERROR(SDV_EINVAL, "sdv_model_alloc_spec: out is NULL");
  *out = NULL;
  if (!s) return SDV_ERROR(SDV_EINVAL, "sdv_model_alloc_spec: spec is NULL");
  return model_build(out, s, NULL, false);
}

void sdv_model_free(sdv_model *m) {
  if (!m) return;
  if (!m->objective_borrowed) sdv_objective_free(m->objective);
  if (m->noise)
    for (size_t i = 0; i < m->agents; i++) sdv_noise_free(m->noise[i]);
  if (m->compressor)
    for (size_t i = 0; i < m->agents; i++) sdv_compressor_free(m->compressor[i]);
  free(m->noise);
  free(m->compressor);
  free(m->sigma);
  free(m->var);
  free(m->scale);
  free(m->omega);
  free(m->x0);
  free(m->shard_start);
  free(m->shard_index);
  free(m->description);
  free(m);
}

void sdv_model_draw_noise_coupled(const sdv_model *m, size_t agent, sdv_stream *s, double *z,
                                  double *zn) {
  const sdv_noise *law = m->noise[agent];
  const size_t d = m->dim;
  const double scale = m->scale[agent];
  if (!isnan(scale)) { /* as sdv_model_draw_noise */
    sdv_noise_sample_coupled(law, s, z, zn, d);
    if (scale == 0.0)
      for (size_t j = 0; j < d; j++) z[j] = 0.0;
    else
      for (size_t j = 0; j < d; j++) z[j] *= scale;
    return;
  }
  const double f = m->sigma[agent] / (double)m->batch, c = 1.0 / sqrt((double)m->batch);
  for (size_t j = 0; j < d; j++) {
    double sum = 0.0, nsum = 0.0;
    for (size_t b = 0; b < m->batch; b++) {
      double t, n;
      sdv_noise_sample_coupled(law, s, &t, &n, 1);
      sum += t;
      nsum += n;
    }
    z[j] = f * sum;
    zn[j] = c * nsum;
  }
}

int sdv_model_step_coupled(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                           sdv_stream *comp, sdv_stream *aux, double *xi) {
  if (!m->method->step_coupled)
    return SDV_ERROR(SDV_ENOTSUP, "method '%s' has no coupled step (step_coupled)",
                     m->method->name);
  return m->method->step_coupled(m, w, x, noise, comp, aux, xi);
}

void sdv_model_draw_noise(const sdv_model *m, size_t agent, sdv_stream *s, double *z) {
  const sdv_noise *law = m->noise[agent];
  const size_t d = m->dim;
  const double scale = m->scale[agent];
  if (!isnan(scale)) {
    /* Drawn even when sigma_i = 0, so that an agent's draws do not depend on the other
     * agents' scales (common random numbers across models). */
    sdv_noise_sample_n(law, s, z, d);
    if (scale == 0.0)
      for (size_t j = 0; j < d; j++) z[j] = 0.0;
    else
      for (size_t j = 0; j < d; j++) z[j] *= scale;
    return;
  }
  /* The law of the mean of B draws is not a scaled T: average literally, coordinate by
   * coordinate (B draws for coordinate 0, then B for coordinate 1, ...). */
  const double f = m->sigma[agent] / (double)m->batch;
  for (size_t j = 0; j < d; j++) {
    double sum = 0.0;
    for (size_t b = 0; b < m->batch; b++) sum += sdv_noise_sample(law, s);
    z[j] = f * sum;
  }
}
