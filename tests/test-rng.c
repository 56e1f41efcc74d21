/* Streams: reference values, determinism, independence and the distributions of draws.
 * Statistical checks use fixed seeds; each states its false-failure rate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <Random123/philox.h>

#include <sdv/errors.h>
#include <sdv/noise.h>
#include <sdv/rng.h>
#include <sdv/stats.h>

#include "core/rng_blocks.h"

#include "testutil.h"

START_TEST(test_reference_values) {
  /* Random123's published known-answer vectors (kat_vectors) for the two generators. */
  philox4x64_ctr_t c = {{0, 0, 0, 0}};
  philox4x64_key_t k = {{0, 0}};
  philox4x64_ctr_t r = philox4x64(c, k);
  ck_assert_uint_eq(r.v[0], 0x16554d9eca36314cULL);
  ck_assert_uint_eq(r.v[3], 0x7e68b68aec7ba23bULL);
  const philox4x32_ctr_t c0 = {{0, 0, 0, 0}};
  const philox4x32_key_t k0 = {{0, 0}};
  const philox4x32_ctr_t r0 = philox4x32_R(10, c0, k0);
  ck_assert_uint_eq(r0.v[0], 0x6627e8d5u);
  ck_assert_uint_eq(r0.v[3], 0x9b00dbd8u);
  const philox4x32_ctr_t cp = {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
  const philox4x32_key_t kp = {{0xa4093822u, 0x299f31d0u}};
  const philox4x32_ctr_t rp = philox4x32_R(10, cp, kp);
  ck_assert_uint_eq(rp.v[0], 0xd16cfe09u);
  ck_assert_uint_eq(rp.v[3], 0x24126ea1u);
  /* The generators behind the blocks agree with those vectors too (key 0, tag 0, block 0). */
  uint64_t w[SDV_STREAM_WORDS];
  sdv_rng_blocks_portable(0, 0, 0, w);
  ck_assert_uint_eq(w[0], 0xe169c58d6627e8d5ULL);
  ck_assert_uint_eq(w[1], 0x9b00dbd8bc57ac4cULL);
  sdv_rng_blocks_avx2(0, 0, 0, w);
  ck_assert_uint_eq(w[0], 0xe169c58d6627e8d5ULL);
  ck_assert_uint_eq(w[1], 0x9b00dbd8bc57ac4cULL);
}
END_TEST

/* Block n of the stream named (seed, path, purpose, sub), recomputed with Random123 as
 * lib/core/rng.c documents it. */
static void ref_block(uint64_t seed, uint64_t path, uint32_t purpose, uint32_t sub, uint64_t n,
                      uint64_t w[2]) {
  const philox4x64_ctr_t c = {{((uint64_t)purpose << 32) | sub, 0, 0, 0}};
  const philox4x64_key_t k = {{seed, path}};
  const philox4x64_ctr_t name = philox4x64(c, k);
  const philox4x32_key_t key = {{(uint32_t)name.v[0], (uint32_t)(name.v[0] >> 32)}};
  const philox4x32_ctr_t ctr = {
      {(uint32_t)n, (uint32_t)(n >> 32), (uint32_t)name.v[1], (uint32_t)(name.v[1] >> 32)}};
  const philox4x32_ctr_t r = philox4x32_R(10, ctr, key);
  w[0] = (uint64_t)r.v[0] | (uint64_t)r.v[1] << 32;
  w[1] = (uint64_t)r.v[2] | (uint64_t)r.v[3] << 32;
}

