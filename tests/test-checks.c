/* The claim suite's verdicts (verify/checks_util.c): PASS, FAIL and INCONCLUSIVE from a check's
 * result, and a weak study's verdicts turned into a check's. A correct model must never FAIL
 * for lack of data: where the harness cannot decide, the check is INCONCLUSIVE. Also how a
 * note writes a parameter (sdv_check_num). */
#include <math.h>
#include <string.h>

#include <check.h>

#include <sdv/weak.h>

#include "checks.h"
#include "checks_util.h"

START_TEST(verdict_of_result) {
  sdv_check_result r;
  memset(&r, 0, sizeof r);
  r.pass = true;
  r.control_rejected = true;
  ck_assert_str_eq(sdv_check_verdict(&r), "PASS");
  r.control_rejected = false; /* a Monte Carlo check without power proves nothing */
  ck_assert_str_eq(sdv_check_verdict(&r), "INCONCLUSIVE");
  r.exact = true; /* an exact check has no lack of data to blame */
  ck_assert_str_eq(sdv_check_verdict(&r), "FAIL");
  r.exact = false;
  r.pass = false;
  r.control_rejected = true;
  ck_assert_str_eq(sdv_check_verdict(&r), "FAIL");
  r.inconclusive = true;
  ck_assert_str_eq(sdv_check_verdict(&r), "INCONCLUSIVE");
  r.pass = true; /* a passing test is never "undecided" */
  ck_assert_str_eq(sdv_check_verdict(&r), "PASS");
}
END_TEST

/* One test row and one control, as sdv_weak_run fills them. */
static void weak_of(sdv_weak_result *w, sdv_weak_test *T, sdv_weak_control *C, sdv_weak_test *CT,
                    sdv_verdict order, bool resolved, sdv_verdict diffusion) {
  memset(w, 0, sizeof *w);
  memset(T, 0, sizeof *T);
  memset(C, 0, sizeof *C);
  memset(CT, 0, sizeof *CT);
  T->order_verdict = order;
  T->fluct_resolved = resolved;
  T->diffusion_verdict = diffusion;
  C->ntests = 1;
  C->tests = CT;
  C->rejected = true;
  w->ntests = 1;
  w->tests = T;
  w->ncontrols = 1;
  w->controls = C;
  w->verdict = SDV_VERDICT_INCONCLUSIVE;
}

START_TEST(from_weak) {
  sdv_weak_result w;
  sdv_weak_test T, CT;
  sdv_weak_control C;
  static const sdv_weak_row row; /* rows[0] is read for exactness */
  const struct {
    const char *what;
    sdv_verdict order;
    bool resolved;
    sdv_verdict diffusion;
    const char *want;
  } cases[] = {
      {"order", SDV_VERDICT_PASS, true, SDV_VERDICT_PASS, "PASS"},
      {"order", SDV_VERDICT_FAIL, true, SDV_VERDICT_PASS, "FAIL"},
      {"order", SDV_VERDICT_INCONCLUSIVE, true, SDV_VERDICT_PASS, "INCONCLUSIVE"},
      {"fluctuation", SDV_VERDICT_PASS, true, SDV_VERDICT_PASS, "PASS"},
      {"fluctuation", SDV_VERDICT_PASS, true, SDV_VERDICT_FAIL, "FAIL"},
      {"fluctuation", SDV_VERDICT_PASS, false, SDV_VERDICT_INCONCLUSIVE, "INCONCLUSIVE"},
      {"fluctuation", SDV_VERDICT_PASS, true, SDV_VERDICT_INCONCLUSIVE, "INCONCLUSIVE"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    weak_of(&w, &T, &C, &CT, cases[k].order, cases[k].resolved, cases[k].diffusion);
    w.nrows = 1;
    w.rows = (sdv_weak_row *)&row;
    sdv_check_result r;
    memset(&r, 0, sizeof r);
    sdv_check_from_weak(&r, &w, cases[k].what);
    ck_assert_msg(strcmp(sdv_check_verdict(&r), cases[k].want) == 0, "case %zu: %s, want %s", k,
                  sdv_check_verdict(&r), cases[k].want);
  }
}
END_TEST

/* The notes print parameters from the numbers the checks use: "%g", or a bare exponent where
 * that is shorter and exact, so "alpha = 1e-3" reads as the claims write it. */
START_TEST(note_numbers) {
  static const struct {
    double v;
    const char *want;
  } cases[] = {{1e-3, "1e-3"},   {1e-7, "1e-7"},   {1e-5, "1e-5"},      {1e6, "1e6"}, {1e5, "1e5"},
               {0.005, "5e-3"},  {2.385, "2.385"}, {0.45, "0.45"},      {16, "16"},   {100, "100"},
               {-3e-4, "-3e-4"}, {0.0, "0"},       {1.25e-3, "0.00125"}};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    char buf[32];
    ck_assert_str_eq(sdv_check_num(buf, sizeof buf, cases[k].v), cases[k].want);
  }
  char buf[32];
  ck_assert_str_eq(sdv_check_num(buf, sizeof buf, INFINITY), "inf");
  ck_assert_str_eq(sdv_check_num(buf, sizeof buf, NAN), "nan");
}
END_TEST

int main(void) {
  Suite *s = suite_create("checks");
  TCase *tc = tcase_create("verdicts");
  tcase_add_test(tc, verdict_of_result);
  tcase_add_test(tc, from_weak);
  suite_add_tcase(s, tc);
  TCase *tn = tcase_create("notes");
  tcase_add_test(tn, note_numbers);
  suite_add_tcase(s, tn);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
