/* Compressors: registry, parameter validation, exact closed forms, determinism, moments by
 * sampling, and the conformance check with its negative controls. */
#include <sdv/compressor.h>
#include <sdv/errors.h>
#include <sdv/rng.h>
#include <sdv/stats.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compressor/rand_k.h"
#include "testutil.h"

#define SEED 0x5eed2385u

static sdv_compressor *make(const char *spec, size_t dim) {
  sdv_compressor *c = NULL;
  int rc = sdv_compressor_alloc(&c, spec, dim);
  ck_assert_msg(rc == SDV_OK, "alloc '%s' d=%zu: %s", spec, dim, sdv_last_error());
  return c;
}

/* Expects SDV_EINVAL and a message containing each of the given fragments. */
static void expect_einval(const char *spec, size_t dim, const char *frag1, const char *frag2) {
  sdv_compressor *c = NULL;
  sdv_clear_error();
  int rc = sdv_compressor_alloc(&c, spec, dim);
  ck_assert_msg(rc == SDV_EINVAL, "'%s' d=%zu: rc = %d", spec, dim, rc);
  ck_assert_ptr_null(c);
  const char *msg = sdv_last_error();
  ck_assert_msg(strstr(msg, frag1), "'%s': message '%s' lacks '%s'", spec, msg, frag1);
  if (frag2) ck_assert_msg(strstr(msg, frag2), "'%s': message '%s' lacks '%s'", spec, msg, frag2);
}

/* The built-in specs and dimensions exercised throughout. */
static const struct {
  const char *spec;
  size_t dim;
} builtins[] = {{"identity", 10},  {"bernoulli:p=0.3", 10}, {"rand-k:k=3", 10},
                {"qsgd:s=2", 10},  {"qsgd:s=1", 10},        {"natural", 10},
                {"rand-k:k=1", 1}, {"bernoulli:p=1", 4}};
#define NBUILTIN (sizeof builtins / sizeof builtins[0])

/* A fixed high-entropy vector with no rare-event coordinate for any built-in. */
static void fixed_vector(double *v, size_t d) {
  static const double base[10] = {2.385, -1.25, 0.731, -3.3, 1.57, -0.42, 5.9, -2.7, 0.93, 1.8};
  for (size_t j = 0; j < d; j++) v[j] = base[j % 10];
}

/* ---- registry ---- */

START_TEST(test_registry_builtins) {
  const char *names[] = {"identity", "bernoulli", "rand-k", "qsgd", "natural"};
  for (size_t i = 0; i < 5; i++) {
    const sdv_compressor_type *t = sdv_compressor_type_from_name(names[i]);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->name, names[i]);
  }
  ck_assert_ptr_eq(sdv_compressor_type_from_name("rand-k"), sdv_compressor_rand_k);
  ck_assert_ptr_null(sdv_compressor_type_from_name("top-k"));
  const sdv_compressor_type *list[16];
  ck_assert_uint_ge(sdv_compressor_types(list, 16), 5);
}
END_TEST

static size_t user_size(size_t dim) { return sizeof(double); }
static int user_init(void *state, size_t dim, sdv_params *p) {
  return sdv_params_get_double(p, "x", 2.0, state);
}
static double user_omega(const void *state, size_t dim) { return 0.0; }
static void user_apply(void *state, size_t dim, const double *v, double *out, sdv_stream *s) {
  memcpy(out, v, dim * sizeof *out);
}
static const sdv_compressor_type user_type = {.name = "user-copy",
                                              .help = "test",
                                              .size = user_size,
                                              .init = user_init,
                                              .omega = user_omega,
                                              .apply = user_apply};

START_TEST(test_registry_user) {
  ck_assert_int_eq(sdv_compressor_register(&user_type), SDV_OK);
  ck_assert_ptr_eq(sdv_compressor_type_from_name("user-copy"), &user_type);
  sdv_compressor *c = make("user-copy:x=2.385", 3);
  ck_assert_str_eq(c->spec, "user-copy:x=2.385");
  ck_assert_double_eq(*(double *)c->state, 2.385);
  sdv_compressor_free(c);
  /* duplicates are refused, built-in names too */
  ck_assert_int_eq(sdv_compressor_register(&user_type), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "user-copy"));
  sdv_compressor_type clash = user_type;
  clash.name = "rand-k";
  ck_assert_int_eq(sdv_compressor_register(&clash), SDV_EINVAL);
  /* missing hooks are named */
  const char *hooks[] = {"size", "init", "omega", "apply"};
  for (int h = 0; h < 4; h++) {
    sdv_compressor_type bad = user_type;
    bad.name = "user-bad";
    if (h == 0) bad.size = NULL;
    if (h == 1) bad.init = NULL;
    if (h == 2) bad.omega = NULL;
    if (h == 3) bad.apply = NULL;
    ck_assert_int_eq(sdv_compressor_register(&bad), SDV_EINVAL);
    ck_assert_msg(strstr(sdv_last_error(), hooks[h]), "%s", sdv_last_error());
  }
  ck_assert_int_eq(sdv_compressor_register(NULL), SDV_EINVAL);
  sdv_compressor_type noname = user_type;
  noname.name = NULL;
  ck_assert_int_eq(sdv_compressor_register(&noname), SDV_EINVAL);
}
END_TEST

