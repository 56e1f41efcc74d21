/* Quick tests of the Monte Carlo distributor (lib/mc/distribute.c) without MPI: R "ranks"
 * are R threads of this process, each with its own distributor (the setting is per thread),
 * exchanging through an in-process allgather built on a barrier. Checked: the block split
 * (reference nb = 10, R = 4 -> [0,2) [2,5) [5,7) [7,10)), the same bits as one process for
 * any R (also R > blocks) and 1 or 2 threads per rank, errors that travel to every rank with
 * one message, a rank that leaves early (nobody waits for it), a failed exchange, invalid
 * distributors, and that other threads run undistributed. No statistics: every comparison
 * is exact. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/mc.h>

#include "testutil.h"

#define RMAX 8
/* The exchange record's head (distribute.c: magic, kind, status): a part's packed result
 * follows it. */
#define RECORD_HEAD 16

/* ---- the in-process world ---- */

typedef struct world {
  size_t R;
  pthread_barrier_t barrier;
  const void *data[RMAX];
  size_t len[RMAX];
  bool fail;                  /* the transport fails (every rank sees it) */
  size_t calls[RMAX];         /* exchanges per rank */
  unsigned char *first[RMAX]; /* each rank's record in the first exchange */
  size_t first_len[RMAX];
} world;

typedef struct rank_ctx {
  world *w;
  size_t rank;
} rank_ctx;

static int fake_allgather(void *user, const void *mine, size_t len, void **all, size_t *lens) {
  rank_ctx *c = user;
  world *w = c->w;
  w->data[c->rank] = mine;
  w->len[c->rank] = len;
  if (w->calls[c->rank]++ == 0) {
    w->first[c->rank] = malloc(len);
    memcpy(w->first[c->rank], mine, len);
    w->first_len[c->rank] = len;
  }
  pthread_barrier_wait(&w->barrier);
  int rc = 0;
  if (w->fail) {
    rc = -7;
  } else {
    size_t total = 0;
    for (size_t r = 0; r < w->R; r++) total += w->len[r];
    unsigned char *buf = malloc(total);
    ck_assert_ptr_nonnull(buf);
    for (size_t r = 0, off = 0; r < w->R; off += w->len[r], r++) {
      memcpy(buf + off, w->data[r], w->len[r]);
      lens[r] = w->len[r];
    }
    *all = buf;
  }
  pthread_barrier_wait(&w->barrier); /* nobody's buffer is reused before all have copied */
  return rc;
}

static void world_init(world *w, size_t R) {
  memset(w, 0, sizeof *w);
  w->R = R;
  pthread_barrier_init(&w->barrier, NULL, (unsigned)R);
}

static void world_free(world *w) {
  for (size_t r = 0; r < w->R; r++) free(w->first[r]);
  pthread_barrier_destroy(&w->barrier);
}

/* What one rank does, and what it got. */
typedef struct rank_job {
  rank_ctx ctx;
  void (*body)(struct rank_job *);
  const sdv_model *m;
  sdv_mc_options o;
  int rc, rc2, exit_code, agreed;
  size_t from;
  char msg[512];
  sdv_mc_result *res;
} rank_job;

static void *rank_main(void *arg) {
  rank_job *j = arg;
  const sdv_mc_distributor d = {
      .rank = j->ctx.rank, .size = j->ctx.w->R, .allgather = fake_allgather, .user = &j->ctx};
  ck_assert_int_eq(sdv_mc_set_distributor(&d), SDV_OK);
  j->body(j);
  return NULL;
}

/* Runs body on R rank threads; jobs[r] come back filled in. */
static void run_world(world *w, rank_job *jobs, void (*body)(rank_job *)) {
  pthread_t t[RMAX];
  for (size_t r = 0; r < w->R; r++) {
    jobs[r].ctx = (rank_ctx){.w = w, .rank = r};
    jobs[r].body = body;
    ck_assert_int_eq(pthread_create(&t[r], NULL, rank_main, &jobs[r]), 0);
  }
  for (size_t r = 0; r < w->R; r++) pthread_join(t[r], NULL);
}

