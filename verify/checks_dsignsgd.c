/* Claim-suite family "dsignsgd" (see verify/checks.h). */
#include "checks.h"

const sdv_check sdv_checks_dsignsgd[] = {
    {NULL, NULL, NULL, NULL},
};
