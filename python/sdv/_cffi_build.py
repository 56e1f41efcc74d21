"""Generates the C source of sdv's Python extension module (cffi, API mode).

Run by meson at build time: `python3 _cffi_build.py OUT.c`. The declarations below list the
functions and the struct *fields* Python uses; every struct ends with `...;`, so the C
compiler takes the layouts from sdv's own headers when it builds the module: no layout is
copied here (issue 19). The module is compiled and linked against libsdv by meson
(python/meson.build).
"""
import sys

import cffi

CDEF = r"""
typedef int... sig_atomic_t;
typedef uint64_t sdv_u64;

const char *sdv_last_error(void);
const char *sdv_strerror(int status);
#define SDV_OK ...
#define SDV_EINVAL ...
#define SDV_ENOMEM ...
#define SDV_ENOTSUP ...
#define SDV_EDOM ...
#define SDV_ENUMERIC ...
#define SDV_ELIMIT ...
#define SDV_EIO ...
#define SDV_EINTR ...

typedef struct sdv_objective sdv_objective;
typedef struct sdv_noise sdv_noise;
typedef struct sdv_compressor { size_t dim; char *spec; ...; } sdv_compressor;
typedef struct { const char *name; const char *help; ...; } sdv_method_type;
typedef struct { const char *name; const char *help; ...; } sdv_integrator_type;
typedef struct { const char *name; const char *help; ...; } sdv_objective_type;
typedef struct { const char *name; const char *help; ...; } sdv_noise_type;
typedef struct { const char *name; const char *help; ...; } sdv_compressor_type;

int sdv_objective_alloc(sdv_objective **out, const char *spec, size_t dim);
typedef double sdv_objective_value_fn(void *user, size_t dim, const double *x);
typedef void sdv_objective_vector_fn(void *user, size_t dim, const double *x, double *out);
int sdv_objective_alloc_callback(sdv_objective **out, size_t dim, sdv_objective_value_fn *value,
                                 sdv_objective_vector_fn *gradient,
                                 sdv_objective_vector_fn *hessian, void *user);
void sdv_objective_free(sdv_objective *obj);
int sdv_noise_alloc(sdv_noise **out, const char *spec);
void sdv_noise_free(sdv_noise *n);
int sdv_compressor_alloc(sdv_compressor **out, const char *spec, size_t dim);
void sdv_compressor_free(sdv_compressor *c);

const sdv_method_type *sdv_method_type_from_name(const char *name);
size_t sdv_method_types(const sdv_method_type **list, size_t max);
size_t sdv_objective_types(const sdv_objective_type **list, size_t max);
size_t sdv_noise_types(const sdv_noise_type **list, size_t max);
size_t sdv_compressor_types(const sdv_compressor_type **list, size_t max);
size_t sdv_integrator_types(const sdv_integrator_type **list, size_t max);
const sdv_integrator_type *sdv_integrator_type_from_name(const char *name);

typedef enum { SDV_SDE_AUTO, SDV_SDE_SAMPLED } sdv_sde_route;
typedef struct {
  const sdv_method_type *method;
  size_t dim, agents, batch;
  double eta;
  uint64_t seed;
  const sdv_objective *objective;
  const sdv_noise *const *noise;
  size_t nnoise;
  const double *sigma;
  size_t nsigma;
  const sdv_compressor *const *compressor;
  size_t ncompressor;
  const double *x0;
  size_t nx0;
  sdv_sde_route sde_route;
  double diffusion_scale;
  bool literal;
  bool minibatch;
  const char *shards;
  ...;
} sdv_model_spec;
typedef struct { char *description; size_t dim; double eta; ...; } sdv_model;
const sdv_integrator_type *sdv_integrator_default(const sdv_model *m);
void sdv_model_spec_default(sdv_model_spec *s);
int sdv_model_alloc_spec(sdv_model **out, const sdv_model_spec *s);
void sdv_model_free(sdv_model *m);

typedef enum { SDV_OBS_F, SDV_OBS_NORM2, SDV_OBS_GRAD2, SDV_OBS_X, SDV_OBS_X2, SDV_OBS_USER }
    sdv_observable_kind;
typedef struct { sdv_observable_kind kind; size_t index; ...; } sdv_observable;
int sdv_observable_parse(sdv_observable *o, const char *text, size_t dim);

typedef enum { SDV_VERDICT_PASS, SDV_VERDICT_FAIL, SDV_VERDICT_INCONCLUSIVE } sdv_verdict;
const char *sdv_verdict_name(sdv_verdict v);
typedef enum { SDV_WEAK_COUPLING_CRN, SDV_WEAK_COUPLING_NONE } sdv_weak_coupling;
typedef struct {
  const double *eta;
  size_t neta;
  const double *times;
  size_t ntimes;
  const sdv_observable *obs;
  size_t nobs;
  size_t paths;
  size_t substeps;
  const sdv_integrator_type *integrator;
  double alpha;
  double order;
  bool exact;
  bool controls;
  size_t threads;
  volatile sig_atomic_t *cancel;
  sdv_weak_coupling coupling;
  ...;
} sdv_weak_options;
void sdv_weak_options_default(sdv_weak_options *o);
typedef struct {
  double mean, se;
  bool exact;
  double ref;
  uint64_t nonfinite;
  ...;
} sdv_weak_side;
typedef struct {
  double eta, t;
  size_t step, obs;
  sdv_weak_side disc, sde;
  double err, err_se, err_lo, err_hi;
  bool resolved;
  double fl_disc, fl_sde, fl_se;
  bool coupled;
  double vr;
  ...;
} sdv_weak_row;
typedef struct {
  size_t obs;
  double t;
  double slope, slope_se, slope_lo, slope_hi;
  sdv_verdict order_verdict;
  double limit, limit_se, intercept, intercept_se, rel, rel_lo, rel_hi;
  bool fluct_resolved;
  sdv_verdict diffusion_verdict;
  ...;
} sdv_weak_test;
typedef struct {
  double diffusion_scale;
  size_t ntests;
  sdv_weak_test *tests;
  bool rejected;
  ...;
} sdv_weak_control;
typedef struct {
  size_t nrows;
  sdv_weak_row *rows;
  size_t ntests;
  sdv_weak_test *tests;
  size_t ncontrols;
  sdv_weak_control *controls;
  sdv_verdict verdict;
  char summary[...];
  bool coupled;
  char coupling_note[...];
  ...;
} sdv_weak_result;
int sdv_weak_run_spec(const sdv_model_spec *disc, const sdv_model_spec *sde,
                      const sdv_weak_options *o, sdv_weak_result **out);
void sdv_weak_result_free(sdv_weak_result *r);

extern "Python" double _py_value(void *user, size_t dim, const double *x);
extern "Python" void _py_gradient(void *user, size_t dim, const double *x, double *out);

/* ---- random streams (the inline readers are compiled into the module from rng.h) ---- */
typedef struct sdv_stream { ...; } sdv_stream;
void sdv_stream_init(sdv_stream *s, uint64_t seed, uint64_t path, uint32_t purpose, uint32_t sub);
uint64_t sdv_stream_u64(sdv_stream *s);
double sdv_stream_uniform(sdv_stream *s);
size_t sdv_stream_below(sdv_stream *s, size_t n);
double sdv_stream_normal(sdv_stream *s);
void sdv_stream_normals(sdv_stream *s, double *out, size_t n);
double sdv_stream_sign(sdv_stream *s);
double sdv_stream_gamma(sdv_stream *s, double a);
size_t sdv_stream_binomial(sdv_stream *s, size_t n, double p);
#define SDV_PURPOSE_SAMPLING ...
#define SDV_PURPOSE_USER ...

/* ---- components written in Python (python/sdv/_components.py) ---- */
typedef struct sdv_params {
  char *name;
  size_t n;
  char *key[...];
  char *value[...];
  bool used[...];
  ...;
} sdv_params;
typedef struct { void *obj; ...; } sdvpy_state;
#define SDVPY_SLOTS ...
int sdvpy_error(int status, const char *message);
int sdvpy_compressor_register(int slot, const char *name, const char *help, bool linear,
                              bool covariance);
void sdvpy_compressor_hooks(int slot, bool linear, bool covariance);
int sdvpy_noise_register(int slot, const char *name, const char *help, bool sample_n,
                         bool sample_coupled);
void sdvpy_noise_hooks(int slot, bool sample_n, bool sample_coupled);
int sdv_noise_alloc_type(sdv_noise **out, const sdv_noise_type *type, const char *params);
const sdv_noise_type *sdv_noise_type_from_name(const char *name);
const sdv_compressor_type *sdv_compressor_type_from_name(const char *name);
int sdv_compressor_alloc_type(sdv_compressor **out, const sdv_compressor_type *type,
                              size_t dim, const char *params);
double sdvpy_compressor_omega(const sdv_compressor *c);
void sdvpy_compressor_apply(sdv_compressor *c, const double *v, double *out, sdv_stream *s);
double sdvpy_noise_sample(const sdv_noise *n, sdv_stream *s);
void sdvpy_stream_uniforms(sdv_stream *s, double *out, size_t n);
void sdv_noise_sample_n(const sdv_noise *n, sdv_stream *s, double *out, size_t count);
double sdv_noise_sign_var(const sdv_noise *n, double y);
double sdv_noise_ell(const sdv_noise *n);

extern "Python" int _pyc_init(int slot, void *state, size_t dim, sdv_params *params);
extern "Python" double _pyc_omega(void *obj, size_t dim);
extern "Python" void _pyc_apply(void *obj, size_t dim, const double *v, double *out,
                                sdv_stream *s);
extern "Python" int _pyc_linear(void *obj, size_t dim, double *a, double *c);
extern "Python" int _pyc_covariance(void *obj, size_t dim, const double *v, double *diag,
                                    double *beta, double *u);
extern "Python" int _pyn_init(int slot, void *state, sdv_params *params);
extern "Python" double _pyn_sample(void *obj, sdv_stream *s);
extern "Python" void _pyn_sample_n(void *obj, sdv_stream *s, double *out, size_t n);
extern "Python" void _pyn_sample_coupled(void *obj, sdv_stream *s, double *out, double *normal,
                                         size_t n);
extern "Python" double _pyn_scalar(void *obj, int which, double y);

/* ---- simulate (as verify/cmd_simulate.c: exact sides where available, else Monte Carlo) ---- */
const char *sdv_observable_name(const sdv_observable *o, char *buf, size_t len);
typedef enum { SDV_SIDE_DISCRETE, SDV_SIDE_SDE, SDV_SIDE_ODE, SDV_SIDE_NOISEFREE } sdv_side;
typedef struct sdv_exact_options sdv_exact_options;
typedef struct sdv_exact_info sdv_exact_info;
bool sdv_exact_available(const sdv_model *m, sdv_side side, const sdv_observable *obs,
                         bool stationary);
int sdv_exact_eval(const sdv_model *m, sdv_side side, const size_t *steps, size_t nt,
                   const sdv_observable *obs, size_t nobs, double *values,
                   const sdv_exact_options *opt, sdv_exact_info *info);
typedef enum { SDV_PROCESS_DISCRETE, SDV_PROCESS_SDE, SDV_PROCESS_COUPLED } sdv_process_kind;
typedef struct {
  sdv_process_kind kind;
  const sdv_integrator_type *integrator;
  size_t substeps;
  uint32_t sub;
  ...;
} sdv_process_options;
void sdv_process_options_default(sdv_process_options *o);
typedef struct sdv_process sdv_process;
int sdv_process_alloc(sdv_process **out, const sdv_model *m, const sdv_process_options *o);
void sdv_process_free(sdv_process *p);
typedef struct {
  size_t paths;
  int threads;
  volatile sig_atomic_t *cancel;
  ...;
} sdv_mc_options;
void sdv_mc_options_default(sdv_mc_options *o);
typedef struct sdv_mc_result sdv_mc_result;
typedef struct {
  uint64_t n;
  uint64_t nonfinite;
  double mean;
  double se;
  bool unstable;
  ...;
} sdv_mc_summary;
int sdv_mc_run(sdv_mc_result **out, const sdv_model *m, const sdv_process_options *po,
               const size_t *steps, size_t ntimes, const sdv_observable *obs, size_t nobs,
               const sdv_mc_options *o);
int sdv_mc_result_get(const sdv_mc_result *r, size_t t, size_t o, sdv_mc_summary *s);
void sdv_mc_result_free(sdv_mc_result *r);
const sdv_integrator_type *sdvpy_integrator_richardson(void);

/* ---- conformance (sdv compressor-check) ---- */
typedef struct {
  size_t samples;
  size_t vectors;
  uint64_t seed;
  double alpha;
  volatile sig_atomic_t *cancel;
  ...;
} sdv_conformance_options;
typedef struct {
  size_t vector;
  const char *what;
  double value;
  double bound;
  double se;
  int pass;
  ...;
} sdv_conformance_row;
typedef struct {
  size_t nrows;
  sdv_conformance_row *rows;
  int pass;
  char note[...];
  size_t stuck;
  int inconclusive;
  ...;
} sdv_conformance_report;
void sdv_conformance_options_default(sdv_conformance_options *o);
int sdv_compressor_conformance(const sdv_compressor *c, const sdv_conformance_options *o,
                               sdv_conformance_report **report);
void sdv_conformance_report_free(sdv_conformance_report *r);
"""