/* ---- the Monte Carlo problem ---- */

static const size_t STEPS[3] = {0, 3, 10};
static const sdv_observable OBS[2] = {{.kind = SDV_OBS_F}, {.kind = SDV_OBS_X2, .index = 1}};

static sdv_model *model(void) {
  const char *const kv[] = {
      "method", "dcsgd",      "dim",        "2",          "agents", "3",
      "eta",    "0.2385",     "compressor", "rand-k:k=1", "noise",  "student-t:nu=5",
      "x0",     "2.385,-1.1", "seed",       "7",          NULL};
  return sdv_test_model(kv);
}

static sdv_process_options process(void) {
  sdv_process_options po;
  sdv_process_options_default(&po);
  po.kind = SDV_PROCESS_SDE;
  po.substeps = 2;
  return po;
}

static void body_run(rank_job *j) {
  const sdv_process_options po = process();
  j->rc = sdv_mc_run(&j->res, j->m, &po, STEPS, 3, OBS, 2, &j->o);
  snprintf(j->msg, sizeof j->msg, "%s", j->rc ? sdv_last_error() : "");
}

/* Every summary field and every group accumulator, bit for bit. */
static void assert_same_bits(const sdv_mc_result *a, const sdv_mc_result *b, const char *what) {
  ck_assert(sdv_mc_result_complete(a) && sdv_mc_result_complete(b));
  for (size_t t = 0; t < 3; t++)
    for (size_t o = 0; o < 2; o++) {
      sdv_mc_summary x, y;
      ck_assert_int_eq(sdv_mc_result_get(a, t, o, &x), SDV_OK);
      ck_assert_int_eq(sdv_mc_result_get(b, t, o, &y), SDV_OK);
      ck_assert_msg(x.n == y.n && x.nonfinite == y.nonfinite && x.unstable == y.unstable,
                    "%s (t %zu, o %zu): counts differ", what, t, o);
      const double xs[] = {x.mean, x.se, x.var, x.mom, x.maxabs, x.tail_stat};
      const double ys[] = {y.mean, y.se, y.var, y.mom, y.maxabs, y.tail_stat};
      ck_assert_msg(memcmp(xs, ys, sizeof xs) == 0, "%s (t %zu, o %zu): mean %.17g vs %.17g", what,
                    t, o, x.mean, y.mean);
      ck_assert_msg(memcmp(sdv_mc_result_group_accs(a, t, o), sdv_mc_result_group_accs(b, t, o),
                           sdv_mc_result_groups(a) * sizeof(sdv_acc)) == 0,
                    "%s (t %zu, o %zu): group accumulators differ", what, t, o);
    }
}

static sdv_mc_options options(size_t paths, size_t groups, int threads) {
  sdv_mc_options o;
  sdv_mc_options_default(&o);
  o.paths = paths;
  o.block = 64;
  o.groups = groups;
  o.threads = threads;
  return o;
}

/* ---- split ---- */

START_TEST(test_split) {
  /* 640 paths, blocks of 64, 4 groups: nb = 10. */
  sdv_model *m = model();
  world w;
  world_init(&w, 4);
  rank_job jobs[4] = {0};
  for (size_t r = 0; r < 4; r++) {
    jobs[r].m = m;
    jobs[r].o = options(640, 4, 1);
  }
  ck_assert_uint_eq(sdv_mc_blocks(&jobs[0].o), 10);
  run_world(&w, jobs, body_run);
  const size_t want[5] = {0, 2, 5, 7, 10};
  for (size_t r = 0; r < 4; r++) {
    ck_assert_int_eq(jobs[r].rc, SDV_OK);
    ck_assert_uint_eq(w.calls[r], 1);
    sdv_mc_result *part = NULL;
    ck_assert_int_eq(
        sdv_mc_result_unpack(&part, w.first[r] + RECORD_HEAD, w.first_len[r] - RECORD_HEAD),
        SDV_OK);
    size_t b0, b1;
    sdv_mc_result_range(part, &b0, &b1);
    ck_assert_msg(b0 == want[r] && b1 == want[r + 1], "rank %zu ran [%zu, %zu)", r, b0, b1);
    sdv_mc_result_free(part);
    size_t c0, c1;
    sdv_mc_result_range(jobs[r].res, &c0, &c1);
    ck_assert(c0 == 0 && c1 == 10); /* every rank holds the complete result */
    sdv_mc_result_free(jobs[r].res);
  }
  world_free(&w);
  sdv_model_free(m);
}
END_TEST

