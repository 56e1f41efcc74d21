/* Claim-suite family "nonquadratic" (see verify/checks.h). */
#include "checks.h"

const sdv_check sdv_checks_nonquadratic[] = {
    {NULL, NULL, NULL, NULL},
};