START_TEST(test_stream_words_are_the_documented_blocks) {
  /* Across several refills, for a few stream names, including purpose and sub in the top
   * bits and a path of 2^63. */
  const uint64_t names[4][4] = {{1, 2, 0, 0},
                                {2385, 17, SDV_PURPOSE_NOISE, 3},
                                {UINT64_MAX, 1ULL << 63, SDV_PURPOSE_USER, UINT32_MAX},
                                {7, 0, SDV_PURPOSE_BROWNIAN, 1}};
  for (int q = 0; q < 4; q++) {
    sdv_stream s;
    sdv_stream_init(&s, names[q][0], names[q][1], (uint32_t)names[q][2], (uint32_t)names[q][3]);
    for (uint64_t n = 0; n < 3 * SDV_STREAM_BLOCKS + 5; n++) {
      uint64_t w[2];
      ref_block(names[q][0], names[q][1], (uint32_t)names[q][2], (uint32_t)names[q][3], n, w);
      ck_assert_uint_eq(sdv_stream_u64(&s), w[0]);
      ck_assert_uint_eq(sdv_stream_u64(&s), w[1]);
    }
  }
}
END_TEST

START_TEST(test_block_kernels_agree) {
  /* The AVX2 kernel (where the CPU has it; elsewhere the call falls back) and the portable
   * one give Random123's blocks, also where the block index carries into its high word
   * and with keys and tags that set every bit. */
  const uint64_t firsts[] = {0, 5, UINT32_MAX - 7, UINT32_MAX, (1ULL << 40) + 3, UINT64_MAX - 40};
  const uint64_t keys[][2] = {{0, 0}, {UINT64_MAX, UINT64_MAX}, {0x0123456789abcdefULL, 42}};
  uint64_t a[SDV_STREAM_WORDS], b[SDV_STREAM_WORDS];
  for (size_t f = 0; f < sizeof firsts / sizeof *firsts; f++)
    for (size_t q = 0; q < sizeof keys / sizeof *keys; q++) {
      sdv_rng_blocks_portable(keys[q][0], keys[q][1], firsts[f], a);
      sdv_rng_blocks_avx2(keys[q][0], keys[q][1], firsts[f], b);
      for (unsigned l = 0; l < SDV_STREAM_BLOCKS; l++) {
        const uint64_t n = firsts[f] + l;
        const philox4x32_key_t k = {{(uint32_t)keys[q][0], (uint32_t)(keys[q][0] >> 32)}};
        const philox4x32_ctr_t c = {
            {(uint32_t)n, (uint32_t)(n >> 32), (uint32_t)keys[q][1], (uint32_t)(keys[q][1] >> 32)}};
        const philox4x32_ctr_t r = philox4x32_R(10, c, k);
        const uint64_t w0 = (uint64_t)r.v[0] | (uint64_t)r.v[1] << 32;
        const uint64_t w1 = (uint64_t)r.v[2] | (uint64_t)r.v[3] << 32;
        ck_assert_uint_eq(a[2 * l], w0);
        ck_assert_uint_eq(a[2 * l + 1], w1);
        ck_assert_uint_eq(b[2 * l], w0);
        ck_assert_uint_eq(b[2 * l + 1], w1);
      }
    }
}
END_TEST

START_TEST(test_portable_switch) {
  /* SDV_RNG_PORTABLE=1 selects the portable kernel (the choice is made once per process;
   * sdv_rng_choose_kernel makes it again) and the stream's words do not change. */
  setenv("SDV_RNG_PORTABLE", "1", 1);
  sdv_rng_choose_kernel();
  ck_assert(!sdv_rng_have_avx2());
  sdv_stream s;
  sdv_stream_init(&s, 2385, 17, SDV_PURPOSE_NOISE, 3);
  for (uint64_t n = 0; n < 2 * SDV_STREAM_BLOCKS + 1; n++) {
    uint64_t w[2];
    ref_block(2385, 17, SDV_PURPOSE_NOISE, 3, n, w);
    ck_assert_uint_eq(sdv_stream_u64(&s), w[0]);
    ck_assert_uint_eq(sdv_stream_u64(&s), w[1]);
  }
  unsetenv("SDV_RNG_PORTABLE");
  sdv_rng_choose_kernel(); /* back to the CPU's choice for the tests after this one */
}
END_TEST