/* ---- parameters ---- */

START_TEST(test_params_invalid) {
  expect_einval("rand-k:k=0", 10, "k = 0", NULL);
  expect_einval("rand-k:k=11", 10, "k = 11", "10");
  expect_einval("rand-k", 10, "'k'", NULL);
  expect_einval("rand-k:k=2.5", 10, "k", "2.5");
  expect_einval("bernoulli:p=0", 4, "p = 0", NULL);
  expect_einval("bernoulli:p=1.5", 4, "p = 1.5", NULL);
  expect_einval("bernoulli:p=nan", 4, "p", "nan");
  expect_einval("bernoulli:p=-0.2", 4, "p = -0.2", NULL);
  expect_einval("bernoulli", 4, "'p'", NULL);
  expect_einval("qsgd:s=0", 4, "s = 0", NULL);
  expect_einval("qsgd:s=1.5", 4, "s", "1.5");
  expect_einval("rand-k:k=3:kk=2", 10, "kk", NULL);
  expect_einval("natural:q=1", 10, "'q'", NULL);
  expect_einval("top-k:k=3", 10, "top-k", "rand-k");
  expect_einval("rand-k:k=1", 0, "dim = 0", NULL);
  expect_einval("identity", 0, "dim = 0", NULL);
  expect_einval("", 3, "empty", NULL);
  sdv_compressor *c = (sdv_compressor *)1;
  ck_assert_int_eq(sdv_compressor_alloc_type(&c, NULL, 3, NULL), SDV_EINVAL);
  ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_params_spec) {
  sdv_compressor *c = make("bernoulli:p=0.30", 4);
  ck_assert_str_eq(c->spec, "bernoulli:p=0.3");
  sdv_compressor_free(c);
  c = make("rand-k:k=03", 10);
  ck_assert_str_eq(c->spec, "rand-k:k=3");
  sdv_compressor_free(c);
  ck_assert_int_eq(sdv_compressor_alloc_type(&c, sdv_compressor_qsgd, 5, "s=4"), SDV_OK);
  ck_assert_str_eq(c->spec, "qsgd:s=4");
  ck_assert_uint_eq(c->dim, 5);
  sdv_compressor_free(c);
  ck_assert_int_eq(sdv_compressor_alloc_type(&c, sdv_compressor_natural, 5, NULL), SDV_OK);
  ck_assert_str_eq(c->spec, "natural");
  sdv_compressor_free(c);
  sdv_compressor_free(NULL);
}
END_TEST

/* ---- exact closed forms (the reference values in the file headers) ---- */

static void phi_entry(const double *diag, double beta, const double *u, size_t j, size_t l,
                      double *out) {
  *out = (j == l ? diag[j] : 0.0) - beta * u[j] * u[l];
}

