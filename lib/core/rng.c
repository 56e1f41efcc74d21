/* Counter-based streams: Philox4x64-10 (Salmon, Moraes, Dror & Shaw, "Parallel random
 * numbers: as easy as 1, 2, 3", SC'11), from Random123.
 *
 * Layout: key = (seed, path); counter = (purpose << 32 | sub, 0, hi, lo) where (hi, lo) is
 * a 128-bit block index. Each block yields four 64-bit words.
 * Reference value checked by tests/test-rng.c: the first word of stream
 * (seed 1, path 2, purpose 0, sub 0) is Philox4x64-10 of counter 0 under key (1, 2),
 * 0x46fdf329c224985e... see the test.
 *
 * Normals: Marsaglia & Tsang's ziggurat (J. Stat. Softw. 5(8), 2000) with 128 layers in
 * Doornik's formulation (2005), one 64-bit word per attempt: bits 0-6 pick the layer and
 * the top 52 bits the abscissa. Student-t: Bailey's polar method (Math. Comp. 62, 1994),
 * exact for every nu > 0. Gamma: Marsaglia & Tsang (ACM TOMS 26, 2000).
 */
#include <sdv/rng.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include <Random123/philox.h>

void sdv_stream_init(sdv_stream *s, uint64_t seed, uint64_t path, uint32_t purpose,
                     uint32_t sub) {
  s->key[0] = seed;
  s->key[1] = path;
  s->ctr[0] = ((uint64_t)purpose << 32) | sub;
  s->ctr[1] = 0;
  s->ctr[2] = 0;
  s->ctr[3] = 0;
  s->avail = 0;
}

void sdv_stream_refill(sdv_stream *s) {
  philox4x64_ctr_t c = {{s->ctr[0], s->ctr[1], s->ctr[2], s->ctr[3]}};
  philox4x64_key_t k = {{s->key[0], s->key[1]}};
  philox4x64_ctr_t r = philox4x64(c, k);
  s->buf[0] = r.v[0];
  s->buf[1] = r.v[1];
  s->buf[2] = r.v[2];
  s->buf[3] = r.v[3];
  s->avail = 4;
  if (++s->ctr[3] == 0) ++s->ctr[2];
}

size_t sdv_stream_below(sdv_stream *s, size_t n) {
  /* Lemire, "Fast random integer generation in an interval", TOMACS 2019. */
  __extension__ typedef unsigned __int128 u128;
  uint64_t x = sdv_stream_u64(s);
  u128 m = (u128)x * (uint64_t)n;
  uint64_t l = (uint64_t)m;
  if (l < n) {
    uint64_t t = (uint64_t)(-(uint64_t)n) % n;
    while (l < t) {
      x = sdv_stream_u64(s);
      m = (u128)x * (uint64_t)n;
      l = (uint64_t)m;
    }
  }
  return (size_t)(m >> 64);
}

/* ---- ziggurat ---- */
#define ZIG_C 128
#define ZIG_R 3.442619855899
#define ZIG_V 9.91256303526217e-3

static double zig_x[ZIG_C + 1];
static double zig_ratio[ZIG_C];
static pthread_once_t zig_once = PTHREAD_ONCE_INIT;

static void zig_init(void) {
  double f = exp(-0.5 * ZIG_R * ZIG_R);
  zig_x[0] = ZIG_V / f;
  zig_x[1] = ZIG_R;
  zig_x[ZIG_C] = 0.0;
  for (int i = 2; i < ZIG_C; i++) {
    zig_x[i] = sqrt(-2.0 * log(ZIG_V / zig_x[i - 1] + f));
    f = exp(-0.5 * zig_x[i] * zig_x[i]);
  }
  for (int i = 0; i < ZIG_C; i++) zig_ratio[i] = zig_x[i + 1] / zig_x[i];
}

static double zig_tail(sdv_stream *s, int negative) {
  double x, y;
  do {
    x = log(sdv_stream_uniform(s)) / ZIG_R;
    y = log(sdv_stream_uniform(s));
  } while (-2.0 * y < x * x);
  return negative ? x - ZIG_R : ZIG_R - x;
}

static inline double zig_draw(sdv_stream *s) {
  for (;;) {
    const uint64_t w = sdv_stream_u64(s);
    const int i = (int)(w & 0x7F);
    const double u = 2.0 * (((double)(w >> 12) + 0.5) * 0x1p-52) - 1.0;
    if (fabs(u) < zig_ratio[i]) return u * zig_x[i];
    if (i == 0) return zig_tail(s, u < 0);
    const double x = u * zig_x[i];
    const double f0 = exp(-0.5 * (zig_x[i] * zig_x[i] - x * x));
    const double f1 = exp(-0.5 * (zig_x[i + 1] * zig_x[i + 1] - x * x));
    if (f1 + sdv_stream_uniform(s) * (f0 - f1) < 1.0) return x;
  }
}

double sdv_stream_normal(sdv_stream *s) {
  pthread_once(&zig_once, zig_init);
  return zig_draw(s);
}

void sdv_stream_normals(sdv_stream *s, double *out, size_t n) {
  pthread_once(&zig_once, zig_init);
  for (size_t i = 0; i < n; i++) out[i] = zig_draw(s);
}

double sdv_stream_gamma(sdv_stream *s, double a) {
  if (!(a > 0)) return NAN;
  if (a < 1.0) {
    /* Gamma(a) = Gamma(a + 1) U^(1/a). */
    double u = sdv_stream_uniform(s);
    return sdv_stream_gamma(s, a + 1.0) * pow(u, 1.0 / a);
  }
  const double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = sdv_stream_normal(s);
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = sdv_stream_uniform(s);
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
  }
}

double sdv_stream_student_t(sdv_stream *s, double nu) {
  if (!(nu > 0)) return NAN;
  for (;;) {
    const double u1 = 2.0 * sdv_stream_uniform(s) - 1.0;
    const double u2 = 2.0 * sdv_stream_uniform(s) - 1.0;
    const double w = u1 * u1 + u2 * u2;
    if (w < 1.0 && w > 0.0) return u1 * sqrt(nu * (pow(w, -2.0 / nu) - 1.0) / w);
  }
}

double sdv_stream_cauchy(sdv_stream *s) { return tan(M_PI * (sdv_stream_uniform(s) - 0.5)); }

/* ---- gsl_rng adaptor: the gsl_rng's state holds a pointer to the borrowed stream ---- */
typedef struct {
  sdv_stream *s;
} gsl_adaptor_state;

static void gsl_adaptor_set(void *state, unsigned long seed) {
  (void)state;
  (void)seed; /* a stream is positioned by its key, not reseeded through GSL */
}
static unsigned long gsl_adaptor_get(void *state) {
  return (unsigned long)(sdv_stream_u64(((gsl_adaptor_state *)state)->s) >> 32);
}
static double gsl_adaptor_get_double(void *state) {
  /* GSL wants [0, 1); (0, 1) is a subset. */
  return sdv_stream_uniform(((gsl_adaptor_state *)state)->s);
}
static const gsl_rng_type gsl_adaptor_type = {"sdv-philox4x64", 0xffffffffUL, 0,
                                              sizeof(gsl_adaptor_state), gsl_adaptor_set,
                                              gsl_adaptor_get, gsl_adaptor_get_double};

gsl_rng *sdv_stream_gsl_rng_alloc(sdv_stream *s) {
  gsl_rng *r = gsl_rng_alloc(&gsl_adaptor_type);
  if (r) ((gsl_adaptor_state *)r->state)->s = s;
  return r;
}