/* ---- same bits as one process ---- */

START_TEST(test_same_bits) {
  /* _i: threads per rank 1 or 2. R = 7 > 5 blocks leaves ranks with empty ranges. */
  const int threads = 1 + _i;
  sdv_model *m = model();
  const sdv_process_options po = process();
  const size_t paths[2] = {2385, 300}; /* 38 blocks, 5 blocks */
  for (size_t p = 0; p < 2; p++) {
    sdv_mc_options o = options(paths[p], 4, 1);
    sdv_mc_result *ref = NULL;
    ck_assert_int_eq(sdv_mc_run(&ref, m, &po, STEPS, 3, OBS, 2, &o), SDV_OK);
    const size_t Rs[4] = {2, 3, 4, 7};
    for (size_t k = 0; k < 4; k++) {
      world w;
      world_init(&w, Rs[k]);
      rank_job jobs[RMAX] = {0};
      for (size_t r = 0; r < Rs[k]; r++) {
        jobs[r].m = m;
        jobs[r].o = options(paths[p], 4, threads);
      }
      run_world(&w, jobs, body_run);
      for (size_t r = 0; r < Rs[k]; r++) {
        ck_assert_msg(jobs[r].rc == SDV_OK, "R %zu rank %zu: %s", Rs[k], r, jobs[r].msg);
        char what[64];
        snprintf(what, sizeof what, "M %zu R %zu rank %zu threads %d", paths[p], Rs[k], r, threads);
        assert_same_bits(ref, jobs[r].res, what);
        sdv_mc_result_free(jobs[r].res);
      }
      world_free(&w);
    }
    sdv_mc_result_free(ref);
  }
  sdv_model_free(m);
}
END_TEST

/* ---- errors travel to every rank ---- */

static volatile sig_atomic_t stop_flag = 1;

START_TEST(test_errors) {
  sdv_model *m = model();
  const sdv_process_options po = process();
  /* (a) an invalid option: every rank fails alike, with one process's message. */
  sdv_mc_options bad = options(2385, 4, 1);
  bad.tail_c = -2.385;
  sdv_mc_result *none = NULL;
  ck_assert_int_eq(sdv_mc_run(&none, m, &po, STEPS, 3, OBS, 2, &bad), SDV_EINVAL);
  char single[512];
  snprintf(single, sizeof single, "%s", sdv_last_error());
  /* (b) the work guard counts all paths: a run too big for one process is too big for 3,
   * though each rank's share would pass. (c) a failure on rank 2 only (its own cancel flag):
   * every rank returns it. */
  sdv_mc_options big = options(2385, 4, 1);
  big.max_work = 1.0; /* the guard's message gives the run's updates: allow 0.9 of them */
  ck_assert_int_eq(sdv_mc_run(&none, m, &po, STEPS, 3, OBS, 2, &big), SDV_ELIMIT);
  double updates = 0.0;
  ck_assert_int_eq(sscanf(sdv_last_error(), "mc: about %lg", &updates), 1);
  big.max_work = 0.9 * updates;
  ck_assert_int_eq(sdv_mc_run(&none, m, &po, STEPS, 3, OBS, 2, &big), SDV_ELIMIT);
  char guard[512];
  snprintf(guard, sizeof guard, "%s", sdv_last_error());
  for (int c = 0; c < 3; c++) {
    world w;
    world_init(&w, 3);
    rank_job jobs[3] = {0};
    for (size_t r = 0; r < 3; r++) {
      jobs[r].m = m;
      jobs[r].o = c == 0 ? bad : c == 1 ? big : options(2385, 4, 1);
    }
    if (c == 2) jobs[2].o.cancel = &stop_flag;
    run_world(&w, jobs, body_run);
    for (size_t r = 0; r < 3; r++) {
      const int want = c == 0 ? SDV_EINVAL : c == 1 ? SDV_ELIMIT : SDV_EINTR;
      ck_assert_msg(jobs[r].rc == want, "case %d rank %zu: %d (%s)", c, r, jobs[r].rc, jobs[r].msg);
      ck_assert_ptr_null(jobs[r].res);
      ck_assert_str_eq(jobs[r].msg, c == 0 ? single : c == 1 ? guard : jobs[0].msg);
    }
    if (c == 2) ck_assert_msg(strstr(jobs[0].msg, "cancelled"), "%s", jobs[0].msg);
    world_free(&w);
  }
  sdv_model_free(m);
}
END_TEST