START_TEST(test_exact_values) {
  double diag[10], u[10], beta, a, cc, phi;
  double v[10];
  /* identity */
  sdv_compressor *c = make("identity", 2);
  ck_assert_double_eq(sdv_compressor_omega(c), 0.0);
  ck_assert_int_eq(sdv_compressor_linear(c, &a, &cc), SDV_OK);
  ck_assert(a == 0.0 && cc == 0.0);
  sdv_compressor_free(c);
  /* Bernoulli p = 0.4 */
  c = make("bernoulli:p=0.4", 2);
  ck_assert_double_eq_tol(sdv_compressor_omega(c), 1.5, 1e-15);
  v[0] = 2.385, v[1] = -0.75;
  ck_assert_int_eq(sdv_compressor_covariance(c, v, diag, &beta, u), SDV_OK);
  ck_assert_double_eq_tol(diag[0] - beta * u[0] * u[0], 8.5323375, 1e-12);
  ck_assert_double_eq_tol(diag[1] - beta * u[1] * u[1], 0.84375, 1e-14);
  phi_entry(diag, beta, u, 0, 1, &phi);
  ck_assert_double_eq(phi, 0.0);
  sdv_compressor_free(c);
  /* rand-k, d = 10, k = 3 */
  c = make("rand-k:k=3", 10);
  ck_assert_double_eq_tol(sdv_compressor_omega(c), 7.0 / 3.0, 1e-15);
  ck_assert_int_eq(sdv_compressor_linear(c, &a, &cc), SDV_OK);
  ck_assert_double_eq_tol(a, 70.0 / 27.0, 1e-14);
  ck_assert_double_eq_tol(cc, 7.0 / 27.0, 1e-15);
  fixed_vector(v, 10);
  ck_assert_int_eq(sdv_compressor_covariance(c, v, diag, &beta, u), SDV_OK);
  phi_entry(diag, beta, u, 0, 1, &phi);
  ck_assert_double_eq_tol(phi, 0.77291666666666667, 1e-14);
  phi_entry(diag, beta, u, 0, 0, &phi); /* diagonal = omega v_0^2 */
  ck_assert_double_eq_tol(phi, 7.0 / 3.0 * 2.385 * 2.385, 1e-13);
  sdv_compressor_free(c);
  /* rand-k with d = 1 is the identity */
  c = make("rand-k:k=1", 1);
  ck_assert_int_eq(sdv_compressor_linear(c, &a, &cc), SDV_OK);
  ck_assert(a == 0.0 && cc == 0.0 && sdv_compressor_omega(c) == 0.0);
  sdv_compressor_free(c);
  /* QSGD s = 2, v = (3, -4) */
  c = make("qsgd:s=2", 2);
  ck_assert_double_eq_tol(sdv_compressor_omega(c), 0.5, 1e-15);
  ck_assert_int_eq(sdv_compressor_linear(c, &a, &cc), SDV_ENOTSUP);
  v[0] = 3.0, v[1] = -4.0;
  ck_assert_int_eq(sdv_compressor_covariance(c, v, diag, &beta, u), SDV_OK);
  ck_assert_double_eq_tol(diag[0], 1.0, 1e-13);
  ck_assert_double_eq_tol(diag[1], 1.5, 1e-13);
  ck_assert(beta == 0.0);
  sdv_compressor_free(c);
  c = make("qsgd:s=1", 16); /* omega = min(16, 4) */
  ck_assert_double_eq(sdv_compressor_omega(c), 4.0);
  sdv_compressor_free(c);
  /* natural */
  c = make("natural", 4);
  ck_assert_double_eq(sdv_compressor_omega(c), 0.125);
  v[0] = 3.0, v[1] = 2.385, v[2] = 4.0, v[3] = -0.0625;
  ck_assert_int_eq(sdv_compressor_covariance(c, v, diag, &beta, u), SDV_OK);
  ck_assert_double_eq(diag[0], 1.0);
  ck_assert_double_eq_tol(diag[1], 0.621775, 1e-14);
  ck_assert_double_eq(diag[2], 0.0);
  ck_assert_double_eq(diag[3], 0.0);
  sdv_stream s;
  sdv_stream_init(&s, SEED, 1, SDV_PURPOSE_USER, 0);
  for (int n = 0; n < 200; n++) { /* powers of two are kept exactly */
    double out[4];
    sdv_compressor_apply(c, v, out, &s);
    ck_assert(out[2] == 4.0 && out[3] == -0.0625);
    ck_assert(out[0] == 2.0 || out[0] == 4.0);
    ck_assert(out[1] == 2.0 || out[1] == 4.0);
  }
  sdv_compressor_free(c);
}
END_TEST

START_TEST(test_exact_support) {
  /* rand-k keeps exactly k coordinates scaled by d/k; identity copies bits. */
  double v[10], out[10];
  fixed_vector(v, 10);
  sdv_stream s;
  sdv_stream_init(&s, SEED, 2, SDV_PURPOSE_USER, 0);
  sdv_compressor *c = make("rand-k:k=3", 10);
  for (int n = 0; n < 500; n++) {
    sdv_compressor_apply(c, v, out, &s);
    size_t kept = 0;
    for (size_t j = 0; j < 10; j++)
      if (out[j] != 0.0) {
        kept++;
        ck_assert_double_eq_tol(out[j], v[j] * 10.0 / 3.0, 1e-14 * fabs(v[j]) * 4);
      }
    ck_assert_uint_eq(kept, 3);
  }
  sdv_compressor_free(c);
  c = make("identity", 10);
  sdv_compressor_apply(c, v, out, &s);
  ck_assert(memcmp(out, v, sizeof v) == 0);
  sdv_compressor_free(c);
}
END_TEST

/* ---- rand-k's subset draw against the textbook shuffle ---- */

__extension__ typedef unsigned __int128 u128;

/* Reference for one bounded draw: Lemire's rule written out with 128-bit arithmetic (accept
 * the word when the low half of x n is at least 2^64 mod n), counting the rejected words.
 * For n = 2^63 + 1 a word is rejected with probability (2^63 - 1)/2^64, about 1/2, so 2000
 * draws reject about 2000 words (geometric, sd about 63). */
static uint64_t ref_below(sdv_stream *s, uint64_t n, unsigned *rejected) {
  const uint64_t t = (uint64_t)(((u128)1 << 64) % n);
  for (;;) {
    const u128 m = (u128)sdv_stream_u64(s) * n;
    if ((uint64_t)m >= t) return (uint64_t)(m >> 64);
    ++*rejected;
  }
}

/* Reference subset: partial Fisher-Yates on a fresh identity permutation with
 * sdv_stream_below, swapping both positions (the textbook form rand-k's draw must equal). */
static void ref_subset(size_t d, size_t k, sdv_stream *s, size_t *kept) {
  size_t *perm = malloc(d * sizeof *perm);
  ck_assert_ptr_nonnull(perm);
  for (size_t i = 0; i < d; i++) perm[i] = i;
  for (size_t i = 0; i < k; i++) {
    const size_t j = i + sdv_stream_below(s, d - i);
    const size_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
    kept[i] = perm[i];
  }
  free(perm);
}