START_TEST(test_batch_binomials) {
  /* The internal batch draw equals one sdv_stream_binomial call per entry, in order, from
   * the same words (stream position checked after), for the one-word sizes and others, with
   * p of every kind: 0, negative, NaN (no draw), >= 1, on and off the byte grid. */
  const double ps[] = {0.3, 0.0, 0.5 / 256, NAN, 1.0, 100.9 / 256, -1.0, 0.999, 1e-300, 0.5};
  const size_t np = sizeof ps / sizeof *ps;
  const size_t ns[] = {0, 1, 3, 8, 9, 64, 300};
  double p[200], k[200];
  for (size_t i = 0; i < 200; i++) p[i] = ps[(i * 7 + i / 13) % np];
  for (size_t q = 0; q < sizeof ns / sizeof *ns; q++) {
    sdv_stream a, b;
    sdv_stream_init(&a, 3, q, SDV_PURPOSE_SAMPLING, 2);
    sdv_stream_init(&b, 3, q, SDV_PURPOSE_SAMPLING, 2);
    sdv_rng_binomials(&a, ns[q], p, 200, k);
    for (size_t i = 0; i < 200; i++)
      ck_assert_msg(k[i] == (double)sdv_stream_binomial(&b, ns[q], p[i]), "n %zu entry %zu", ns[q],
                    i);
    ck_assert_uint_eq(sdv_stream_u64(&a), sdv_stream_u64(&b));
  }
}
END_TEST

START_TEST(test_normal_kernels_agree) {
  /* The AVX2 batch normals (four words at a time where the CPU has it; elsewhere the call
   * falls back) and the portable loop: the same normals bit for bit, the stream at the same
   * position after every call, and nothing written outside the n requested (the AVX2 kernel
   * stores whole groups of four). Call lengths from 0 to 70 and now and then a few buffers'
   * worth, into outputs at every offset mod 4, so that rejected words (1.5% of them, some 4500
   * here) fall in every lane of a group and next to the ends of the buffer and of the request. */
  enum { CAP = 256, PAD = 4 };
  const double unwritten = 100.0; /* no normal: the largest is below 14 */
  double a[CAP + 2 * PAD], b[CAP + 2 * PAD];
  sdv_stream p, v;
  sdv_stream_init(&p, 11, 4, SDV_PURPOSE_BROWNIAN, 2);
  sdv_stream_init(&v, 11, 4, SDV_PURPOSE_BROWNIAN, 2);
  size_t total = 0;
  for (size_t call = 0; total < 300000; call++) {
    const size_t n = call % 23 == 0 ? 150 + call % 100 : (call * 37 + call / 7) % 71;
    const size_t o = PAD - call % 4;
    for (size_t k = 0; k < CAP + 2 * PAD; k++) a[k] = b[k] = unwritten;
    sdv_rng_normals_portable(&p, a + o, n);
    sdv_rng_normals_avx2(&v, b + o, n);
    size_t k = 0; /* the first slot that differs or is written (not) as it should be */
    while (k < CAP + 2 * PAD && memcmp(&a[k], &b[k], sizeof a[k]) == 0 &&
           (b[k] != unwritten) == (k >= o && k < o + n))
      k++;
    ck_assert_msg(k == CAP + 2 * PAD, "call %zu (n %zu) slot %zu (draw %td): %a, portable %a", call,
                  n, k, (ptrdiff_t)k - (ptrdiff_t)o, b[k], a[k]);
    ck_assert_uint_eq(p.next, v.next);
    ck_assert_uint_eq(p.avail, v.avail);
    total += n;
  }
}
END_TEST

