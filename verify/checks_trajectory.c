#include "checks.h"
const sdv_check sdv_checks_trajectory[] = {{NULL, NULL, NULL, NULL}};
