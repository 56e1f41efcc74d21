/* Shared building blocks for claim checks (verify/checks_*.c). */
#ifndef SDV_CHECKS_UTIL_H
#define SDV_CHECKS_UTIL_H

#include <sdv/model.h>
#include <sdv/weak.h>

#include "checks.h"

/* Runs a weak study with the context's threads and cancel flag, writes every row to ctx->csv (header "study,eta,t,step,observable,..."
 * on first use, with `label` in the study column), and returns the result. */
int sdv_check_weak(const sdv_check_ctx *ctx, const char *label, const sdv_model_options *disc,
                   const sdv_model_options *sde, const sdv_weak_options *wo,
                   sdv_weak_result **out);

/* Fills res from the first test of a weak study: measured = fitted order or the fluctuation
 * statistic, control = the ODE control. what selects "order" or "fluctuation". */
void sdv_check_from_weak(sdv_check_result *res, const sdv_weak_result *w, const char *what);

/* Appends formatted text to res->note (keeps what is there). */
void sdv_check_note(sdv_check_result *res, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
