/* Exact first and second moments of DSGD and DCSGD (compressors linear in v v^T) with
 * minibatch noise on an objective whose per-sample gradients are affine in x,
 *     g_s(x) = a_s (a_s.x - y_s) + mu_s x = P_s x - r_s,   P_s = a_s a_s^T + mu_s I,
 *     r_s = y_s a_s
 * (least squares; the objective says so through its sample_affine hook). Derivation and
 * assumptions: docs/math/exact.md, "Least squares with minibatch noise".
 *
 * Agent i owns shard S_i (n_i samples) and draws B samples with replacement, so its gradient
 * v_i = (1/B) sum_b g_{s_b}(x) (+ the added law's Z_i, per-coordinate variance var_i) has
 *     E v_i = gbar_i(x) = Pbar_i x - rbar_i                (shard means of P_s, r_s),
 *     E v_i v_i^T = W_i(x) = (1/B) mean_{s in S_i} g_s g_s^T + (1 - 1/B) gbar_i gbar_i^T + var_i I.
 * With Phihat_i(M) = a_i diag(M) - c_i M (the compressor's linear covariance) and
 * gbar = (1/N) sum_i gbar_i = Pbar x - rbar, the update U = (1/N) sum_i C_i(v_i) has
 *     E[U | x] = gbar(x),
 *     Cov[U | x] = Sigma(x) = (1/N^2) sum_i [ (1 - c_i) W_i + a_i diag(W_i) - gbar_i gbar_i^T ],
 * quadratic in x, so with m = E x, S = E x x^T and T = E Sigma(x) (every term of T is an
 * expectation of a quadratic in x, known from m and S):
 *     DISCRETE  m' = m - eta (Pbar m - rbar),
 *               S' = A S A + eta (A m rbar^T + rbar m^T A) + eta^2 (rbar rbar^T + T),
 *               A = I - eta Pbar;
 *     SDE       m' = -(Pbar m - rbar),
 *               S' = -(Pbar S + S Pbar) + m rbar^T + rbar m^T + c^2 eta T,
 * the SDE being the one lib/optimizer/minibatch.c simulates (drift -gbar, diffusion Sigma,
 * scaled by the model's diffusion_scale c). The fourth-moment term of T is
 *     E g_s g_s^T = E[e_s^2] a_s a_s^T + mu_s (a_s w_s^T + w_s a_s^T) + mu_s^2 S,
 *     e_s = a_s.x - y_s,  E[e_s^2] = a_s^T S a_s - 2 y_s a_s.m + y_s^2,  w_s = S a_s - y_s m,
 * and Pbar_i S Pbar_i is formed as sum over the shard of rank-one updates, so that nothing
 * costs more than O(d^2) per sample: O(n d^2) per step (discrete) or per right-hand side
 * (SDE, CVODE Adams as moment_ode.c; its dense Jacobian is O(d^4) memory). No d x d matrix
 * per sample or per agent is stored; the samples are read through the hook each time.
 *
 * Reference value (tests/test-exact-lsq.c, "brute force"): the same moments from the exact
 * enumeration of every minibatch and compressor outcome on a 3-sample data set agree to
 * 1e-12 after 4 steps.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/exact.h>
#include <sdv/model.h>

#include "exact/cvode_setup.h"
#include "exact/exact_private.h"

/* Bytes the route allocates (doubles, so that nothing wraps): the outputs, nine d x d
 * scratch matrices and, on the SDE side, CVODE's n = d + d^2 states with a dense n x n
 * Jacobian and its factors. */
double sdv_exact_lsq_bytes(sdv_side side, size_t dim, size_t nt) {
  const double d = (double)dim, T = (double)nt, w = sizeof(double), n = d + d * d;
  const double base = w * (T * n + 9.0 * d * d + 8.0 * d);
  return side == SDV_SIDE_SDE ? base + w * (2.0 * n * n + 30.0 * n) : base;
}

