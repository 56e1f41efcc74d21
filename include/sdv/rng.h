/* sdv/rng.h — counter-based random streams.
 *
 * A stream is a sequence of Philox4x32-10 blocks (Salmon et al., SC'11; Random123) under a
 * key and counter tag derived from (seed, path, purpose, sub) by Philox4x64-10, the rest of
 * the counter being the block index (docs/math/streams.md). Stream (seed, path, purpose,
 * sub) is therefore a pure function of those four numbers: any single path can be regenerated
 * alone, and the numbers a path sees cannot depend on how paths are spread over threads or
 * processes. There is no global generator: every function that draws takes its stream.
 *
 * The struct is public so that streams live on the stack or inside a workspace; treat its
 * fields as private.
 */
#ifndef SDV_RNG_H
#define SDV_RNG_H

#include <stddef.h>
#include <stdint.h>

#include <gsl/gsl_rng.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the numbers of a stream are for. Different purposes of one path are independent
 * streams; the discrete and SDE sides share randomness only where a caller asks for it. */
enum sdv_purpose {
  SDV_PURPOSE_NOISE = 1,      /* gradient noise of the agents */
  SDV_PURPOSE_COMPRESSOR = 2, /* compressor randomness */
  SDV_PURPOSE_BROWNIAN = 3,   /* Brownian increments of an SDE path */
  SDV_PURPOSE_SAMPLING = 4,   /* conformance checks and other sampling studies */
  SDV_PURPOSE_AUX = 5,        /* anything else inside the library (e.g. random signs) */
  SDV_PURPOSE_USER = 64       /* first purpose reserved for user code */
};

/* Blocks generated per refill (two 64-bit words each). The words a stream yields do not
 * depend on it (block n is always the same function of the stream and n); generating many
 * blocks at once lets them share vector registers. */
#define SDV_STREAM_BLOCKS 32
#define SDV_STREAM_WORDS (2 * SDV_STREAM_BLOCKS)

typedef struct sdv_stream {
  uint64_t key;                   /* Philox4x32 key of the stream */
  uint64_t tag;                   /* counter words 2-3 of every block of the stream */
  uint64_t next;                  /* index of the next block to generate */
  unsigned avail;                 /* unread words left in buf (read from buf[WORDS - avail]) */
  uint64_t buf[SDV_STREAM_WORDS]; /* the last SDV_STREAM_BLOCKS blocks, in order */
} sdv_stream;

/* Positions s at the start of stream (seed, path, purpose, sub). Never fails. */
void sdv_stream_init(sdv_stream *s, uint64_t seed, uint64_t path, uint32_t purpose, uint32_t sub);

/* Generates the next SDV_STREAM_BLOCKS blocks (used by the inline readers). */
void sdv_stream_refill(sdv_stream *s);

/* Next uniformly distributed 64-bit word. */
static inline uint64_t sdv_stream_u64(sdv_stream *s) {
  if (s->avail == 0) sdv_stream_refill(s);
  return s->buf[SDV_STREAM_WORDS - s->avail--];
}

/* Uniform on the open interval (0, 1): (k + 1/2) 2^-52 with k the top 52 bits of a word.
 * Every value is exactly representable (53 significant bits), so it is never 0 or 1 (with 53
 * bits, k + 1/2 would round up to 2^53 for the largest k). */
static inline double sdv_stream_uniform(sdv_stream *s) {
  return ((double)(sdv_stream_u64(s) >> 12) + 0.5) * 0x1p-52;
}

/* Uniform integer in [0, n), unbiased (Lemire's multiply-and-reject). n must be >= 1. */
size_t sdv_stream_below(sdv_stream *s, size_t n);

/* Standard normal N(0, 1). */
double sdv_stream_normal(sdv_stream *s);

/* n standard normals into out (same values as n calls of sdv_stream_normal). */
void sdv_stream_normals(sdv_stream *s, double *out, size_t n);

/* Gamma(shape a, scale 1), a > 0 (Marsaglia-Tsang, with the U^(1/a) boost for a < 1). */
double sdv_stream_gamma(sdv_stream *s, double a);

/* Binomial(n, p): the number of successes in n independent trials of probability p, exact:
 * n <= 64 compares n random bytes with p (about n/8 words), larger n by inversion (one
 * uniform per 256 trials, about n min(p, 1-p) + 1 steps). p <= 0 or NaN gives 0 and p >= 1
 * gives n. */
size_t sdv_stream_binomial(sdv_stream *s, size_t n, double p);

/* Random sign, +1 or -1 with probability 1/2 each. */
static inline double sdv_stream_sign(sdv_stream *s) {
  return (sdv_stream_u64(s) >> 63) ? 1.0 : -1.0;
}

/* A gsl_rng that draws from s (borrowed: s must outlive it), so GSL's samplers
 * (gsl_ran_*) run on sdv streams. Returns NULL when out of memory. Free with gsl_rng_free. */
gsl_rng *sdv_stream_gsl_rng_alloc(sdv_stream *s);

#ifdef __cplusplus
}
#endif
#endif
