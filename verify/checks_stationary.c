/* Claim-suite family "stationary" (see verify/checks.h). */
#include "checks.h"

const sdv_check sdv_checks_stationary[] = {
    {NULL, NULL, NULL, NULL},
};