bool sdv_exact_lsq_supported(const sdv_model *m, bool stationary, char *why, size_t len) {
  const char *meth = m->method->name;
  const sdv_objective_type *ot = m->objective->type;
  if (!ot->samples || !m->shard_start || !m->shard_index) {
    snprintf(why, len, "exact: objective '%s' has affine per-sample gradients but no samples",
             ot->name);
    return false;
  }
  if (stationary) {
    snprintf(why, len,
             "exact: %s with minibatch noise on '%s': only finite times are exact (no "
             "stationary solve); use a long horizon or Monte Carlo",
             meth, ot->name);
    return false;
  }
  for (size_t i = 0; i < m->agents; i++)
    if (!isfinite(m->var[i])) {
      snprintf(why, len,
               "exact: %s: agent %zu adds noise of infinite variance (%s) to its minibatch "
               "gradient, so E x x^T is infinite",
               meth, i + 1, m->noise[i]->type->name);
      return false;
    }
  return sdv_exact_compressors_linear(m, why, len);
}

typedef struct lsq {
  const sdv_model *m;
  size_t d, N;
  double eta, c2, invB;
  double *ca, *cc; /* [N] compressor coefficients a_i, c_i (0 without a compressor) */
  double *rbar;    /* [d] (1/N) sum_i rbar_i */
  double *av, *u, *wv, *ri, *pi, *v1; /* [d] scratch */
  double *Y, *Z, *G, *Q, *T, *X;      /* [d*d] scratch */
  volatile sig_atomic_t *cancel;
} lsq;

static void lsq_free(lsq *L) {
  free(L->ca);
  free(L->av);
  free(L->Y);
}

static void sample(const lsq *L, size_t s, double *a, double *y, double *mu) {
  const sdv_objective *o = L->m->objective;
  o->type->sample_affine(o->state, o->dim, s, a, y, mu);
}

static double dot(const double *a, const double *b, size_t d) {
  double v = 0.0;
  for (size_t j = 0; j < d; j++) v += a[j] * b[j];
  return v;
}

static size_t shard_n(const sdv_model *m, size_t i) {
  return m->shard_start[i + 1] - m->shard_start[i];
}

/* Samples of agent i: shard_index[lo .. hi). */
static void shard(const lsq *L, size_t i, size_t *lo, size_t *hi) {
  *lo = L->m->shard_start[i];
  *hi = L->m->shard_start[i + 1];
}

/* out (+)= w sum_{s in shard i} P_s X (left = true) or X P_s (left = false), X d x d, in
 * O(n_i d^2): P_s X = a (a^T X) + mu X. add = false overwrites out. */
static void pmul(const lsq *L, size_t i, double w, const double *X, double *out, bool left,
                 bool add) {
  const size_t d = L->d;
  size_t lo, hi;
  shard(L, i, &lo, &hi);
  if (!add)
    for (size_t p = 0; p < d * d; p++) out[p] = 0.0;
  double musum = 0.0;
  for (size_t k = lo; k < hi; k++) {
    double y, mu;
    sample(L, L->m->shard_index[k], L->av, &y, &mu);
    musum += mu;
    const double *a = L->av;
    if (left) { /* t = X^T a: row vector a^T X */
      for (size_t l = 0; l < d; l++) L->u[l] = 0.0;
      for (size_t j = 0; j < d; j++)
        for (size_t l = 0; l < d; l++) L->u[l] += a[j] * X[j * d + l];
      for (size_t j = 0; j < d; j++)
        for (size_t l = 0; l < d; l++) out[j * d + l] += w * a[j] * L->u[l];
    } else { /* t = X a */
      for (size_t j = 0; j < d; j++) L->u[j] = dot(X + j * d, a, d);
      for (size_t j = 0; j < d; j++)
        for (size_t l = 0; l < d; l++) out[j * d + l] += w * L->u[j] * a[l];
    }
  }
  for (size_t p = 0; p < d * d; p++) out[p] += w * musum * X[p];
}

