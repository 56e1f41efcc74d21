/* Counter-based streams: Philox4x64-10 (Salmon, Moraes, Dror & Shaw, "Parallel random
 * numbers: as easy as 1, 2, 3", SC'11), from Random123.
 *
 * Layout: key = (seed, path); counter = (purpose << 32 | sub, 0, hi, lo) where (hi, lo) is
 * a 128-bit block index. Each block yields four 64-bit words.
 * Reference value checked by tests/test-rng.c: the first word of stream
 * (seed 1, path 2, purpose 0, sub 0) is Philox4x64-10 of counter 0 under key (1, 2),
 * 0x46fdf329c224985e... see the test.
 *
 * A refill generates SDV_STREAM_BLOCKS consecutive blocks (block n is always Philox(counter
 * n), so the words do not depend on the buffer size; tests/test-shortcuts.c checks them).
 *
 * Normals: Marsaglia & Tsang's ziggurat (J. Stat. Softw. 5(8), 2000) with 128 layers in
 * Doornik's formulation (2005), one 64-bit word per attempt: bits 0-6 pick the layer and
 * the top 52 bits the abscissa. Student-t: Bailey's polar method (Math. Comp. 62, 1994),
 * exact for every nu > 0. Gamma: Marsaglia & Tsang (ACM TOMS 26, 2000). Binomial: byte
 * comparisons for n <= 64, inversion above (Devroye 1986, X.4).
 */
#include <sdv/rng.h>

#include <math.h>
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
  /* Block n of the stream is Philox(counter n) wherever it falls in a refill, so the words
   * are the same for any SDV_STREAM_BLOCKS. The blocks are independent: the loop lets the
   * CPU overlap their multiply chains. */
  const philox4x64_key_t k = {{s->key[0], s->key[1]}};
  uint64_t hi = s->ctr[2], lo = s->ctr[3];
  for (unsigned b = 0; b < SDV_STREAM_BLOCKS; b++) {
    const philox4x64_ctr_t c = {{s->ctr[0], s->ctr[1], hi, lo}};
    const philox4x64_ctr_t r = philox4x64(c, k);
    s->buf[4 * b] = r.v[0];
    s->buf[4 * b + 1] = r.v[1];
    s->buf[4 * b + 2] = r.v[2];
    s->buf[4 * b + 3] = r.v[3];
    if (++lo == 0) ++hi;
  }
  s->ctr[2] = hi;
  s->ctr[3] = lo;
  s->avail = SDV_STREAM_WORDS;
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

/* Layer table: zig_x[0] = V / f(R), zig_x[1] = R, zig_x[i] = sqrt(-2 log(V / zig_x[i-1] +
 * f(zig_x[i-1]))) with f(x) = exp(-x^2/2), zig_x[128] = 0, and zig_ratio[i] = zig_x[i+1] /
 * zig_x[i]. Written out (the bits that recurrence gives with glibc's libm, in hexadecimal)
 * so that no draw waits on a one-time setup; tests/test-shortcuts.c recomputes it. */