START_TEST(test_same_key_same_numbers) {
  sdv_stream a, b;
  sdv_noise *t25 = NULL;
  ck_assert_int_eq(sdv_noise_alloc(&t25, "student-t:nu=2.5"), SDV_OK);
  sdv_stream_init(&a, 2385, 17, SDV_PURPOSE_NOISE, 3);
  sdv_stream_init(&b, 2385, 17, SDV_PURPOSE_NOISE, 3);
  for (int i = 0; i < 1000; i++) {
    ck_assert_uint_eq(sdv_stream_u64(&a), sdv_stream_u64(&b));
    ck_assert(sdv_stream_normal(&a) == sdv_stream_normal(&b));
    ck_assert(sdv_noise_sample(t25, &a) == sdv_noise_sample(t25, &b));
  }
  sdv_noise_free(t25);
  /* Re-initialising restarts the stream: a path can be regenerated alone. */
  sdv_stream_init(&a, 2385, 17, SDV_PURPOSE_NOISE, 3);
  sdv_stream_init(&b, 2385, 17, SDV_PURPOSE_NOISE, 3);
  sdv_stream_u64(&b);
  sdv_stream_init(&b, 2385, 17, SDV_PURPOSE_NOISE, 3);
  ck_assert_uint_eq(sdv_stream_u64(&a), sdv_stream_u64(&b));
}
END_TEST

START_TEST(test_keys_separate_streams) {
  /* Streams that differ in one key component: no equal words, and sample correlation
   * within 4.5 standard errors of 0 (each of 4 comparisons: false-failure rate 7e-6). */
  const uint64_t keys[5][4] = {
      {5, 9, 1, 0}, {6, 9, 1, 0}, {5, 10, 1, 0}, {5, 9, 2, 0}, {5, 9, 1, 1}};
  const int n = 20000;
  for (int k = 1; k < 5; k++) {
    sdv_stream a, b;
    sdv_stream_init(&a, keys[0][0], keys[0][1], (uint32_t)keys[0][2], (uint32_t)keys[0][3]);
    sdv_stream_init(&b, keys[k][0], keys[k][1], (uint32_t)keys[k][2], (uint32_t)keys[k][3]);
    double sxy = 0;
    for (int i = 0; i < n; i++) {
      double x = sdv_stream_uniform(&a) - 0.5, y = sdv_stream_uniform(&b) - 0.5;
      sxy += x * y;
    }
    /* Var(xy) = (1/12)^2 for independent uniforms centred at their mean. */
    const double z = (sxy / n) / (1.0 / 12.0 / sqrt(n));
    ck_assert_msg(fabs(z) < 4.5, "streams %d vs 0 correlate: z = %g", k, z);
  }
}
END_TEST

START_TEST(test_uniform_open_interval) {
  sdv_stream s;
  sdv_stream_init(&s, 11, 0, SDV_PURPOSE_AUX, 0);
  sdv_acc acc;
  sdv_acc_reset(&acc);
  for (int i = 0; i < 100000; i++) {
    double u = sdv_stream_uniform(&s);
    ck_assert(u > 0.0 && u < 1.0);
    sdv_acc_add(&acc, u);
  }
  /* 4.5 standard errors: false-failure rate 7e-6. */
  ck_assert_msg(fabs(sdv_acc_mean(&acc) - 0.5) < 4.5 * sdv_acc_se(&acc), "mean %g",
                sdv_acc_mean(&acc));
  ck_assert_close(sdv_acc_var(&acc), 1.0 / 12.0, 0.002);
}
END_TEST

START_TEST(test_below_uniform) {
  /* Chi-square over 7 cells (6 dof); 30 is beyond the 1 - 1e-5 quantile (~ 27.9),
   * so the false-failure rate is below 1e-5. */
  sdv_stream s;
  sdv_stream_init(&s, 12, 0, SDV_PURPOSE_AUX, 0);
  size_t count[7] = {0};
  const int n = 70000;
  for (int i = 0; i < n; i++) {
    size_t v = sdv_stream_below(&s, 7);
    ck_assert_uint_lt(v, 7);
    count[v]++;
  }
  double chi2 = 0;
  for (int c = 0; c < 7; c++) chi2 += pow((double)count[c] - n / 7.0, 2) / (n / 7.0);
  ck_assert_msg(chi2 < 30.0, "chi2 = %g", chi2);
  ck_assert_uint_eq(sdv_stream_below(&s, 1), 0);
}
END_TEST

