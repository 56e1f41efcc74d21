/* Claim-suite family "weak" (see verify/checks.h). */
#include "checks.h"

const sdv_check sdv_checks_weak[] = {
    {NULL, NULL, NULL, NULL},
};
