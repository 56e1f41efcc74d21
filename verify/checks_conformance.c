/* Claim-suite family "conformance" (see verify/checks.h). */
#include "checks.h"

const sdv_check sdv_checks_conformance[] = {
    {NULL, NULL, NULL, NULL},
};
