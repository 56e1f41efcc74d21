/* The one place that knows the differences between SUNDIALS 6 (Debian ships 6.4.1) and 7.
 *
 *  - SUNContext_Create takes a communicator: NULL in 6, SUN_COMM_NULL in 7.
 *  - sunrealtype exists in both (realtype is the deprecated 6.x name); we use sunrealtype and
 *    check below that it is double, since we pass double arrays to N_Vector data.
 *  - Errors: 6 prints through a per-solver handler (CVodeSetErrHandlerFn); 7 removed it and
 *    reports through handlers on the context. The library must never print, so
 *    sdv_sun_silence() installs a silent handler the version-appropriate way.
 */
#ifndef SDV_SUNDIALS_COMPAT_H
#define SDV_SUNDIALS_COMPAT_H

#include <cvode/cvode.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>
#include <sundials/sundials_types.h>
#include <sundials/sundials_version.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunmatrix/sunmatrix_dense.h>

#if !defined(SUNDIALS_DOUBLE_PRECISION)
#error "sdv needs SUNDIALS built with double precision (sunrealtype = double)"
#endif

#ifndef SUNDIALS_VERSION_MAJOR
#error "sundials_version.h did not define SUNDIALS_VERSION_MAJOR"
#endif

static inline int sdv_sun_context_create(SUNContext *ctx) {
#if SUNDIALS_VERSION_MAJOR >= 7
  return SUNContext_Create(SUN_COMM_NULL, ctx);
#else
  return SUNContext_Create(NULL, ctx);
#endif
}

#if SUNDIALS_VERSION_MAJOR < 7
static inline void sdv_sun_silent_(int code, const char *module, const char *function, char *msg,
                                   void *data) {
  (void)code;
  (void)module;
  (void)function;
  (void)msg;
  (void)data;
}
#endif

/* Stops CVODE from printing; returns 0 on success. */
static inline int sdv_sun_silence(SUNContext ctx, void *cvode_mem) {
#if SUNDIALS_VERSION_MAJOR >= 7
  (void)cvode_mem;
  return SUNContext_ClearErrHandlers(ctx);
#else
  (void)ctx;
  return CVodeSetErrHandlerFn(cvode_mem, sdv_sun_silent_, NULL);
#endif
}

#endif
