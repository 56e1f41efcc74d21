/* Interrupting `sdv verify`: SIGINT or SIGTERM in the middle of a run must stop it cleanly —
 * exit status 4, every completed check's CSV kept, the interrupted check's CSV not written,
 * summary.json written (atomically) with "complete": false, and no temporary file left. The
 * run is `--full` (about a minute) and the signal comes after 2 s, so it always lands inside
 * the run. Deterministic: no statistical tolerance is involved. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "testutil.h"

extern char **environ;

static void interrupt_run(int sig) {
  char dir[256], out[300], path[800];
  snprintf(dir, sizeof dir, "/tmp/sdv-test-interrupt.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(out, sizeof out, "%s/results", dir);
  char sdv[512];
  snprintf(sdv, sizeof sdv, "%s/verify/sdv", getenv("SDV_BUILD_ROOT"));
  char *argv[] = {sdv, "verify", "--full", "--out", out, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  ck_assert_int_eq(posix_spawn(&pid, sdv, &fa, NULL, argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  const struct timespec wait = {2, 0};
  nanosleep(&wait, NULL);
  ck_assert_int_eq(kill(pid, sig), 0);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status), "sdv verify died by signal %d", WTERMSIG(status));
  ck_assert_int_eq(WEXITSTATUS(status), 4);

  snprintf(path, sizeof path, "%s/summary.json", out);
  json_error_t err;
  json_t *root = json_load_file(path, 0, &err);
  ck_assert_msg(root != NULL, "summary.json: %s", err.text);
  ck_assert(json_is_false(json_object_get(root, "complete")));
  json_t *checks = json_object_get(root, "checks");
  ck_assert(json_is_array(checks));
  size_t i, interrupted = 0;
  json_t *c;
  json_array_foreach(checks, i, c) {
    const char *id = json_string_value(json_object_get(c, "id"));
    const char *st = json_string_value(json_object_get(c, "status"));
    snprintf(path, sizeof path, "%s/%s.csv", out, id);
    struct stat sb;
    const bool present = stat(path, &sb) == 0;
    if (strcmp(st, "done") == 0) ck_assert_msg(present, "%s done but its CSV is missing", id);
    if (strcmp(st, "interrupted") == 0) {
      interrupted++;
      ck_assert_msg(!present, "%s was interrupted but its CSV exists", id);
    }
  }
  ck_assert_uint_le(interrupted, 1); /* 0 if the signal fell between two checks */
  json_decref(root);
  /* No temporary file left behind; then clean up. */
  DIR *d = opendir(out);
  ck_assert_ptr_nonnull(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    ck_assert_msg(strstr(e->d_name, ".tmp.") == NULL, "temporary file left: %s", e->d_name);
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(path, sizeof path, "%s/%s", out, e->d_name);
      unlink(path);
    }
  }
  closedir(d);
  rmdir(out);
  rmdir(dir);
}

START_TEST(verify_sigint) { interrupt_run(SIGINT); }
END_TEST

START_TEST(verify_sigterm) { interrupt_run(SIGTERM); }
END_TEST

int main(void) {
  Suite *s = suite_create("cli-interrupt");
  TCase *tc = tcase_create("interrupt");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, verify_sigint);
  tcase_add_test(tc, verify_sigterm);
  suite_add_tcase(s, tc);
  return sdv_test_run(s);
}