/* pv (+)= w sum_{s in shard i} P_s v and rv (+)= w sum_s r_s (either may be NULL). */
static void pvec(const lsq *L, size_t i, double w, const double *v, double *pv, double *rv) {
  const size_t d = L->d;
  size_t lo, hi;
  shard(L, i, &lo, &hi);
  for (size_t k = lo; k < hi; k++) {
    double y, mu;
    sample(L, L->m->shard_index[k], L->av, &y, &mu);
    const double *a = L->av;
    if (pv) {
      const double c = dot(a, v, d);
      for (size_t j = 0; j < d; j++) pv[j] += w * (c * a[j] + mu * v[j]);
    }
    if (rv)
      for (size_t j = 0; j < d; j++) rv[j] += w * y * a[j];
  }
}

/* Q = mean over shard i of E g_s g_s^T (the fourth-moment term), O(n_i d^2). */
static void fourth(const lsq *L, size_t i, const double *m, const double *S, double *Q) {
  const size_t d = L->d;
  size_t lo, hi;
  shard(L, i, &lo, &hi);
  const double w = 1.0 / (double)(hi - lo);
  double mu2 = 0.0;
  for (size_t p = 0; p < d * d; p++) Q[p] = 0.0;
  for (size_t k = lo; k < hi; k++) {
    double y, mu;
    sample(L, L->m->shard_index[k], L->av, &y, &mu);
    const double *a = L->av;
    for (size_t j = 0; j < d; j++) L->u[j] = dot(S + j * d, a, d); /* S a */
    const double e2 = dot(a, L->u, d) - 2.0 * y * dot(a, m, d) + y * y;
    for (size_t j = 0; j < d; j++) L->wv[j] = L->u[j] - y * m[j];
    for (size_t j = 0; j < d; j++)
      for (size_t l = 0; l < d; l++)
        Q[j * d + l] += w * (e2 * a[j] * a[l] + mu * (a[j] * L->wv[l] + L->wv[j] * a[l]));
    mu2 += w * mu * mu;
  }
  for (size_t p = 0; p < d * d; p++) Q[p] += mu2 * S[p];
}

/* T = E Sigma(x) given m and S (see the top of the file). */
static void noise_term(lsq *L, const double *m, const double *S) {
  const size_t d = L->d, N = L->N;
  const double n2 = (double)N * (double)N;
  for (size_t p = 0; p < d * d; p++) L->T[p] = 0.0;
  for (size_t i = 0; i < N; i++) {
    size_t lo, hi;
    shard(L, i, &lo, &hi);
    const double w = 1.0 / (double)(hi - lo);
    /* G = E gbar_i gbar_i^T = Pbar_i S Pbar_i - p rbar_i^T - rbar_i p^T + rbar_i rbar_i^T. */
    for (size_t j = 0; j < d; j++) L->pi[j] = L->ri[j] = 0.0;
    pvec(L, i, w, m, L->pi, L->ri);
    pmul(L, i, w, S, L->Y, true, false);
    pmul(L, i, w, L->Y, L->G, false, false);
    for (size_t j = 0; j < d; j++)
      for (size_t l = 0; l < d; l++)
        L->G[j * d + l] += -L->pi[j] * L->ri[l] - L->ri[j] * L->pi[l] + L->ri[j] * L->ri[l];
    fourth(L, i, m, S, L->Q);
    /* W_i = Q/B + (1 - 1/B) G + var_i I; T += [(1 - c) W + a diag(W) - G]/N^2. */
    const double ci = L->cc[i], ai = L->ca[i], vi = L->m->var[i];
    for (size_t j = 0; j < d; j++)
      for (size_t l = 0; l < d; l++) {
        const size_t p = j * d + l;
        double W = L->invB * L->Q[p] + (1.0 - L->invB) * L->G[p];
        if (j == l) W += vi;
        L->T[p] += ((1.0 - ci) * W + (j == l ? ai * W : 0.0) - L->G[p]) / n2;
      }
  }
}

/* Y = Pbar S (Pbar = (1/N) sum_i Pbar_i), pv = Pbar m. */
static void pbar_apply(lsq *L, const double *m, const double *S, double *Y, double *pv) {
  const size_t d = L->d;
  for (size_t j = 0; j < d; j++) pv[j] = 0.0;
  for (size_t p = 0; p < d * d; p++) Y[p] = 0.0;
  for (size_t i = 0; i < L->N; i++) {
    const double w = 1.0 / ((double)L->N * (double)shard_n(L->m, i));
    pmul(L, i, w, S, Y, true, true);
    pvec(L, i, w, m, pv, NULL);
  }
}

