/* sdv_bench: sdv on the four workloads of the NumPy baseline (bench/README.md).
 *
 * On f(x) = 0.5 sum_j lam_j x_j^2, lam = linspace(0.5, 2, d), x0 = 1 (every coordinate):
 *   w1  DCSGD, discrete, rand-k:k compressor, Gaussian noise sigma
 *   w2  DCSGD SDE, Euler-Maruyama with h = eta/m (exact rand-k covariance, O(d) square root)
 *   w3  DSignSGD, discrete, Student-t(nu) noise with scale sigma
 *   w4  DSignSGD SDE, Euler-Maruyama with h = eta/m
 * M paths through the Monte Carlo engine (sdv_mc_run), E f(x_K) with its standard error.
 * Output, one line in the baseline's format plus what sdv adds:
 *   w1 Ef=... se=... seconds=... threads=T paths=M literal=0 maxrss_kib=...
 * "seconds" is the wall time of sdv_mc_run alone (model construction excluded, as the
 * baseline excludes its imports); maxrss_kib is the process's peak resident set.
 *
 *   sdv_bench rng [--n N]   ns per uniform and per Gaussian draw from one stream, and their
 *                           ratio (the Gaussian must cost at most 2 uniforms).
 */
#include <errno.h>
#include <math.h>
#include <gsl/gsl_errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <sdv/errors.h>
#include <sdv/mc.h>
#include <sdv/model.h>
#include <sdv/process.h>
#include <sdv/rng.h>

typedef struct bench_args {
  const char *workload;
  size_t M, N, d, k, K, m;
  double nu, sigma, eta, x0;
  size_t seed;
  int threads;
  int literal;
  size_t n; /* rng draws */
} bench_args;