/* clang-format off */
static const double zig_x[ZIG_C + 1] = {
    0x1.db4668fe7e4a4p+1, 0x1.b8a7c476d2be8p+1, 0x1.9c8e0c7c8098fp+1, 0x1.8aa73e440ffbcp+1,
    0x1.7d45eb36eb842p+1, 0x1.7279dd4ac3f9dp+1, 0x1.695c2be68edc9p+1, 0x1.616dff7c8f54ap+1,
    0x1.5a61edf7e8f32p+1, 0x1.54052012a04a4p+1, 0x1.4e3456b0e3a1bp+1, 0x1.48d61806d601p+1,
    0x1.43d75b60bca1dp+1, 0x1.3f29848d3b416p+1, 0x1.3ac11b8e206d6p+1, 0x1.3694f3a3740d9p+1,
    0x1.329d9725e32f7p+1, 0x1.2ed4df8099571p+1, 0x1.2b35aa5ebee3ep+1, 0x1.27bba2b5dbc92p+1,
    0x1.246317a6b53cp+1, 0x1.2128dd36bdf09p+1, 0x1.1e0a342cf08f6p+1, 0x1.1b04b731f6bccp+1,
    0x1.18164be0c1c39p+1, 0x1.153d16d45743dp+1, 0x1.12777201834f3p+1, 0x1.0fc3e4d95f278p+1,
    0x1.0d211dd28b00fp+1, 0x1.0a8ded0ec371ap+1, 0x1.08093fe3e40e1p+1, 0x1.05921d1c4d769p+1,
    0x1.0327a1cc4cf5ep+1, 0x1.00c8fea1720d4p+1, 0x1.fceaeb2ca5f17p+0, 0x1.f858aff31cbfp+0,
    0x1.f3da097460823p+0, 0x1.ef6dcddc7d392p+0, 0x1.eb12e91486bbcp+0, 0x1.e6c85a849b015p+0,
    0x1.e28d331c6723cp+0, 0x1.de609397e09b9p+0, 0x1.da41aaf79a344p+0, 0x1.d62fb52580b86p+0,
    0x1.d229f9bfeefdbp+0, 0x1.ce2fcb05f8c34p+0, 0x1.ca4084e091e34p+0, 0x1.c65b8c04dbac2p+0,
    0x1.c2804d2c6b16fp+0, 0x1.beae3c60cd0e4p+0, 0x1.bae4d457ee119p+0, 0x1.b72395df5b73bp+0,
    0x1.b36a075498d64p+0, 0x1.afb7b428fe7a1p+0, 0x1.ac0c2c6fc6382p+0, 0x1.a867047516e4fp+0,
    0x1.a4c7d45d01a31p+0, 0x1.a12e37c983369p+0, 0x1.9d99cd86b58b4p+0, 0x1.9a0a373c73f21p+0,
    0x1.967f1924c7b06p+0, 0x1.92f819c682bf5p+0, 0x1.8f74e1b37c6b8p+0, 0x1.8bf51b49ef337p+0,
    0x1.88787278810a6p+0, 0x1.84fe9484873b9p+0, 0x1.81872fd21db73p+0, 0x1.7e11f3adaeb92p+0,
    0x1.7a9e90168b8eep+0, 0x1.772cb58a39dd6p+0, 0x1.73bc14d01a2c9p+0, 0x1.704c5ec50cb81p+0,
    0x1.6cdd4426b88a5p+0, 0x1.696e755e16b84p+0, 0x1.65ffa248e016dp+0, 0x1.62907a0176ebfp+0,
    0x1.5f20aaa4dfc1ap+0, 0x1.5bafe11654817p+0, 0x1.583dc8bff3219p+0, 0x1.54ca0b4ffd349p+0,
    0x1.515450720f455p+0, 0x1.4ddc3d83a5b84p+0, 0x1.4a617543306ccp+0, 0x1.46e39778de063p+0,
    0x1.436240982ad9dp+0, 0x1.3fdd09591d2a4p+0, 0x1.3c538647ef792p+0, 0x1.38c54749b9033p+0,
    0x1.3531d7146a43ep+0, 0x1.3198ba982d911p+0, 0x1.2df97057e7efbp+0, 0x1.2a536fae30e33p+0,
    0x1.26a627fb9d12p+0, 0x1.22f0ffbaa1e55p+0, 0x1.1f335374a10f8p+0, 0x1.1b6c7492c9735p+0,
    0x1.179ba80463fecp+0, 0x1.13c024b2c7ec6p+0, 0x1.0fd911b97f236p+0, 0x1.0be58456ff4aep+0,
    0x1.07e47d87a40f6p+0, 0x1.03d4e7391c5b7p+0, 0x1.ff6b21fffe31ap-1, 0x1.f70a5866c8f46p-1,
    0x1.ee848e956826fp-1, 0x1.e5d6909f51b6ap-1, 0x1.dcfccc51c59fp-1, 0x1.d3f340dda611cp-1,
    0x1.cab56ac6a38d3p-1, 0x1.c13e2b014e85cp-1, 0x1.b787a7c516f3bp-1, 0x1.ad8b2506a137cp-1,
    0x1.a340d1baf5b18p-1, 0x1.989f85c753b2cp-1, 0x1.8d9c6a9d35e3dp-1, 0x1.822a858af0e7dp-1,
    0x1.763a1600eec74p-1, 0x1.69b7b213f3f69p-1, 0x1.5c8afdbf0217bp-1, 0x1.4e94c08c0bab7p-1,
    0x1.3fabee1911cd7p-1, 0x1.2f98d6bb4f41fp-1, 0x1.1e0ce6b5969b3p-1, 0x1.0a936da5e55adp-1,
    0x1.e8e576e43fbefp-2, 0x1.b4c8fece48e83p-2, 0x1.73949184db9dfp-2, 0x1.16db47e193e1ap-2,
    0x0p+0,
};
static const double zig_ratio[ZIG_C] = {
    0x1.dab48848d3c16p-1, 0x1.df5993967d2a6p-1, 0x1.e9c885d9a666bp-1, 0x1.eea42f70ceeacp-1,
    0x1.f1803c6a0781bp-1, 0x1.f366d2afaee48p-1, 0x1.f4c3825de9f38p-1, 0x1.f5ca83ef26e1fp-1,
    0x1.f69868793c53p-1, 0x1.f73e31c89895dp-1, 0x1.f7c6a977e305fp-1, 0x1.f838ffd4ec0eap-1,
    0x1.f89a30bcaa7bbp-1, 0x1.f8edcde8cde13p-1, 0x1.f93677b627e76p-1, 0x1.f97628687c107p-1,
    0x1.f9ae64ccb1f64p-1, 0x1.f9e05ca2efdc3p-1, 0x1.fa0d00cfbb6cdp-1, 0x1.fa3512e9cb952p-1,
    0x1.fa59305b35722p-1, 0x1.fa79da7e004a6p-1, 0x1.fa977c9ec13d6p-1, 0x1.fab27081a26dcp-1,
    0x1.facb01d4366f8p-1, 0x1.fae170d5cadc4p-1, 0x1.faf5f46a249p-1, 0x1.fb08bbbbc73bcp-1,
    0x1.fb19ef88b6409p-1, 0x1.fb29b32d77103p-1, 0x1.fb38257d095ffp-1, 0x1.fb456170e2019p-1,
    0x1.fb517eb94bd58p-1, 0x1.fb5c92349c858p-1, 0x1.fb66ae52354dbp-1, 0x1.fb6fe3652f8b4p-1,
    0x1.fb783fe9c00dp-1, 0x1.fb7fd0bfb9735p-1, 0x1.fb86a15c1886fp-1, 0x1.fb8cbbf324034p-1,
    0x1.fb92299c5d1ep-1, 0x1.fb96f271420e9p-1, 0x1.fb9b1da7b43fcp-1, 0x1.fb9eb1a8ade0cp-1,
    0x1.fba1b423d4107p-1, 0x1.fba42a205a48cp-1, 0x1.fba6180b97b6p-1, 0x1.fba781c59edc5p-1,
    0x1.fba86aac1a8c1p-1, 0x1.fba8d5a3a81cbp-1, 0x1.fba8c51fddb9dp-1, 0x1.fba83b2a23e8ep-1,
    0x1.fba7396782fc8p-1, 0x1.fba5c11d7fba4p-1, 0x1.fba3d3361dd1bp-1, 0x1.fba170431ac58p-1,
    0x1.fb9e9880706abp-1, 0x1.fb9b4bd62b198p-1, 0x1.fb9789d99cec9p-1, 0x1.fb9351cdf4f98p-1,
    0x1.fb8ea2a43f27ap-1, 0x1.fb897afacf29cp-1, 0x1.fb83d91c1719ap-1, 0x1.fb7dbafce8335p-1,
    0x1.fb771e3a1a365p-1, 0x1.fb70001593e79p-1, 0x1.fb685d72ad163p-1, 0x1.fb6032d1e043p-1,
    0x1.fb577c4bbfa39p-1, 0x1.fb4e358b1e8dp-1, 0x1.fb4459c65d655p-1, 0x1.fb39e3b7c2e55p-1,
    0x1.fb2ecd94c9ba2p-1, 0x1.fb23110445454p-1, 0x1.fb16a7133b4f5p-1, 0x1.fb0988284ac3dp-1,
    0x1.fafbabf570e44p-1, 0x1.faed0967f6925p-1, 0x1.fadd96964622ep-1, 0x1.facd48ab5f4e1p-1,
    0x1.fabc13cf91f8fp-1, 0x1.faa9eb0e19351p-1, 0x1.fa96c0371d81cp-1, 0x1.fa8283bd8f44dp-1,
    0x1.fa6d24902fe33p-1, 0x1.fa568fecff9b9p-1, 0x1.fa3eb12e1f177p-1, 0x1.fa25718f03b34p-1,
    0x1.fa0ab7e8a2982p-1, 0x1.f9ee6862ee1b5p-1, 0x1.f9d06419a6a63p-1, 0x1.f9b088b20ff67p-1,
    0x1.f98eafde8e73bp-1, 0x1.f96aaecc7e5e7p-1, 0x1.f9445577b49f4p-1, 0x1.f91b6dddf8427p-1,
    0x1.f8efbb0b5013fp-1, 0x1.f8c0f7f61e36fp-1, 0x1.f88ed61f8e779p-1, 0x1.f858fbe99f8adp-1,
    0x1.f81f028fc2ae1p-1, 0x1.f7e073a948fe3p-1, 0x1.f79cc61506b24p-1, 0x1.f7535a22e3d3fp-1,
    0x1.f70374c1451abp-1, 0x1.f6ac395f78bd5p-1, 0x1.f64ca218dbb22p-1, 0x1.f5e37591f6ccfp-1,
    0x1.f56f39b2b0507p-1, 0x1.f4ee220c3044p-1, 0x1.f45df82cd25b9p-1, 0x1.f3bbfb4b67d62p-1,
    0x1.f304b35b5d591p-1, 0x1.f233b16d764dap-1, 0x1.f143339d7d788p-1, 0x1.f02b9c88c7353p-1,
    0x1.eee2a3186b515p-1, 0x1.ed5a0a98bc7cdp-1, 0x1.eb7d8a7ccd9edp-1, 0x1.e92f39746c228p-1,
    0x1.e641170f50cafp-1, 0x1.e26896f5fbf47p-1, 0x1.dd2487adcb4e3p-1, 0x1.d58014742e544p-1,
    0x1.c96d1a883d306p-1, 0x1.b3911e9b8053ep-1, 0x1.803c6d4f93b49p-1, 0x0p+0,
};
/* clang-format on */