static int lsq_init(lsq *L, const sdv_model *m, volatile sig_atomic_t *cancel) {
  memset(L, 0, sizeof *L);
  const size_t d = m->dim, N = m->agents;
  L->m = m;
  L->d = d;
  L->N = N;
  L->eta = m->eta;
  L->c2 = m->diffusion_scale * m->diffusion_scale;
  L->invB = 1.0 / (double)m->batch;
  L->cancel = cancel;
  L->ca = calloc(2 * N, sizeof *L->ca);
  L->av = calloc(7 * d, sizeof *L->av);
  L->Y = calloc(6 * d * d, sizeof *L->Y);
  if (!L->ca || !L->av || !L->Y) {
    lsq_free(L);
    return SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu, N = %zu)", d, N);
  }
  L->cc = L->ca + N;
  L->u = L->av + d;
  L->wv = L->av + 2 * d;
  L->ri = L->av + 3 * d;
  L->pi = L->av + 4 * d;
  L->v1 = L->av + 5 * d;
  L->rbar = L->av + 6 * d;
  L->Z = L->Y + d * d;
  L->G = L->Y + 2 * d * d;
  L->Q = L->Y + 3 * d * d;
  L->T = L->Y + 4 * d * d;
  L->X = L->Y + 5 * d * d;
  for (size_t i = 0; i < N; i++)
    if (m->compressor && m->compressor[i]) {
      const sdv_compressor *cp = m->compressor[i];
      const int rc = cp->type->linear(cp->state, cp->dim, L->ca + i, L->cc + i);
      if (rc) {
        lsq_free(L);
        return rc;
      }
    }
  for (size_t i = 0; i < N; i++)
    pvec(L, i, 1.0 / ((double)N * (double)shard_n(m, i)), NULL, NULL, L->rbar);
  return SDV_OK;
}

static void symmetrize(double *S, size_t d) {
  for (size_t j = 0; j < d; j++)
    for (size_t l = 0; l < j; l++)
      S[j * d + l] = S[l * d + j] = 0.5 * (S[j * d + l] + S[l * d + j]);
}

/* One step of the discrete map, in place on m[d] and S[d*d]. */
static void step_disc(lsq *L, double *m, double *S) {
  const size_t d = L->d;
  const double eta = L->eta, *rb = L->rbar;
  noise_term(L, m, S);
  double *pv = L->v1, *Am = L->pi;
  pbar_apply(L, m, S, L->Y, pv); /* Y = Pbar S */
  /* X = A S = S - eta Y; Z = X Pbar; A S A = X - eta Z. */
  for (size_t p = 0; p < d * d; p++) L->X[p] = S[p] - eta * L->Y[p];
  for (size_t p = 0; p < d * d; p++) L->Z[p] = 0.0;
  for (size_t i = 0; i < L->N; i++)
    pmul(L, i, 1.0 / ((double)L->N * (double)shard_n(L->m, i)), L->X, L->Z, false, true);
  for (size_t j = 0; j < d; j++) Am[j] = m[j] - eta * pv[j];
  for (size_t j = 0; j < d; j++)
    for (size_t l = 0; l < d; l++) {
      const size_t p = j * d + l;
      S[p] = L->X[p] - eta * L->Z[p] + eta * (Am[j] * rb[l] + rb[j] * Am[l]) +
             eta * eta * (rb[j] * rb[l] + L->T[p]);
    }
  symmetrize(S, d);
  for (size_t j = 0; j < d; j++) m[j] = Am[j] + eta * rb[j];
}

/* The SDE's moment equations: (m, S) -> (m', S'). */
static void rhs_sde(lsq *L, const double *m, const double *S, double *md, double *Sd) {
  const size_t d = L->d;
  const double *rb = L->rbar, k = L->c2 * L->eta;
  noise_term(L, m, S);
  pbar_apply(L, m, S, L->Y, L->v1);
  for (size_t j = 0; j < d; j++) md[j] = rb[j] - L->v1[j];
  for (size_t j = 0; j < d; j++)
    for (size_t l = 0; l < d; l++)
      Sd[j * d + l] =
          -(L->Y[j * d + l] + L->Y[l * d + j]) + m[j] * rb[l] + rb[j] * m[l] + k * L->T[j * d + l];
}