/* Wall time by default; --cpu measures this process's CPU time instead (all threads), which
 * is steadier on a shared machine but is not what a user waits for. */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now(void) {
  struct timespec ts;
  clock_gettime(bench_clock, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long maxrss_kib(void) {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: sdv_bench w1|w2|w3|w4 [--M 2048] [--N 8] [--d 64] [--k 8] [--nu 3]\n"
          "                 [--sigma 1] [--eta 0.01] [--K 100] [--m 4] [--x0 1] [--seed 1]\n"
          "                 [--threads 1] [--literal] [--cpu]\n"
          "       sdv_bench rng [--n 20000000] [--cpu]\n"
          "--literal simulates every agent (no exact shortcuts); --cpu reports CPU seconds.\n");
}

static int parse_size(const char *s, size_t *out) {
  char *end;
  errno = 0;
  const double v = strtod(s, &end); /* accepts 1e6 */
  if (errno || *end || !(v >= 0) || v > 1e15 || v != (double)(size_t)v) return -1;
  *out = (size_t)v;
  return 0;
}

static int parse_double(const char *s, double *out) {
  char *end;
  errno = 0;
  *out = strtod(s, &end);
  return errno || *end ? -1 : 0;
}

static int parse_args(int argc, char **argv, bench_args *a) {
  *a = (bench_args){.M = 2048,
                    .N = 8,
                    .d = 64,
                    .k = 8,
                    .K = 100,
                    .m = 4,
                    .nu = 3.0,
                    .sigma = 1.0,
                    .eta = 0.01,
                    .x0 = 1.0,
                    .seed = 1,
                    .threads = 1,
                    .n = 20000000};
  if (argc < 2) return -1;
  a->workload = argv[1];
  for (int i = 2; i < argc; i++) {
    const char *o = argv[i];
    if (strcmp(o, "--literal") == 0) {
      a->literal = 1;
      continue;
    }
    if (strcmp(o, "--cpu") == 0) {
      bench_clock = CLOCK_PROCESS_CPUTIME_ID;
      continue;
    }
    if (i + 1 >= argc) return -1;
    const char *v = argv[++i];
    size_t t;
    int rc = 0;
    if (strcmp(o, "--M") == 0)
      rc = parse_size(v, &a->M);
    else if (strcmp(o, "--N") == 0)
      rc = parse_size(v, &a->N);
    else if (strcmp(o, "--d") == 0)
      rc = parse_size(v, &a->d);
    else if (strcmp(o, "--k") == 0)
      rc = parse_size(v, &a->k);
    else if (strcmp(o, "--K") == 0)
      rc = parse_size(v, &a->K);
    else if (strcmp(o, "--m") == 0)
      rc = parse_size(v, &a->m);
    else if (strcmp(o, "--n") == 0)
      rc = parse_size(v, &a->n);
    else if (strcmp(o, "--seed") == 0)
      rc = parse_size(v, &a->seed);
    else if (strcmp(o, "--nu") == 0)
      rc = parse_double(v, &a->nu);
    else if (strcmp(o, "--sigma") == 0)
      rc = parse_double(v, &a->sigma);
    else if (strcmp(o, "--eta") == 0)
      rc = parse_double(v, &a->eta);
    else if (strcmp(o, "--x0") == 0)
      rc = parse_double(v, &a->x0);
    else if (strcmp(o, "--threads") == 0) {
      rc = parse_size(v, &t);
      a->threads = (int)t;
      if (t < 1 || t > 1024) rc = -1;
    } else
      rc = -1;
    if (rc) {
      fprintf(stderr, "sdv_bench: bad option or value: %s %s\n", o, v);
      return -1;
    }
  }
  return 0;
}

/* The bits of v, folded into a checksum that keeps the compiler from dropping a loop
 * without adding a floating-point dependency chain to what is timed. */
static inline uint64_t bits(double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  return b;
}

/* ns per draw of n uniforms, of n normals drawn in blocks of 256 (sdv_stream_normals, as the
 * SDE integrators draw them) and of n normals drawn one at a time, each from a fresh stream. */
static int bench_rng(const bench_args *a) {
  sdv_stream s;
  uint64_t sum = 0;
  double buf[256], tu = INFINITY, tn = INFINITY, tn1 = INFINITY;
  sdv_stream_init(&s, 1, 0, SDV_PURPOSE_USER, 3);
  sdv_stream_normals(&s, buf, 1); /* one-time table setup outside the clock */
  /* Best of 5 rounds, interleaved, so that a burst of load elsewhere hits all three alike. */
  for (int round = 0; round < 5; round++) {
    sdv_stream_init(&s, 1, (uint64_t)round, SDV_PURPOSE_USER, 0);
    double t = now();
    for (size_t i = 0; i < a->n; i++) sum ^= bits(sdv_stream_uniform(&s));
    tu = fmin(tu, now() - t);
    sdv_stream_init(&s, 1, (uint64_t)round, SDV_PURPOSE_USER, 1);
    t = now();
    for (size_t i = 0; i < a->n; i += 256) {
      const size_t c = a->n - i < 256 ? a->n - i : 256;
      sdv_stream_normals(&s, buf, c);
      for (size_t j = 0; j < c; j++) sum ^= bits(buf[j]);
    }
    tn = fmin(tn, now() - t);
    sdv_stream_init(&s, 1, (uint64_t)round, SDV_PURPOSE_USER, 2);
    t = now();
    for (size_t i = 0; i < a->n; i++) sum ^= bits(sdv_stream_normal(&s));
    tn1 = fmin(tn1, now() - t);
  }
  const double n = (double)a->n;
  printf(
      "rng n=%zu best of 5: uniform_ns=%.3f normals_ns=%.3f normal_ns=%.3f ratio=%.3f "
      "ratio_single=%.3f (checksum %016llx)\n",
      a->n, 1e9 * tu / n, 1e9 * tn / n, 1e9 * tn1 / n, tn / tu, tn1 / tu, (unsigned long long)sum);
  return 0;
}

static int set(sdv_model_options *o, const char *name, const char *value) {
  const int rc = sdv_model_options_set(o, name, value);
  if (rc) fprintf(stderr, "sdv_bench: %s\n", sdv_last_error());
  return rc;
}

static int bench_workload(const bench_args *a) {
  const char *w = a->workload;
  const int discrete = strcmp(w, "w1") == 0 || strcmp(w, "w3") == 0;
  const int dcsgd = strcmp(w, "w1") == 0 || strcmp(w, "w2") == 0;
  char num[64], comp[64], noise[64], sigma[64], x0[64];
  sdv_model_options o;
  sdv_model_options_default(&o);
  snprintf(num, sizeof num, "%zu", a->d);
  snprintf(comp, sizeof comp, "rand-k:k=%zu", a->k);
  snprintf(noise, sizeof noise, "student-t:nu=%.17g", a->nu);
  snprintf(sigma, sizeof sigma, "%.17g", a->sigma);
  snprintf(x0, sizeof x0, "%.17g", a->x0);
  o.method = dcsgd ? "dcsgd" : "dsignsgd";
  o.dim = a->d;
  o.agents = a->N;
  o.eta = a->eta;
  o.objective = "quadratic:lam=0.5..2";
  o.noise = dcsgd ? "gaussian" : noise;
  o.sigma = sigma;
  o.compressor = dcsgd ? comp : "identity";
  o.x0 = x0;
  o.seed = a->seed;
  if (a->literal && set(&o, "literal", "1")) return 2;
  sdv_model *model = NULL;
  sdv_mc_result *r = NULL;
  int rc = sdv_model_alloc(&model, &o);
  if (rc) {
    fprintf(stderr, "sdv_bench: model: %s\n", sdv_last_error());
    return 2;
  }
  sdv_process_options po;
  sdv_process_options_default(&po);
  if (!discrete) {
    po.kind = SDV_PROCESS_SDE;
    po.integrator = sdv_integrator_euler;
    po.substeps = a->m;
  }
  sdv_mc_options mo;
  sdv_mc_options_default(&mo);
  mo.paths = a->M;
  mo.threads = a->threads;
  mo.max_work = 1e18;
  const size_t steps[1] = {a->K};
  sdv_observable f = {.kind = SDV_OBS_F};
  const double t = now();
  rc = sdv_mc_run(&r, model, &po, steps, 1, &f, 1, &mo);
  const double seconds = now() - t;
  if (rc) {
    fprintf(stderr, "sdv_bench: run: %s\n", sdv_last_error());
    sdv_model_free(model);
    return 3;
  }
  sdv_mc_summary s;
  rc = sdv_mc_result_get(r, 0, 0, &s);
  if (!rc)
    printf("%s Ef=%.6g se=%.3g seconds=%.3f threads=%d paths=%zu literal=%d maxrss_kib=%ld\n", w,
           s.mean, s.se, seconds, a->threads, a->M, a->literal, maxrss_kib());
  sdv_mc_result_free(r);
  sdv_model_free(model);
  return rc ? 3 : 0;
}

int main(int argc, char **argv) {
  gsl_set_error_handler_off();
  bench_args a;
  if (parse_args(argc, argv, &a)) {
    usage(stderr);
    return 2;
  }
  if (strcmp(a.workload, "rng") == 0) return bench_rng(&a);
  if (strcmp(a.workload, "w1") && strcmp(a.workload, "w2") && strcmp(a.workload, "w3") &&
      strcmp(a.workload, "w4")) {
    usage(stderr);
    return 2;
  }
  return bench_workload(&a);
}