static double zig_tail(sdv_stream *s, int negative) {
  double x, y;
  do {
    x = log(sdv_stream_uniform(s)) / ZIG_R;
    y = log(sdv_stream_uniform(s));
  } while (-2.0 * y < x * x);
  return negative ? x - ZIG_R : ZIG_R - x;
}

/* The rare part of an attempt with word w that missed the rectangle of layer i: the tail
 * (i = 0) or the wedge test, then fresh attempts. */
static double zig_slow(sdv_stream *s, uint64_t w) {
  for (;;) {
    const int i = (int)(w & 0x7F);
    const double u = ((double)(int64_t)(w >> 12) + 0.5) * 0x1p-51 - 1.0;
    if (fabs(u) < zig_ratio[i]) return u * zig_x[i];
    if (i == 0) return zig_tail(s, u < 0);
    const double x = u * zig_x[i];
    const double f0 = exp(-0.5 * (zig_x[i] * zig_x[i] - x * x));
    const double f1 = exp(-0.5 * (zig_x[i + 1] * zig_x[i + 1] - x * x));
    if (f1 + sdv_stream_uniform(s) * (f0 - f1) < 1.0) return x;
    w = sdv_stream_u64(s);
  }
}

/* One attempt per word: bits 0-6 pick the layer, the top 52 bits give u in (-1, 1) as
 * 2 ((k + 1/2) 2^-52) - 1 (the factor 2 folded into 2^-51, exactly). About 98.8% of the
 * words land inside the layer's rectangle and cost one multiply. */