START_TEST(test_rand_k_below_matches) {
  /* The inline draw with its precomputed threshold gives sdv_stream_below's values from the
   * same words, and the threshold is 2^64 mod n. Bounds near 2^63 reject about half the
   * words (t = 2^63 - 1 for n = 2^63 + 1), so the rejection loop runs many times here. */
  const uint64_t ns[] = {1,
                         2,
                         3,
                         7,
                         10,
                         64,
                         1000003,
                         (UINT64_C(1) << 32) + 15,
                         (UINT64_C(1) << 63) - 25,
                         (UINT64_C(1) << 63) + 1,
                         (UINT64_C(3) << 62) + 5,
                         UINT64_MAX};
  for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
    const uint64_t n = ns[c], t = sdv_rand_k_threshold(n);
    ck_assert_msg(t == (uint64_t)(((u128)1 << 64) % n), "threshold of n = %llu",
                  (unsigned long long)n);
    ck_assert(t < n);
    sdv_stream s1, s2, s3;
    sdv_stream_init(&s1, SEED, c, SDV_PURPOSE_USER, 3);
    sdv_stream_init(&s2, SEED, c, SDV_PURPOSE_USER, 3);
    sdv_stream_init(&s3, SEED, c, SDV_PURPOSE_USER, 3);
    unsigned rejected = 0;
    for (int r = 0; r < 2000; r++) {
      const uint64_t a = sdv_rand_k_below(&s1, n, t);
      ck_assert(a < n);
      ck_assert(a == (uint64_t)sdv_stream_below(&s2, n));
      ck_assert(a == ref_below(&s3, n, &rejected));
    }
    /* the same words consumed */
    const uint64_t w1 = sdv_stream_u64(&s1), w2 = sdv_stream_u64(&s2), w3 = sdv_stream_u64(&s3);
    ck_assert(w1 == w2 && w1 == w3);
    if (n == (UINT64_C(1) << 63) + 1) /* about 2000 expected; 500 is over 20 sd below */
      ck_assert_msg(rejected > 500, "only %u rejections for n = 2^63 + 1", rejected);
  }
}
END_TEST

START_TEST(test_rand_k_subset_reference) {
  /* The subsets hook (one instance) and apply() give the reference shuffle's subset, in its order,
   * from the same words, call after call (so the permutation is restored each time). */
  const size_t dk[][2] = {{1, 1},   {2, 1},   {2, 2},  {5, 3},   {10, 3},
                          {10, 10}, {33, 17}, {64, 8}, {100, 1}, {7, 6}};
  for (size_t c = 0; c < sizeof dk / sizeof *dk; c++) {
    const size_t d = dk[c][0], k = dk[c][1];
    char spec[32];
    snprintf(spec, sizeof spec, "rand-k:k=%zu", k);
    sdv_compressor *comp = make(spec, d);
    size_t got[100], want[100];
    double v[100], out[100];
    for (size_t j = 0; j < d; j++) v[j] = 2.385 - 0.731 * (double)j;
    const double scale = (double)d / (double)k;
    sdv_stream s1, s2;
    sdv_stream_init(&s1, SEED, c, SDV_PURPOSE_COMPRESSOR, 5);
    sdv_stream_init(&s2, SEED, c, SDV_PURPOSE_COMPRESSOR, 5);
    for (int r = 0; r < 300; r++) {
      ref_subset(d, k, &s2, want);
      if (r % 3 == 2) { /* through apply(): (d/k) v_j on the reference subset, 0 elsewhere */
        sdv_compressor_apply(comp, v, out, &s1);
        double expect[100] = {0};
        for (size_t i = 0; i < k; i++) expect[want[i]] = scale * v[want[i]];
        ck_assert_msg(memcmp(out, expect, d * sizeof *out) == 0, "%s d=%zu apply round %d", spec, d,
                      r);
        continue;
      }
      size_t nk;
      double sc;
      ck_assert_uint_eq(comp->type->subsets(&comp, 1, &s1, got, &nk, &sc), k);
      ck_assert_uint_eq(nk, k);
      ck_assert(sc == scale);
      for (size_t i = 0; i < k; i++)
        ck_assert_msg(got[i] == want[i], "%s d=%zu round %d index %zu: %zu != %zu", spec, d, r, i,
                      got[i], want[i]);
    }
    ck_assert(sdv_stream_u64(&s1) == sdv_stream_u64(&s2));
    sdv_compressor_free(comp);
  }
}
END_TEST

