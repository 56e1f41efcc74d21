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
typedef struct sdv_compressor sdv_compressor;
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
  ...;
} sdv_model_spec;
typedef struct { char *description; ...; } sdv_model;
void sdv_model_spec_default(sdv_model_spec *s);
int sdv_model_alloc_spec(sdv_model **out, const sdv_model_spec *s);
void sdv_model_free(sdv_model *m);

typedef struct { size_t index; ...; } sdv_observable;
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
"""


def builder():
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source("sdv._sdv", "#include <sdv/sdv.h>\n")
    return ffi


if __name__ == "__main__":
    out = sys.argv[1]
    builder().emit_c_code(out)
