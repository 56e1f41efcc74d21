/* The suite's order: families as in docs/claims.md, checks in file order. */
#include "checks.h"

#include <math.h>
#include <string.h>

size_t sdv_checks_all(const sdv_check *const **list) {
  static const sdv_check *all[256];
  static size_t n = 0;
  if (n == 0) {
    const sdv_check *fam[] = {
        sdv_checks_moments,    sdv_checks_trajectory,  sdv_checks_weak,
        sdv_checks_stationary, sdv_checks_stability,   sdv_checks_covariance,
        sdv_checks_dsignsgd,   sdv_checks_heavy_tails, sdv_checks_sign_drift,
        sdv_checks_scaling,    sdv_checks_conformance, sdv_checks_nonquadratic,
        sdv_checks_minibatch,  sdv_checks_realdata,    sdv_checks_hetero,
        sdv_checks_lsq,
        sdv_checks_coupling};
    for (size_t f = 0; f < sizeof fam / sizeof *fam; f++)
      for (const sdv_check *c = fam[f]; c->id && n < 256; c++) all[n++] = c;
  }
  *list = all;
  return n;
}

uint64_t sdv_check_seed(const sdv_check_ctx *ctx, const char *id, unsigned k) {
  /* FNV-1a over the id, mixed with the run seed and k (splitmix64 finaliser). */
  uint64_t h = 1469598103934665603ULL;
  for (const char *c = id; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ULL;
  uint64_t z = h ^ (ctx->seed * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)k << 32);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool sdv_check_inside(double pred, double lo, double hi) { return pred >= lo && pred <= hi; }

bool sdv_check_close(double a, double b, double rtol) { return fabs(a - b) <= rtol * fabs(b); }