START_TEST(test_rand_k_subsets_batch) {
  /* One call for several compressors equals the calls one by one (k = 2, 5, 1, 7 of d = 7). */
  const char *specs[] = {"rand-k:k=2", "rand-k:k=5", "rand-k:k=1", "rand-k:k=7"};
  sdv_compressor *a[4], *b[4];
  for (int i = 0; i < 4; i++) {
    a[i] = make(specs[i], 7);
    b[i] = make(specs[i], 7);
  }
  sdv_stream s1, s2;
  sdv_stream_init(&s1, SEED, 17, SDV_PURPOSE_COMPRESSOR, 0);
  sdv_stream_init(&s2, SEED, 17, SDV_PURPOSE_COMPRESSOR, 0);
  for (int r = 0; r < 200; r++) {
    size_t kept[28], nkept[4], one[28], total = 0, k;
    double scale[4], sc;
    const size_t n = (size_t)(r % 4) + 1;  /* 1..4 compressors */
    const size_t sum_k[4] = {2, 7, 8, 15}; /* k summed over the first n compressors */
    ck_assert_uint_eq(a[0]->type->subsets(a, n, &s1, kept, nkept, scale), sum_k[n - 1]);
    for (size_t i = 0; i < n; i++) {
      ck_assert_uint_eq(b[i]->type->subsets(b + i, 1, &s2, one + total, &k, &sc), nkept[i]);
      ck_assert(sc == scale[i] && sc == 7.0 / (double)k);
      total += k;
    }
    ck_assert(memcmp(kept, one, total * sizeof *kept) == 0);
  }
  ck_assert(sdv_stream_u64(&s1) == sdv_stream_u64(&s2));
  for (int i = 0; i < 4; i++) {
    sdv_compressor_free(a[i]);
    sdv_compressor_free(b[i]);
  }
}
END_TEST

/* ---- C(0) = 0, determinism, independence from earlier calls, clone ---- */

START_TEST(test_zero_and_determinism) {
  for (size_t i = 0; i < NBUILTIN; i++) {
    const size_t d = builtins[i].dim;
    sdv_compressor *c = make(builtins[i].spec, d);
    double v[10], out[10], first[10], again[10];
    sdv_stream s;
    memset(v, 0, sizeof v);
    sdv_stream_init(&s, SEED, 3, SDV_PURPOSE_USER, 0);
    for (int n = 0; n < 50; n++) {
      sdv_compressor_apply(c, v, out, &s);
      for (size_t j = 0; j < d; j++)
        ck_assert_msg(out[j] == 0.0, "%s: C(0) != 0", builtins[i].spec);
    }
    fixed_vector(v, d);
    sdv_stream_init(&s, SEED, 7, SDV_PURPOSE_COMPRESSOR, 11);
    sdv_compressor_apply(c, v, first, &s);
    /* other calls in between, with other streams */
    for (uint32_t k = 0; k < 25; k++) {
      sdv_stream_init(&s, SEED + k, k, SDV_PURPOSE_COMPRESSOR, k);
      sdv_compressor_apply(c, v, out, &s);
    }
    sdv_stream_init(&s, SEED, 7, SDV_PURPOSE_COMPRESSOR, 11);
    sdv_compressor_apply(c, v, again, &s);
    ck_assert_msg(memcmp(first, again, d * sizeof *first) == 0, "%s depends on earlier calls",
                  builtins[i].spec);
    /* a clone gives the same outputs for the same key */
    sdv_compressor *k = sdv_compressor_clone(c);
    ck_assert_ptr_nonnull(k);
    ck_assert_str_eq(k->spec, c->spec);
    ck_assert_ptr_ne(k->state, c->state);
    sdv_stream s1, s2;
    sdv_stream_init(&s1, SEED, 9, SDV_PURPOSE_COMPRESSOR, 0);
    sdv_stream_init(&s2, SEED, 9, SDV_PURPOSE_COMPRESSOR, 0);
    for (int n = 0; n < 20; n++) {
      sdv_compressor_apply(c, v, out, &s1);
      sdv_compressor_apply(k, v, again, &s2);
      ck_assert(memcmp(out, again, d * sizeof *out) == 0);
    }
    sdv_compressor_free(k);
    sdv_compressor_free(c);
  }
  ck_assert_ptr_null(sdv_compressor_clone(NULL));
}
END_TEST

/* ---- moments by direct sampling (independent of the conformance code) ----
 * On the fixed vector, N = 40000 draws: each coordinate mean within K = 5 standard errors of
 * v_j (se from the exact Phi_jj); each covariance entry within K standard errors of Phi_jl
 * (se = sample sd of the products / sqrt(N)); the sampled E||C(v)-v||^2 within K se of
 * tr Phi and tr Phi <= omega ||v||^2. About 7 built-ins x 66 two-sided 5-sigma tests: false-
 * failure rate < 500 * 5.7e-7 = 3e-4 (and fixed seeds make it deterministic). */
#define MOMENT_N 40000
#define MOMENT_K 5.0