static inline double zig_draw(sdv_stream *s) {
  const uint64_t w = sdv_stream_u64(s);
  const int i = (int)(w & 0x7F);
  const double u = ((double)(int64_t)(w >> 12) + 0.5) * 0x1p-51 - 1.0;
  if (fabs(u) < zig_ratio[i]) return u * zig_x[i];
  return zig_slow(s, w);
}

double sdv_stream_normal(sdv_stream *s) { return zig_draw(s); }

void sdv_stream_normals(sdv_stream *s, double *out, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (s->avail == 0) sdv_stream_refill(s);
    /* Fast attempts straight from the buffer, with the read position in a register; a miss
     * hands its word to zig_slow, which may draw more words through the stream itself. */
    const unsigned a = s->avail;
    const uint64_t *wp = s->buf + (SDV_STREAM_WORDS - a);
    const size_t take = n - i < a ? n - i : a;
    size_t j = 0;
    for (; j < take; j++) {
      const uint64_t w = wp[j];
      const int l = (int)(w & 0x7F);
      const double u = ((double)(int64_t)(w >> 12) + 0.5) * 0x1p-51 - 1.0;
      if (!(fabs(u) < zig_ratio[l])) break;
      out[i + j] = u * zig_x[l];
    }
    i += j;
    if (j < take) {
      s->avail = a - (unsigned)j - 1; /* the missed word is consumed */
      out[i++] = zig_slow(s, wp[j]);
    } else {
      s->avail = a - (unsigned)j;
    }
  }
}

