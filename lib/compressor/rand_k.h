/* Private to rand-k (lib/compressor/rand_k.c) and its tests: the bounded integer draw of its
 * subset shuffle. Methods reach the subsets through the type's subsets hook. */
#ifndef SDV_RAND_K_H
#define SDV_RAND_K_H

#include <stddef.h>
#include <stdint.h>

#include <sdv/compressor.h>
#include <sdv/rng.h>

/* Lemire's rejection threshold for the bound n >= 1: t = 2^64 mod n. A word x gives
 * r = floor(x n / 2^64) and the low word l = x n mod 2^64; each interval [r 2^64, (r+1) 2^64)
 * holds floor(2^64/n) or floor(2^64/n) + 1 multiples x n of n, and rejecting l < t leaves
 * exactly floor(2^64/n) for every r, so an accepted r is uniform on [0, n) (Lemire, "Fast
 * random integer generation in an interval", ACM TOMACS 29(1), 2019). */
static inline uint64_t sdv_rand_k_threshold(uint64_t n) { return (uint64_t)(-n) % n; }

/* Uniform integer in [0, n) from s with t = sdv_rand_k_threshold(n): the same value from the
 * same words as sdv_stream_below(s, n) (which tests low < n first and only then computes t;
 * since t < n the two reject exactly the same words), inline and without the modulo. */
static inline uint64_t sdv_rand_k_below(sdv_stream *s, uint64_t n, uint64_t t) {
  __extension__ typedef unsigned __int128 u128;
  u128 m = (u128)sdv_stream_u64(s) * n;
  while ((uint64_t)m < t) m = (u128)sdv_stream_u64(s) * n;
  return (uint64_t)(m >> 64);
}

#endif