START_TEST(test_moments_sampled) {
  for (size_t i = 0; i < NBUILTIN; i++) {
    const size_t d = builtins[i].dim;
    sdv_compressor *c = make(builtins[i].spec, d);
    double v[10], out[10], x[10], diag[10], u[10], beta;
    fixed_vector(v, d);
    ck_assert_int_eq(sdv_compressor_covariance(c, v, diag, &beta, u), SDV_OK);
    sdv_acc mean[10], prod[10][10], tr;
    sdv_acc_reset(&tr);
    for (size_t j = 0; j < d; j++) {
      sdv_acc_reset(&mean[j]);
      for (size_t l = 0; l < d; l++) sdv_acc_reset(&prod[j][l]);
    }
    sdv_stream s;
    sdv_stream_init(&s, SEED, 100 + i, SDV_PURPOSE_USER, 0);
    for (size_t n = 0; n < MOMENT_N; n++) {
      sdv_compressor_apply(c, v, out, &s);
      double e2 = 0.0;
      for (size_t j = 0; j < d; j++) {
        x[j] = out[j] - v[j];
        sdv_acc_add(&mean[j], out[j]);
        e2 += x[j] * x[j];
      }
      sdv_acc_add(&tr, e2);
      for (size_t j = 0; j < d; j++)
        for (size_t l = j; l < d; l++) sdv_acc_add(&prod[j][l], x[j] * x[l]);
    }
    double trace = 0.0, n2 = 0.0;
    for (size_t j = 0; j < d; j++) {
      const double pjj = diag[j] - beta * u[j] * u[j];
      trace += pjj;
      n2 += v[j] * v[j];
      const double se = sqrt(pjj / MOMENT_N) + 1e-15 * fabs(v[j]);
      ck_assert_msg(fabs(sdv_acc_mean(&mean[j]) - v[j]) <= MOMENT_K * se,
                    "%s: mean_%zu = %g, v = %g, se = %g", builtins[i].spec, j,
                    sdv_acc_mean(&mean[j]), v[j], se);
      for (size_t l = j; l < d; l++) {
        const double phi = (j == l ? diag[j] : 0.0) - beta * u[j] * u[l];
        const double sej = sdv_acc_se(&prod[j][l]) + 1e-14 * n2;
        ck_assert_msg(fabs(sdv_acc_mean(&prod[j][l]) - phi) <= MOMENT_K * sej,
                      "%s: cov_%zu%zu = %g, Phi = %g, se = %g", builtins[i].spec, j, l,
                      sdv_acc_mean(&prod[j][l]), phi, sej);
      }
    }
    ck_assert_msg(fabs(sdv_acc_mean(&tr) - trace) <= MOMENT_K * sdv_acc_se(&tr) + 1e-14 * n2,
                  "%s: trace %g vs %g", builtins[i].spec, sdv_acc_mean(&tr), trace);
    ck_assert(trace <= sdv_compressor_omega(c) * n2 * (1 + 1e-12));
    sdv_compressor_free(c);
  }
}
END_TEST

/* ---- conformance ---- */

static sdv_conformance_report *conform(const char *spec, size_t dim) {
  sdv_compressor *c = make(spec, dim);
  sdv_conformance_options o;
  sdv_conformance_options_default(&o);
  /* A fixed seed of its own. With the default seed, the stream change of 2026-11 (Philox4x32
   * blocks) made bernoulli:p=0.3 at d = 10 show one covariance z of 4.92 against a Bonferroni
   * bound of 4.62: a false failure, which the 1e-3 rate allows (the same check passed for
   * 301 other seeds under both the old and the new streams, and the compressor is exact). */
  o.seed = 20261129;
  sdv_conformance_report *r = NULL;
  ck_assert_int_eq(sdv_compressor_conformance(c, &o, &r), SDV_OK);
  ck_assert_ptr_nonnull(r);
  sdv_compressor_free(c);
  return r;
}

static const char *first_failure(const sdv_conformance_report *r) {
  for (size_t i = 0; i < r->nrows; i++)
    if (!r->rows[i].pass) return r->rows[i].what;
  return "none";
}

/* Default options: alpha = 1e-3 family-wise per conformance run, so with the 8 runs below a
 * correct implementation fails with probability <= 8e-3 over seeds; the seed is fixed. */
START_TEST(test_conformance_builtins) {
  for (size_t i = 0; i < NBUILTIN; i++) {
    sdv_conformance_report *r = conform(builtins[i].spec, builtins[i].dim);
    ck_assert_msg(r->pass, "%s fails conformance (row '%s'); %s", builtins[i].spec,
                  first_failure(r), r->note);
    ck_assert_ptr_nonnull(strstr(r->note, "Bonferroni"));
    int seen_cov = 0, seen_zero = 0;
    for (size_t j = 0; j < r->nrows; j++) {
      seen_cov |= strcmp(r->rows[j].what, "covariance") == 0;
      seen_zero |= strcmp(r->rows[j].what, "zero") == 0;
    }
    ck_assert(seen_cov && seen_zero); /* every built-in declares a closed form */
    sdv_conformance_report_free(r);
  }
  sdv_conformance_report_free(NULL);
}
END_TEST

START_TEST(test_conformance_sampled_only) {
  sdv_compressor_register(&user_type);
  sdv_conformance_report *r = conform("user-copy", 5);
  ck_assert(r->pass);
  ck_assert_ptr_nonnull(strstr(r->note, "sampled only"));
  sdv_conformance_report_free(r);
}
END_TEST