/* Inversion (Devroye 1986, X.4.3) for p <= 1/2: with U uniform, subtract P(X = 0),
 * P(X = 1), ... from U until it would go negative. P(X = 0) = q^n >= 2^-n, so nothing
 * underflows for n <= SDV_BINOMIAL_CHUNK, and larger n are sums of such chunks (the sum of
 * independent Binomial(n_i, p) is Binomial(sum n_i, p)). Expected work n p + 1 steps. */
#define SDV_BINOMIAL_CHUNK 256
static const double inv_int[SDV_BINOMIAL_CHUNK + 1] = {
#define INV1(j) 1.0 / (j)
#define INV4(j) INV1(j), INV1(j + 1), INV1(j + 2), INV1(j + 3)
#define INV16(j) INV4(j), INV4(j + 4), INV4(j + 8), INV4(j + 12)
#define INV64(j) INV16(j), INV16(j + 16), INV16(j + 32), INV16(j + 48)
    0.0, INV64(1), INV64(65), INV64(129), INV64(193)
#undef INV64
#undef INV16
#undef INV4
#undef INV1
};

static size_t binomial_small(sdv_stream *s, size_t n, double p) {
  const double q = 1.0 - p, r = p / q;
  double pk = 1.0, base = q; /* pk = q^n by squaring */
  for (size_t e = n; e; e >>= 1) {
    if (e & 1) pk *= base;
    base *= base;
  }
  double u = sdv_stream_uniform(s);
  size_t k = 0;
  while (k < n && u > pk) {
    u -= pk;
    pk *= r * (double)(n - k) * inv_int[k + 1];
    k++;
  }
  return k;
}

/* Small n: n Bernoulli trials U_i < p read eight to a word. Trial i takes byte b_i of a
 * word as the top 8 bits of U_i = (b_i + V_i)/256: b_i < floor(256 p) is a success, a larger
 * byte a failure, and only on a tie (probability 1/256) is V_i drawn, as a uniform compared
 * with frac(256 p). Each trial succeeds with probability p (to the 2^-52 grid of the
 * uniforms), so the count is Binomial(n, p); about n/8 words and no division. */
#define SDV_BINOMIAL_LANES_MAX 64
static size_t binomial_lanes(sdv_stream *s, size_t n, double p) {
  const double p256 = 256.0 * p; /* exact: a power-of-two scaling */
  const unsigned top = (unsigned)p256;
  const double frac = p256 - (double)top; /* exact */
  size_t k = 0;
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t w = sdv_stream_u64(s);
    const size_t lanes = n - i < 8 ? n - i : 8;
    for (size_t l = 0; l < lanes; l++) {
      const unsigned b = (unsigned)(w >> (8 * l)) & 0xFF;
      k += b < top;
      if (b == top) k += sdv_stream_uniform(s) < frac;
    }
  }
  return k;
}

size_t sdv_stream_binomial(sdv_stream *s, size_t n, double p) {
  if (!(p > 0.0) || n == 0) return 0; /* also p = NaN */
  if (p >= 1.0) return n;
  if (n <= SDV_BINOMIAL_LANES_MAX) return binomial_lanes(s, n, p);
  const int flip = p > 0.5;
  const double pp = flip ? 1.0 - p : p;
  size_t k = 0;
  for (size_t left = n; left > 0;) {
    const size_t c = left < SDV_BINOMIAL_CHUNK ? left : SDV_BINOMIAL_CHUNK;
    k += binomial_small(s, c, pp);
    left -= c;
  }
  return flip ? n - k : k;
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
