#include "testutil.h"

#include <gsl/gsl_errno.h>
#include <stdlib.h>

int sdv_test_run(Suite *s) {
  gsl_set_error_handler_off();
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