/* Negative control 1: rand-k without the d/k scaling (biased: E C(v) = (k/d) v). */
typedef struct unscaled_state {
  size_t idx[1];
} unscaled_state;
static size_t unscaled_size(size_t dim) { return dim * sizeof(size_t); }
static int unscaled_init(void *state, size_t dim, sdv_params *p) { return SDV_OK; }
static double unscaled_omega(const void *state, size_t dim) { return (double)dim / 3.0 - 1.0; }
static void unscaled_apply(void *state, size_t dim, const double *v, double *out, sdv_stream *s) {
  size_t *idx = state;
  for (size_t i = 0; i < dim; i++) idx[i] = i;
  memset(out, 0, dim * sizeof *out);
  for (size_t i = 0; i < 3 && i < dim; i++) {
    size_t j = i + sdv_stream_below(s, dim - i), t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
    out[idx[i]] = v[idx[i]]; /* missing factor d/k */
  }
}
static const sdv_compressor_type unscaled_type = {.name = "bad-unscaled",
                                                  .help = "negative control",
                                                  .size = unscaled_size,
                                                  .init = unscaled_init,
                                                  .omega = unscaled_omega,
                                                  .apply = unscaled_apply};

/* Negative control 2: Bernoulli(1/2) (true omega 1) declaring omega = 1/2, no closed form. */
static size_t half_size(size_t dim) { return 0; }
static int half_init(void *state, size_t dim, sdv_params *p) { return SDV_OK; }
static double half_omega(const void *state, size_t dim) { return 0.5; }
static void half_apply(void *state, size_t dim, const double *v, double *out, sdv_stream *s) {
  for (size_t j = 0; j < dim; j++) out[j] = sdv_stream_uniform(s) < 0.5 ? 2.0 * v[j] : 0.0;
}
static const sdv_compressor_type half_type = {.name = "bad-omega",
                                              .help = "negative control",
                                              .size = half_size,
                                              .init = half_init,
                                              .omega = half_omega,
                                              .apply = half_apply};

/* Negative control 3: a correct Bernoulli(1/2) that declares rand-k-like off-diagonal
 * covariance terms (wrong Phi, omega itself fine). */
static double half_omega_ok(const void *state, size_t dim) { return 1.0; }
static int wrong_linear(const void *state, size_t dim, double *a, double *c) {
  *a = 1.0 + 0.5 / (double)(dim - 1);
  *c = 0.5 / (double)(dim - 1);
  return SDV_OK;
}
static const sdv_compressor_type wrongcov_type = {.name = "bad-cov",
                                                  .help = "negative control",
                                                  .size = half_size,
                                                  .init = half_init,
                                                  .omega = half_omega_ok,
                                                  .apply = half_apply,
                                                  .linear = wrong_linear};

static void register_once(const sdv_compressor_type *t) {
  if (!sdv_compressor_type_from_name(t->name)) ck_assert_int_eq(sdv_compressor_register(t), SDV_OK);
}

static int row_failed(const sdv_conformance_report *r, const char *what) {
  for (size_t i = 0; i < r->nrows; i++)
    if (!r->rows[i].pass && strcmp(r->rows[i].what, what) == 0) return 1;
  return 0;
}

START_TEST(test_conformance_negative) {
  register_once(&unscaled_type);
  register_once(&half_type);
  register_once(&wrongcov_type);
  sdv_conformance_report *r = conform("bad-unscaled", 10);
  ck_assert_msg(!r->pass, "unscaled rand-k passes conformance");
  ck_assert_msg(row_failed(r, "bias"), "unscaled rand-k: bias row did not fail");
  sdv_conformance_report_free(r);
  r = conform("bad-omega", 6);
  ck_assert_msg(!r->pass, "understated omega passes conformance");
  ck_assert_msg(row_failed(r, "omega"), "understated omega: omega row did not fail");
  ck_assert(!row_failed(r, "bias"));
  sdv_conformance_report_free(r);
  r = conform("bad-cov", 6);
  ck_assert_msg(!r->pass, "wrong covariance passes conformance");
  ck_assert_msg(row_failed(r, "covariance"), "wrong Phi: covariance row did not fail");
  ck_assert(!row_failed(r, "bias") && !row_failed(r, "omega"));
  sdv_conformance_report_free(r);
}
END_TEST

START_TEST(test_conformance_options) {
  sdv_compressor *c = make("natural", 3);
  sdv_conformance_options o;
  sdv_conformance_report *r = (sdv_conformance_report *)1;
  sdv_conformance_options_default(&o);
  ck_assert_uint_eq(o.samples, 20000);
  ck_assert_uint_eq(o.vectors, 4);
  ck_assert_double_eq(o.alpha, 1e-3);
  o.samples = 1;
  ck_assert_int_eq(sdv_compressor_conformance(c, &o, &r), SDV_EINVAL);
  ck_assert_ptr_null(r);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "samples = 1"));
  sdv_conformance_options_default(&o);
  o.vectors = 0;
  ck_assert_int_eq(sdv_compressor_conformance(c, &o, &r), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "vectors = 0"));
  sdv_conformance_options_default(&o);
  o.alpha = 1.5;
  ck_assert_int_eq(sdv_compressor_conformance(c, &o, &r), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "alpha = 1.5"));
  o.alpha = NAN;
  ck_assert_int_eq(sdv_compressor_conformance(c, &o, &r), SDV_EINVAL);
  ck_assert_int_eq(sdv_compressor_conformance(NULL, &o, &r), SDV_EINVAL);
  /* small run: rows = zero + 4 per vector with a closed form */
  sdv_conformance_options_default(&o);
  o.samples = 500;
  o.vectors = 2;
  ck_assert_int_eq(sdv_compressor_conformance(c, &o, &r), SDV_OK);
  ck_assert_uint_eq(r->nrows, 9);
  ck_assert_str_eq(r->rows[0].what, "zero");
  ck_assert_uint_eq(r->rows[0].vector, 0);
  ck_assert_uint_eq(r->rows[1].vector, 1);
  sdv_conformance_report_free(r);
  sdv_compressor_free(c);
}
END_TEST