static int run_disc(lsq *L, const size_t *steps, size_t nt, double *mean, double *S) {
  const size_t d = L->d, dd = d * d;
  double *m = malloc((d + dd) * sizeof *m);
  if (!m) return SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu)", d);
  double *s = m + d;
  const double *x0 = L->m->x0;
  for (size_t j = 0; j < d; j++) {
    m[j] = x0[j];
    for (size_t l = 0; l < d; l++) s[j * d + l] = x0[j] * x0[l];
  }
  int rc = SDV_OK;
  size_t k = 0;
  for (size_t t = 0; t < nt; t++) {
    for (; k < steps[t]; k++) {
      if (L->cancel && *L->cancel) {
        rc = SDV_ERROR(SDV_EINTR, "exact: recursion cancelled at step %zu", k);
        goto done;
      }
      step_disc(L, m, s);
    }
    if (mean) memcpy(mean + t * d, m, d * sizeof *m);
    if (S) memcpy(S + t * dd, s, dd * sizeof *s);
  }
done:
  free(m);
  return rc;
}

static int cv_rhs(sunrealtype t, N_Vector y, N_Vector ydot, void *user) {
  (void)t;
  lsq *L = user;
  if (L->cancel && *L->cancel) return -1;
  const double *Y = N_VGetArrayPointer(y);
  double *Yd = N_VGetArrayPointer(ydot);
  rhs_sde(L, Y, Y + L->d, Yd, Yd + L->d);
  return 0;
}

static int run_sde(lsq *L, const size_t *steps, size_t nt, double *mean, double *S,
                   const sdv_exact_options *opt, sdv_exact_info *info) {
  const size_t d = L->d, dd = d * d, n = d + dd;
  const double *x0 = L->m->x0;
  sdv_exact_cvode cv = {0};
  int rc = sdv_exact_cvode_alloc(&cv, n);
  if (rc == SDV_ENOMEM) {
    rc = SDV_ERROR(SDV_ENOMEM, "exact: out of memory (CVODE vectors, n = %zu)", n);
    goto done;
  }
  if (rc) goto fail;
  double *Y = sdv_exact_cvode_state(&cv);
  double scale = 0.0;
  for (size_t j = 0; j < d; j++) {
    Y[j] = x0[j];
    for (size_t l = 0; l < d; l++) Y[d + j * d + l] = x0[j] * x0[l];
    if (x0[j] * x0[j] > scale) scale = x0[j] * x0[j];
  }
  /* The absolute tolerance's scale: |x0|^2, or where x0 is small (x0 = 0 is common) the
   * squared size of rbar_j / Pbar_jj, the noise-free target's coordinates on a diagonal
   * Pbar. */
  for (size_t j = 0; j < d; j++) {
    L->v1[j] = 1.0;
    double p = 0.0;
    for (size_t i = 0; i < L->N; i++) {
      for (size_t l = 0; l < d; l++) L->pi[l] = 0.0;
      pvec(L, i, 1.0 / ((double)L->N * (double)shard_n(L->m, i)), L->v1, L->pi, NULL);
      p += L->pi[j];
    }
    L->v1[j] = 0.0;
    if (p > 0.0 && L->rbar[j] * L->rbar[j] / (p * p) > scale)
      scale = L->rbar[j] * L->rbar[j] / (p * p);
  }
  if (!(scale > 0.0) || !isfinite(scale)) scale = 1.0;
  if ((rc = sdv_exact_cvode_init(&cv, CV_ADAMS, cv_rhs, L, opt->rtol, opt->atol * scale)))
    goto fail;
  if ((rc = sdv_exact_cvode_moments(&cv, steps, nt, L->eta, L->cancel, d, mean, S))) {
    if (rc == SDV_EINTR) goto done;
    goto fail;
  }
  if (info && (rc = sdv_exact_cvode_steps(&cv, &info->iterations))) goto fail;
  goto done;
fail:
  rc = SDV_ERROR(SDV_ENUMERIC, "exact: least-squares SDE moment ODE: %s failed (flag %d)", cv.what,
                 cv.flag);
done:
  sdv_exact_cvode_free(&cv);
  return rc;
}