/* Kolmogorov-Smirnov: sqrt(n) D_n < 2.225 has false-failure rate 1e-4 (2 exp(-2 x^2)). */
static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static double ks_stat(double *x, size_t n, double (*cdf)(double, double), double par) {
  qsort(x, n, sizeof *x, cmp);
  double d = 0;
  for (size_t i = 0; i < n; i++) {
    double F = cdf(x[i], par);
    d = fmax(d, fmax(fabs(F - (double)i / n), fabs((double)(i + 1) / n - F)));
  }
  return sqrt((double)n) * d;
}
static double gauss_cdf(double x, double unused) {
  (void)unused;
  return gsl_cdf_ugaussian_P(x);
}
static double t_cdf(double x, double nu) { return gsl_cdf_tdist_P(x, nu); }
static double gamma_cdf(double x, double a) { return gsl_cdf_gamma_P(x, a, 1.0); }

START_TEST(test_normal_distribution) {
  enum { n = 200000 };
  static double x[n];
  sdv_stream s;
  sdv_stream_init(&s, 13, 4, SDV_PURPOSE_BROWNIAN, 0);
  sdv_stream_normals(&s, x, n);
  /* Block and single draws agree. */
  sdv_stream t;
  sdv_stream_init(&t, 13, 4, SDV_PURPOSE_BROWNIAN, 0);
  for (int i = 0; i < 100; i++) ck_assert(sdv_stream_normal(&t) == x[i]);
  /* Tail mass beyond the ziggurat base |x| > R = 3.654 is 2Q(R) = 2.6e-4: the count is
   * Binomial(n, p), mean 52; accept within 5 standard deviations (false-failure rate about
   * 2e-6, from the Poisson upper tail). */
  size_t tail = 0;
  for (int i = 0; i < n; i++) tail += fabs(x[i]) > 3.6541528853610088;
  const double p = 2 * gsl_cdf_ugaussian_Q(3.6541528853610088);
  ck_assert_msg(fabs(tail - n * p) < 5 * sqrt(n * p * (1 - p)), "tail %zu vs %g", tail, n * p);
  double ks = ks_stat(x, n, gauss_cdf, 0);
  ck_assert_msg(ks < 2.225, "KS normal %g", ks);
}
END_TEST

/* Student-t and Cauchy draws on sdv streams come from the noise laws (one sampler per law):
 * their block draws (sdv_noise_sample_n) follow t_nu by the same KS test. */
START_TEST(test_student_t_and_cauchy_distribution) {
  enum { n = 20000 };
  static double x[n];
  const char *specs[] = {"student-t:nu=0.7", "student-t:nu=1",  "student-t:nu=2.5",
                         "student-t:nu=5",   "student-t:nu=31", "cauchy"};
  const double nus[] = {0.7, 1.0, 2.5, 5.0, 31.0, 1.0};
  for (size_t k = 0; k < sizeof nus / sizeof *nus; k++) {
    sdv_noise *law = NULL;
    ck_assert_int_eq(sdv_noise_alloc(&law, specs[k]), SDV_OK);
    sdv_stream s;
    sdv_stream_init(&s, 14 + k / 5, k % 5, SDV_PURPOSE_NOISE, 0);
    sdv_noise_sample_n(law, &s, x, n);
    sdv_noise_free(law);
    double ks = ks_stat(x, n, t_cdf, nus[k]);
    ck_assert_msg(ks < 2.225, "KS %s: %g", specs[k], ks);
  }
  /* No law without a valid nu (the sampler never sees one). */
  const char *bad[] = {"student-t:nu=0", "student-t:nu=-2", "student-t:nu=nan"};
  for (size_t k = 0; k < 3; k++) {
    sdv_noise *law = NULL;
    ck_assert_int_eq(sdv_noise_alloc(&law, bad[k]), SDV_EINVAL);
    ck_assert_ptr_null(law);
  }
}
END_TEST