/* bernoulli:p=1e-300 keeps no coordinate in any draw: nothing was tested, so the check is
 * inconclusive (pass = 0, stuck counted), not a PASS (issue 15). A cancel flag already set
 * stops it with SDV_EINTR. */
START_TEST(test_conformance_stuck_and_cancel) {
  sdv_compressor *c = make("bernoulli:p=1e-300", 3);
  sdv_conformance_options o;
  sdv_conformance_options_default(&o);
  o.samples = 500;
  sdv_conformance_report *r = NULL;
  ck_assert_int_eq(sdv_compressor_conformance(c, &o, &r), SDV_OK);
  ck_assert_int_eq(r->pass, 0);
  /* A coordinate whose test value is within rounding of 0 is not counted as stuck. */
  ck_assert_uint_gt(r->stuck, 0);
  ck_assert_uint_le(r->stuck, 3 * o.vectors);
  ck_assert_int_eq(r->inconclusive, 1);
  ck_assert_ptr_nonnull(strstr(r->note, "INCONCLUSIVE"));
  sdv_conformance_report_free(r);
  r = NULL;
  volatile sig_atomic_t stop = 1;
  o.cancel = &stop;
  ck_assert_int_eq(sdv_compressor_conformance(c, &o, &r), SDV_EINTR);
  ck_assert_ptr_null(r);
  sdv_compressor_free(c);
  c = make("bernoulli:p=0.3", 3);
  o.cancel = NULL;
  ck_assert_int_eq(sdv_compressor_conformance(c, &o, &r), SDV_OK);
  ck_assert_uint_eq(r->stuck, 0);
  ck_assert_int_eq(r->inconclusive, 0);
  sdv_conformance_report_free(r);
  sdv_compressor_free(c);
}
END_TEST

/* One stuck coordinate is not a starved vector. The claim suite's conformance check at seed 5
 * (run seed 5, pair qsgd:s=2 at d = 12: stream seed 10295143969812428706, alpha 1e-5, 20000
 * samples) meets a coordinate whose rounding-up probability is about 1e-5, so it never moves;
 * the issue-15 rule made that run INCONCLUSIVE, a false failure of a correct compressor. The
 * report must stay conclusive and pass, with the coordinate counted and noted. Deterministic. */
START_TEST(test_conformance_one_stuck_is_conclusive) {
  sdv_compressor *c = make("qsgd:s=2", 12);
  sdv_conformance_options o;
  sdv_conformance_options_default(&o);
  o.seed = 10295143969812428706ULL;
  o.alpha = 1e-5;
  o.samples = 20000;
  sdv_conformance_report *r = NULL;
  ck_assert_int_eq(sdv_compressor_conformance(c, &o, &r), SDV_OK);
  ck_assert_uint_gt(r->stuck, 0);
  ck_assert_int_eq(r->inconclusive, 0);
  ck_assert_int_eq(r->pass, 1);
  ck_assert_ptr_nonnull(strstr(r->note, "unchanged in all"));
  sdv_conformance_report_free(r);
  sdv_compressor_free(c);
}
END_TEST

static Suite *compressor_suite(void) {
  Suite *s = suite_create("compressor");
  TCase *tc = tcase_create("registry");
  tcase_add_test(tc, test_registry_builtins);
  tcase_add_test(tc, test_registry_user);
  suite_add_tcase(s, tc);
  tc = tcase_create("params");
  tcase_add_test(tc, test_params_invalid);
  tcase_add_test(tc, test_params_spec);
  suite_add_tcase(s, tc);
  tc = tcase_create("exact");
  tcase_add_test(tc, test_exact_values);
  tcase_add_test(tc, test_exact_support);
  suite_add_tcase(s, tc);
  tc = tcase_create("rand-k-draw");
  tcase_add_test(tc, test_rand_k_below_matches);
  tcase_add_test(tc, test_rand_k_subset_reference);
  tcase_add_test(tc, test_rand_k_subsets_batch);
  suite_add_tcase(s, tc);

  tc = tcase_create("determinism");
  tcase_add_test(tc, test_zero_and_determinism);
  suite_add_tcase(s, tc);
  tc = tcase_create("moments");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_moments_sampled);
  suite_add_tcase(s, tc);
  tc = tcase_create("conformance");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_conformance_builtins);
  tcase_add_test(tc, test_conformance_sampled_only);
  tcase_add_test(tc, test_conformance_negative);
  tcase_add_test(tc, test_conformance_options);
  tcase_add_test(tc, test_conformance_stuck_and_cancel);
  tcase_add_test(tc, test_conformance_one_stuck_is_conclusive);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(compressor_suite()); }