# C glue for components written in Python. sdv calls a type's init without telling it which
# type it is, so each of SDVPY_SLOTS slots has its own init function (generated by a macro)
# that passes its slot number to Python; every other function reads the instance's Python
# object (a cffi handle) from the state. One slot per registered Python class and kind.
GLUE = r"""
#include <stdlib.h>
#include <string.h>
#include <sdv/sdv.h>

#define SDVPY_SLOTS 16
/* The state of an instance of a Python component: a cffi handle to the Python instance,
 * kept alive by the Python side. Relocatable (sdv copies states with memcpy). */
typedef struct { void *obj; } sdvpy_state;

static int _pyc_init(int slot, void *state, size_t dim, sdv_params *params);
static double _pyc_omega(void *obj, size_t dim);
static void _pyc_apply(void *obj, size_t dim, const double *v, double *out, sdv_stream *s);
static int _pyc_linear(void *obj, size_t dim, double *a, double *c);
static int _pyc_covariance(void *obj, size_t dim, const double *v, double *diag, double *beta,
                           double *u);
static int _pyn_init(int slot, void *state, sdv_params *params);
static double _pyn_sample(void *obj, sdv_stream *s);
static void _pyn_sample_n(void *obj, sdv_stream *s, double *out, size_t n);
static void _pyn_sample_coupled(void *obj, sdv_stream *s, double *out, double *normal, size_t n);
static double _pyn_scalar(void *obj, int which, double y);

static int sdvpy_error(int status, const char *message) {
  return SDV_ERROR(status, "%s", message);
}

#define OBJ(state) (((const sdvpy_state *)(state))->obj)

/* ---- compressors ---- */
static size_t pyc_size(size_t dim) { (void)dim; return sizeof(sdvpy_state); }
static double pyc_omega(const void *st, size_t dim) { return _pyc_omega(OBJ(st), dim); }
static void pyc_apply(void *st, size_t dim, const double *v, double *out, sdv_stream *s) {
  _pyc_apply(OBJ(st), dim, v, out, s);
}
static int pyc_linear(const void *st, size_t dim, double *a, double *c) {
  return _pyc_linear(OBJ(st), dim, a, c);
}
static int pyc_covariance(const void *st, size_t dim, const double *v, double *diag,
                          double *beta, double *u) {
  return _pyc_covariance(OBJ(st), dim, v, diag, beta, u);
}

/* ---- noise laws ---- */
enum { PYN_CDF, PYN_SIGN_MEAN, PYN_SIGN_TAIL, PYN_DENSITY0, PYN_VARIANCE, PYN_BATCH_SCALE };
static double pyn_sample(const void *st, sdv_stream *s) { return _pyn_sample(OBJ(st), s); }
static void pyn_sample_n(const void *st, sdv_stream *s, double *out, size_t n) {
  _pyn_sample_n(OBJ(st), s, out, n);
}
static void pyn_sample_coupled(const void *st, sdv_stream *s, double *out, double *normal,
                               size_t n) {
  _pyn_sample_coupled(OBJ(st), s, out, normal, n);
}
static double pyn_cdf(const void *st, double y) { return _pyn_scalar(OBJ(st), PYN_CDF, y); }
static double pyn_sign_mean(const void *st, double y) {
  return _pyn_scalar(OBJ(st), PYN_SIGN_MEAN, y);
}
static double pyn_sign_tail(const void *st, double y) {
  return _pyn_scalar(OBJ(st), PYN_SIGN_TAIL, y);
}
static double pyn_density0(const void *st) { return _pyn_scalar(OBJ(st), PYN_DENSITY0, 0.0); }
static double pyn_variance(const void *st) { return _pyn_scalar(OBJ(st), PYN_VARIANCE, 0.0); }
static double pyn_batch_scale(const void *st, size_t batch) {
  return _pyn_scalar(OBJ(st), PYN_BATCH_SCALE, (double)batch);
}

/* ---- one init per slot ---- */
#define SDVPY_SLOT(k)                                                                   \
  static int pyc_init_##k(void *st, size_t dim, sdv_params *p) {                        \
    return _pyc_init(k, st, dim, p);                                                    \
  }                                                                                     \
  static int pyn_init_##k(void *st, sdv_params *p) { return _pyn_init(k, st, p); }
SDVPY_SLOT(0) SDVPY_SLOT(1) SDVPY_SLOT(2) SDVPY_SLOT(3) SDVPY_SLOT(4) SDVPY_SLOT(5)
SDVPY_SLOT(6) SDVPY_SLOT(7) SDVPY_SLOT(8) SDVPY_SLOT(9) SDVPY_SLOT(10) SDVPY_SLOT(11)
SDVPY_SLOT(12) SDVPY_SLOT(13) SDVPY_SLOT(14) SDVPY_SLOT(15)
static int (*const pyc_inits[SDVPY_SLOTS])(void *, size_t, sdv_params *) = {
    pyc_init_0, pyc_init_1, pyc_init_2, pyc_init_3, pyc_init_4, pyc_init_5,
    pyc_init_6, pyc_init_7, pyc_init_8, pyc_init_9, pyc_init_10, pyc_init_11,
    pyc_init_12, pyc_init_13, pyc_init_14, pyc_init_15};
static int (*const pyn_inits[SDVPY_SLOTS])(void *, sdv_params *) = {
    pyn_init_0, pyn_init_1, pyn_init_2, pyn_init_3, pyn_init_4, pyn_init_5,
    pyn_init_6, pyn_init_7, pyn_init_8, pyn_init_9, pyn_init_10, pyn_init_11,
    pyn_init_12, pyn_init_13, pyn_init_14, pyn_init_15};

/* The registered type tables (the registry keeps pointers to them: never freed). */
static sdv_compressor_type pyc_types[SDVPY_SLOTS];
static sdv_noise_type pyn_types[SDVPY_SLOTS];

static char *sdvpy_dup(const char *s) {
  char *d = malloc(strlen(s) + 1);
  if (d) strcpy(d, s);
  return d;
}

/* Optional hooks can change when a class is registered again under its name. */
static void sdvpy_compressor_hooks(int slot, bool linear, bool covariance) {
  pyc_types[slot].linear = linear ? pyc_linear : NULL;
  pyc_types[slot].covariance = covariance ? pyc_covariance : NULL;
}

static int sdvpy_compressor_register(int slot, const char *name, const char *help, bool linear,
                                     bool covariance) {
  if (slot < 0 || slot >= SDVPY_SLOTS)
    return SDV_ERROR(SDV_ELIMIT, "python compressor '%s': at most %d Python compressors", name,
                     SDVPY_SLOTS);
  sdv_compressor_type *t = &pyc_types[slot];
  if (!(t->name = sdvpy_dup(name)) || !(t->help = sdvpy_dup(help)))
    return SDV_ERROR(SDV_ENOMEM, "python compressor '%s': out of memory", name);
  t->size = pyc_size;
  t->init = pyc_inits[slot];
  t->omega = pyc_omega;
  t->apply = pyc_apply;
  sdvpy_compressor_hooks(slot, linear, covariance);
  return sdv_compressor_register(t);
}

static void sdvpy_noise_hooks(int slot, bool sample_n, bool sample_coupled) {
  pyn_types[slot].sample_n = sample_n ? pyn_sample_n : NULL;
  pyn_types[slot].sample_coupled = sample_coupled ? pyn_sample_coupled : NULL;
}

static int sdvpy_noise_register(int slot, const char *name, const char *help, bool sample_n,
                                bool sample_coupled) {
  if (slot < 0 || slot >= SDVPY_SLOTS)
    return SDV_ERROR(SDV_ELIMIT, "python noise law '%s': at most %d Python noise laws", name,
                     SDVPY_SLOTS);
  sdv_noise_type *t = &pyn_types[slot];
  if (!(t->name = sdvpy_dup(name)) || !(t->help = sdvpy_dup(help)))
    return SDV_ERROR(SDV_ENOMEM, "python noise law '%s': out of memory", name);
  t->size = sizeof(sdvpy_state);
  t->init = pyn_inits[slot];
  t->sample = pyn_sample;
  t->cdf = pyn_cdf;
  t->sign_mean = pyn_sign_mean;
  t->sign_tail = pyn_sign_tail;
  t->density0 = pyn_density0;
  t->variance = pyn_variance;
  t->batch_scale = pyn_batch_scale;
  sdvpy_noise_hooks(slot, sample_n, sample_coupled);
  return sdv_noise_register(t);
}

/* The inline entry points of the headers, for Python (one instance's functions). */
static double sdvpy_compressor_omega(const sdv_compressor *c) { return sdv_compressor_omega(c); }
static void sdvpy_compressor_apply(sdv_compressor *c, const double *v, double *out,
                                   sdv_stream *s) {
  sdv_compressor_apply(c, v, out, s);
}
static double sdvpy_noise_sample(const sdv_noise *n, sdv_stream *s) {
  return sdv_noise_sample(n, s);
}
static const sdv_integrator_type *sdvpy_integrator_richardson(void) {
  return sdv_integrator_richardson;
}
/* n calls of sdv_stream_uniform, in one call from Python. */
static void sdvpy_stream_uniforms(sdv_stream *s, double *out, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = sdv_stream_uniform(s);
}
"""


def builder():
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source("sdv._sdv", GLUE)
    return ffi


if __name__ == "__main__":
    out = sys.argv[1]
    builder().emit_c_code(out)
