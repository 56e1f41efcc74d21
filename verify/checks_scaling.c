/* Claim-suite family "scaling" (see verify/checks.h). */
#include "checks.h"

const sdv_check sdv_checks_scaling[] = {
    {NULL, NULL, NULL, NULL},
};