int sdv_exact_lsq_moments(const sdv_model *m, sdv_side side, const size_t *steps, size_t nt,
                          double *mean, double *S, const sdv_exact_options *opt,
                          sdv_exact_info *info) {
  lsq L;
  int rc = lsq_init(&L, m, opt->cancel);
  if (rc) return rc;
  if (side == SDV_SIDE_DISCRETE) {
    if (info) info->route = "recursion";
    rc = run_disc(&L, steps, nt, mean, S);
  } else {
    if (info) info->route = "cvode";
    rc = run_sde(&L, steps, nt, mean, S, opt, info);
  }
  lsq_free(&L);
  return rc;
}

/* E g for the built-in observables of f = (1/n) sum_s f_s from m and S:
 *   E f = (1/n) sum_s [ E e_s^2/2 + mu_s tr S/2 ],
 *   E ||grad f||^2 = tr(Pf S Pf) - 2 rf.(Pf m) + |rf|^2,  Pf = mean_s P_s, rf = mean_s r_s
 * (f's own gradient, sample-weighted, not the shard-weighted drift). */
static double observable(lsq *L, const sdv_observable *o, const double *m, const double *S) {
  const size_t d = L->d, n = L->m->samples;
  const double w = 1.0 / (double)n;
  double v = 0.0, tr = 0.0;
  for (size_t j = 0; j < d; j++) tr += S[j * d + j];
  switch (o->kind) {
  case SDV_OBS_F:
    for (size_t s = 0; s < n; s++) {
      double y, mu;
      sample(L, s, L->av, &y, &mu);
      for (size_t j = 0; j < d; j++) L->u[j] = dot(S + j * d, L->av, d);
      v += w * 0.5 * (dot(L->av, L->u, d) - 2.0 * y * dot(L->av, m, d) + y * y + mu * tr);
    }
    return v;
  case SDV_OBS_NORM2:
    return tr;
  case SDV_OBS_GRAD2: {
    /* Pf = mean over all samples: one pseudo-shard of every sample, through the shards. */
    double *pv = L->pi, *rv = L->ri;
    for (size_t j = 0; j < d; j++) pv[j] = rv[j] = 0.0;
    for (size_t p = 0; p < d * d; p++) L->Y[p] = 0.0;
    for (size_t i = 0; i < L->N; i++) {
      pmul(L, i, w, S, L->Y, true, true);
      pvec(L, i, w, m, pv, rv);
    }
    for (size_t p = 0; p < d * d; p++) L->Z[p] = 0.0;
    for (size_t i = 0; i < L->N; i++) pmul(L, i, w, L->Y, L->Z, false, true);
    for (size_t j = 0; j < d; j++) v += L->Z[j * d + j];
    return v - 2.0 * dot(rv, pv, d) + dot(rv, rv, d);
  }
  case SDV_OBS_X:
    return m[o->index];
  case SDV_OBS_X2:
    return S[o->index * d + o->index];
  default:
    return NAN;
  }
}

int sdv_exact_lsq_eval(const sdv_model *m, sdv_side side, const size_t *steps, size_t nt,
                       const sdv_observable *obs, size_t nobs, double *values,
                       const sdv_exact_options *opt, sdv_exact_info *info) {
  const size_t d = m->dim;
  double *a = malloc(nt * (d + d * d) * sizeof *a);
  if (!a) return SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu, nt = %zu)", d, nt);
  double *b = a + nt * d;
  int rc = sdv_exact_lsq_moments(m, side, steps, nt, a, b, opt, info);
  lsq L;
  if (!rc && !(rc = lsq_init(&L, m, NULL))) {
    for (size_t t = 0; t < nt; t++)
      for (size_t o = 0; o < nobs; o++)
        values[t * nobs + o] = observable(&L, obs + o, a + t * d, b + t * d * d);
    lsq_free(&L);
  }
  free(a);
  return rc;
}