/* ---- a rank that leaves early; everyone leaving together ---- */

static void body_leave_or_run(rank_job *j) {
  if (j->ctx.rank == 0) {
    j->agreed = sdv_mc_distributed_exit(j->exit_code, &j->from);
    return;
  }
  const sdv_process_options po = process();
  j->rc = sdv_mc_run(&j->res, j->m, &po, STEPS, 3, OBS, 2, &j->o);
  snprintf(j->msg, sizeof j->msg, "%s", sdv_last_error());
  j->rc2 = sdv_mc_run(&j->res, j->m, &po, STEPS, 3, OBS, 2, &j->o); /* no exchange now */
  j->agreed = sdv_mc_distributed_exit(j->exit_code, &j->from);
}

static void body_exit(rank_job *j) { j->agreed = sdv_mc_distributed_exit(j->exit_code, &j->from); }

START_TEST(test_exit) {
  sdv_model *m = model();
  world w;
  world_init(&w, 3);
  rank_job jobs[3] = {0};
  for (size_t r = 0; r < 3; r++) {
    jobs[r].m = m;
    jobs[r].o = options(700, 4, 1);
    jobs[r].exit_code = r == 0 ? 2 : 0;
  }
  run_world(&w, jobs, body_leave_or_run);
  for (size_t r = 0; r < 3; r++) {
    ck_assert_uint_eq(w.calls[r], 1); /* one exchange each: nobody waited for rank 0 again */
    ck_assert_int_eq(jobs[r].agreed, 2);
    ck_assert_uint_eq(jobs[r].from, 0);
    if (r > 0) {
      ck_assert_int_eq(jobs[r].rc, SDV_EINTR);
      ck_assert_int_eq(jobs[r].rc2, SDV_EINTR);
      ck_assert_ptr_null(jobs[r].res);
      ck_assert_msg(strstr(jobs[r].msg, "rank 0 has left"), "%s", jobs[r].msg);
    }
  }
  world_free(&w);

  /* Together: the first non-zero code in rank order; all zero gives 0 from = size. */
  const int codes[2][3] = {{0, 3, 1}, {0, 0, 0}};
  for (int k = 0; k < 2; k++) {
    world_init(&w, 3);
    rank_job all[3] = {0};
    for (size_t r = 0; r < 3; r++) all[r].exit_code = codes[k][r];
    run_world(&w, all, body_exit);
    for (size_t r = 0; r < 3; r++) {
      ck_assert_int_eq(all[r].agreed, k == 0 ? 3 : 0);
      ck_assert_uint_eq(all[r].from, k == 0 ? 1 : 3);
    }
    world_free(&w);
  }
  sdv_model_free(m);
}
END_TEST

/* ---- a failed exchange ---- */

START_TEST(test_transport_failure) {
  sdv_model *m = model();
  world w;
  world_init(&w, 2);
  w.fail = true;
  rank_job jobs[2] = {0};
  for (size_t r = 0; r < 2; r++) {
    jobs[r].m = m;
    jobs[r].o = options(700, 4, 1);
  }
  run_world(&w, jobs, body_run);
  for (size_t r = 0; r < 2; r++) {
    ck_assert_int_eq(jobs[r].rc, SDV_EIO);
    ck_assert_msg(strstr(jobs[r].msg, "exchange failed (status -7)"), "%s", jobs[r].msg);
  }
  world_free(&w);
  sdv_model_free(m);
}
END_TEST