START_TEST(test_gamma_distribution) {
  enum { n = 20000 };
  static double x[n];
  const double shapes[] = {0.35, 1.0, 3.7};
  for (size_t k = 0; k < 3; k++) {
    sdv_stream s;
    sdv_stream_init(&s, 16, k, SDV_PURPOSE_AUX, 0);
    for (int i = 0; i < n; i++) x[i] = sdv_stream_gamma(&s, shapes[k]);
    double ks = ks_stat(x, n, gamma_cdf, shapes[k]);
    ck_assert_msg(ks < 2.225, "KS gamma(%g): %g", shapes[k], ks);
  }
  sdv_stream s;
  sdv_stream_init(&s, 16, 9, SDV_PURPOSE_AUX, 0);
  ck_assert(isnan(sdv_stream_gamma(&s, 0.0)));
}
END_TEST

START_TEST(test_gsl_adaptor) {
  sdv_stream a, b;
  sdv_stream_init(&a, 17, 1, SDV_PURPOSE_SAMPLING, 0);
  sdv_stream_init(&b, 17, 1, SDV_PURPOSE_SAMPLING, 0);
  gsl_rng *ra = sdv_stream_gsl_rng_alloc(&a);
  gsl_rng *rb = sdv_stream_gsl_rng_alloc(&b);
  ck_assert_ptr_nonnull(ra);
  for (int i = 0; i < 100; i++) {
    double u = gsl_rng_uniform(ra);
    ck_assert(u >= 0.0 && u < 1.0);
    ck_assert(u == gsl_rng_uniform(rb));
    ck_assert_uint_eq(gsl_ran_binomial(ra, 0.3, 17), gsl_ran_binomial(rb, 0.3, 17));
  }
  /* The adaptor draws from the borrowed stream itself. */
  sdv_stream c;
  sdv_stream_init(&c, 17, 1, SDV_PURPOSE_SAMPLING, 0);
  gsl_rng *rc = sdv_stream_gsl_rng_alloc(&c);
  (void)gsl_rng_uniform(rc); /* consumes exactly one word of c */
  sdv_stream d;
  sdv_stream_init(&d, 17, 1, SDV_PURPOSE_SAMPLING, 0);
  (void)sdv_stream_u64(&d);
  ck_assert_uint_eq(sdv_stream_u64(&c), sdv_stream_u64(&d));
  gsl_rng_free(ra);
  gsl_rng_free(rb);
  gsl_rng_free(rc);
}
END_TEST

int main(void) {
  Suite *s = suite_create("rng");
  TCase *det = tcase_create("determinism");
  tcase_add_test(det, test_reference_values);
  tcase_add_test(det, test_stream_words_are_the_documented_blocks);
  tcase_add_test(det, test_block_kernels_agree);
  tcase_add_test(det, test_portable_switch);
  tcase_add_test(det, test_batch_binomials);
  tcase_add_test(det, test_normal_kernels_agree);
  tcase_add_test(det, test_same_key_same_numbers);
  tcase_add_test(det, test_gsl_adaptor);
  suite_add_tcase(s, det);
  TCase *dist = tcase_create("distributions");
  tcase_set_timeout(dist, 20);
  tcase_add_test(dist, test_keys_separate_streams);
  tcase_add_test(dist, test_uniform_open_interval);
  tcase_add_test(dist, test_below_uniform);
  tcase_add_test(dist, test_normal_distribution);
  tcase_add_test(dist, test_student_t_and_cauchy_distribution);
  tcase_add_test(dist, test_gamma_distribution);
  suite_add_tcase(s, dist);
  return sdv_test_run(s);
}