/* ---- setting it: invalid distributors, size 1, other threads ---- */

static int never(void *user, const void *mine, size_t len, void **all, size_t *lens) {
  ck_abort_msg("a single process must not exchange");
  return 0;
}

static void *plain_thread(void *arg) {
  rank_job *j = arg;
  body_run(j);
  return NULL;
}

START_TEST(test_setting) {
  sdv_mc_distributor d = {.rank = 0, .size = 0, .allgather = never};
  ck_assert_int_eq(sdv_mc_set_distributor(&d), SDV_EINVAL);
  ck_assert_msg(strstr(sdv_last_error(), "size = 0"), "%s", sdv_last_error());
  d.size = 3;
  d.rank = 3;
  ck_assert_int_eq(sdv_mc_set_distributor(&d), SDV_EINVAL);
  ck_assert_msg(strstr(sdv_last_error(), "rank = 3 must be < size = 3"), "%s", sdv_last_error());
  d.rank = 1;
  d.allgather = NULL;
  ck_assert_int_eq(sdv_mc_set_distributor(&d), SDV_EINVAL);
  ck_assert_int_eq(sdv_mc_set_distributor(NULL), SDV_OK);

  /* Size 1: a plain run, no exchange; exit returns the code from rank 0. */
  sdv_model *m = model();
  const sdv_process_options po = process();
  sdv_mc_options o = options(700, 4, 2);
  sdv_mc_result *ref = NULL, *one = NULL;
  ck_assert_int_eq(sdv_mc_run(&ref, m, &po, STEPS, 3, OBS, 2, &o), SDV_OK);
  const sdv_mc_distributor solo = {.rank = 0, .size = 1, .allgather = never};
  ck_assert_int_eq(sdv_mc_set_distributor(&solo), SDV_OK);
  ck_assert_int_eq(sdv_mc_run(&one, m, &po, STEPS, 3, OBS, 2, &o), SDV_OK);
  assert_same_bits(ref, one, "size 1");
  size_t from = 99;
  ck_assert_int_eq(sdv_mc_distributed_exit(5, &from), 5);
  ck_assert_uint_eq(from, 0);

  /* A distributor of size 2 on this thread does not reach another thread's runs. */
  const sdv_mc_distributor pair = {.rank = 1, .size = 2, .allgather = never};
  ck_assert_int_eq(sdv_mc_set_distributor(&pair), SDV_OK);
  rank_job j = {.m = m, .o = o};
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, plain_thread, &j), 0);
  pthread_join(t, NULL);
  ck_assert_msg(j.rc == SDV_OK, "%s", j.msg);
  assert_same_bits(ref, j.res, "other thread");
  ck_assert_int_eq(sdv_mc_set_distributor(NULL), SDV_OK);
  sdv_mc_result_free(j.res);
  sdv_mc_result_free(one);
  sdv_mc_result_free(ref);
  sdv_model_free(m);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("distribute");
  TCase *tc = tcase_create("split");
  tcase_add_test(tc, test_split);
  suite_add_tcase(s, tc);
  tc = tcase_create("same bits");
  tcase_set_timeout(tc, 30);
  tcase_add_loop_test(tc, test_same_bits, 0, 2);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_set_timeout(tc, 20);
  tcase_add_test(tc, test_errors);
  suite_add_tcase(s, tc);
  tc = tcase_create("exit");
  tcase_set_timeout(tc, 20);
  tcase_add_test(tc, test_exit);
  suite_add_tcase(s, tc);
  tc = tcase_create("transport failure");
  tcase_add_test(tc, test_transport_failure);
  suite_add_tcase(s, tc);
  tc = tcase_create("setting");
  tcase_set_timeout(tc, 20);
  tcase_add_test(tc, test_setting);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(suite()); }
