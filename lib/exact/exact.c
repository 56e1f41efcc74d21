/* Dispatcher of the exact references: decides which route (if any) gives an exact value for
 * (model, side, observable) and turns moments into observables.
 *
 * Routes (docs/math/exact.md):
 *   linear      DSGD/DCSGD with linear compressors on a quadratic, DISCRETE and SDE
 *               (recursion.c, moment_ode.c, linear.c);
 *   lattice     DSignSGD, or any method declaring a lattice (sdv_method_type.lattice), on a
 *               diagonal quadratic, DISCRETE (lattice.c);
 *   sign-sde    DSignSGD on a diagonal quadratic, SDE, stationary only (stationary.c);
 *   drift       any model, ODE and NOISEFREE (drift_ode.c).
 * Observables from moments (m = E x, S = E x x^T):
 *   E f = 0.5 tr(H S),  E ||x||^2 = tr S,  E ||grad f||^2 = tr(H^2 S),  E x_j = m_j,
 *   E x_j^2 = S_jj.
 * Reference value (tests/test-exact.c, "claim 1"): DSGD, d = 1, lambda = 2, x0 = 1, t = 1:
 * (E f disc - E f SDE)/eta -> -4 e^{-4} = -0.0732626... as eta -> 0.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

#include <sdv/errors.h>
#include <sdv/exact.h>

#include "exact/exact_private.h"

typedef enum route {
  ROUTE_NONE,
  ROUTE_LINEAR,
  ROUTE_LATTICE,
  ROUTE_SIGN_SDE,
  ROUTE_DRIFT,
  ROUTE_LSQ
} route;

static int check_memory(const sdv_model *m, route r, sdv_side side, bool dense, size_t nt,
                        const sdv_exact_options *opt);

const char *sdv_side_name(sdv_side side) {
  switch (side) {
  case SDV_SIDE_DISCRETE:
    return "discrete";
  case SDV_SIDE_SDE:
    return "sde";
  case SDV_SIDE_ODE:
    return "ode";
  case SDV_SIDE_NOISEFREE:
    return "noisefree";
  }
  return "unknown";
}

void sdv_exact_options_default(sdv_exact_options *o) {
  o->rtol = 1e-11;
  o->atol = 1e-14;
  o->lattice_cut = 1e-16;
  o->stationary_tol = 1e-13;
  o->max_iterations = 10000000;
  o->dense = false;
  o->max_bytes = 4e9;
  o->cancel = NULL;
}

static bool is_quadratic(const sdv_model *m) {
  const sdv_objective_kind k = m->objective->type->kind;
  return k == SDV_OBJECTIVE_QUADRATIC_DIAG || k == SDV_OBJECTIVE_QUADRATIC_DENSE;
}

/* The route follows the family the method declares (sdv_method_family), not its name. */
static bool is_linear_method(const sdv_model *m) {
  return m->method->family == SDV_METHOD_FAMILY_LINEAR;
}

static bool is_sign_method(const sdv_model *m) {
  return m->method->family == SDV_METHOD_FAMILY_SIGN;
}

bool sdv_exact_compressors_linear(const sdv_model *m, char *why, size_t len) {
  for (size_t i = 0; m->compressor && i < m->agents; i++) {
    const sdv_compressor *c = m->compressor[i];
    if (c && !c->type->linear) {
      snprintf(why, len,
               "exact: %s: compressor '%s' (agent %zu) has no linear covariance "
               "a Diag(v^2) - c v v^T, so the moments do not close; use Monte Carlo",
               m->method->name, c->spec ? c->spec : c->type->name, i + 1);
      return false;
    }
  }
  return true;
}

/* Which route answers the request; ROUTE_NONE with the reason in why. */
static route classify(const sdv_model *m, sdv_side side, const sdv_observable *obs, bool stationary,
                      char *why, size_t len) {
  const char *meth = m->method->name;
  if (side == SDV_SIDE_ODE || side == SDV_SIDE_NOISEFREE) {
    if (!stationary) return ROUTE_DRIFT;
    if (!is_quadratic(m)) {
      snprintf(why, len,
               "exact: stationary %s side needs a quadratic objective (minimizer known), "
               "not '%s'",
               sdv_side_name(side), m->objective->type->name);
      return ROUTE_NONE;
    }
    if (!is_linear_method(m) && !is_sign_method(m)) {
      snprintf(why, len, "exact: stationary %s side of method '%s' is unknown",
               sdv_side_name(side), meth);
      return ROUTE_NONE;
    }
    if (is_sign_method(m))
      for (size_t i = 0; i < m->agents; i++)
        if (!(m->sigma[i] > 0.0) || !isfinite(m->scale[i])) {
          snprintf(why, len,
                   "exact: stationary %s side of %s needs every noise scale > 0 and "
                   "finite (agent %zu: scale %g)",
                   sdv_side_name(side), meth, i + 1, m->scale[i]);
          return ROUTE_NONE;
        }
    return ROUTE_DRIFT;
  }
  if (obs && obs->kind == SDV_OBS_USER) {
    snprintf(why, len,
             "exact: user observable '%s' on the %s side: only the ODE and NOISEFREE sides "
             "evaluate arbitrary g; use Monte Carlo",
             obs->label ? obs->label : "user", sdv_side_name(side));
    return ROUTE_NONE;
  }
  if (m->minibatch && is_linear_method(m) && m->objective->type->sample_affine)
    return sdv_exact_lsq_supported(m, stationary, why, len) ? ROUTE_LSQ : ROUTE_NONE;
  if (m->minibatch) {
    snprintf(why, len,
             "exact: %s with minibatch noise: the noise covariance is state-dependent through "
             "the data, so no exact moment route applies; use Monte Carlo",
             meth);
    return ROUTE_NONE;
  }
  if (is_linear_method(m)) {
    if (!is_quadratic(m)) {
      snprintf(why, len,
               "exact: %s on objective '%s': the moment equations close only on quadratics; "
               "use Monte Carlo",
               meth, m->objective->type->name);
      return ROUTE_NONE;
    }
    for (size_t i = 0; i < m->agents; i++)
      if (!isfinite(m->var[i])) {
        snprintf(why, len,
                 "exact: %s: agent %zu has infinite noise variance (%s), so E x x^T is "
                 "infinite",
                 meth, i + 1, m->noise[i]->type->name);
        return ROUTE_NONE;
      }
    if (!sdv_exact_compressors_linear(m, why, len)) return ROUTE_NONE;
    if (stationary && m->objective->type->kind == SDV_OBJECTIVE_QUADRATIC_DENSE &&
        m->dim > SDV_EXACT_DENSE_MAX) {
      snprintf(why, len,
               "exact: stationary moments with a dense H need d <= %d (d^2 x d^2 solve), "
               "d = %zu",
               SDV_EXACT_DENSE_MAX, m->dim);
      return ROUTE_NONE;
    }
    return ROUTE_LINEAR;
  }
  if (is_sign_method(m)) {
    if (m->objective->type->kind != SDV_OBJECTIVE_QUADRATIC_DIAG) {
      snprintf(why, len,
               "exact: %s needs a diagonal quadratic (independent coordinates), not '%s'", meth,
               m->objective->type->name);
      return ROUTE_NONE;
    }
    for (size_t i = 0; i < m->agents; i++)
      if (m->sigma[i] > 0.0 && !isfinite(m->scale[i])) {
        snprintf(why, len,
                 "exact: %s: agent %zu: the law of the minibatch noise is not known in "
                 "closed form (scale %g)",
                 meth, i + 1, m->scale[i]);
        return ROUTE_NONE;
      }
    if (side == SDV_SIDE_DISCRETE) {
      if (m->method->lattice && m->method->lattice_law) return ROUTE_LATTICE;
      snprintf(why, len,
               "exact: %s declares the SIGN family but not its lattice (sdv_method_type.lattice "
               "and lattice_law); use Monte Carlo",
               meth);
      return ROUTE_NONE;
    }
    if (!stationary) {
      snprintf(why, len,
               "exact: %s SDE at finite times has no exact reference (it needs a PDE); "
               "only its stationary law is exact; use Monte Carlo",
               meth);
      return ROUTE_NONE;
    }
    for (size_t i = 0; i < m->agents; i++)
      if (!(m->sigma[i] > 0.0)) {
        snprintf(why, len,
                 "exact: %s SDE stationary law needs every sigma_i > 0 (agent %zu has "
                 "%g)",
                 meth, i + 1, m->sigma[i]);
        return ROUTE_NONE;
      }
    return ROUTE_SIGN_SDE;
  }
  if (m->method->lattice && m->method->lattice_law) {
    /* Any other method that declares a lattice: its discrete law at finite times. */
    if (side != SDV_SIDE_DISCRETE || stationary) {
      snprintf(why, len,
               "exact: %s: only its discrete side at finite times is exact (the lattice it "
               "declares), not the %s side%s; use Monte Carlo",
               meth, sdv_side_name(side), stationary ? "'s stationary law" : "");
      return ROUTE_NONE;
    }
    if (m->objective->type->kind != SDV_OBJECTIVE_QUADRATIC_DIAG) {
      snprintf(why, len,
               "exact: %s needs a diagonal quadratic (independent coordinates), not '%s'", meth,
               m->objective->type->name);
      return ROUTE_NONE;
    }
    double h;
    size_t K, scratch;
    if (m->method->lattice(m, &h, &K, &scratch)) {
      snprintf(why, len, "exact: %s", sdv_last_error());
      return ROUTE_NONE;
    }
    return ROUTE_LATTICE;
  }
  snprintf(why, len, "exact: method '%s' has no exact %s reference", meth, sdv_side_name(side));
  return ROUTE_NONE;
}

static int check_common(const sdv_model *m, sdv_side side, const sdv_observable *obs, size_t nobs) {
  if (!m) return SDV_ERROR(SDV_EINVAL, "exact: model is NULL");
  if ((int)side < SDV_SIDE_DISCRETE || (int)side > SDV_SIDE_NOISEFREE)
    return SDV_ERROR(SDV_EINVAL, "exact: side = %d is not a sdv_side", (int)side);
  for (size_t o = 0; obs && o < nobs; o++) {
    if ((obs[o].kind == SDV_OBS_X || obs[o].kind == SDV_OBS_X2) && obs[o].index >= m->dim)
      return SDV_ERROR(SDV_EINVAL, "exact: observable %zu: index = %zu must be < d = %zu", o,
                       obs[o].index, m->dim);
    if ((int)obs[o].kind < SDV_OBS_F || (int)obs[o].kind > SDV_OBS_USER ||
        (obs[o].kind == SDV_OBS_USER && !obs[o].fn))
      return SDV_ERROR(SDV_EINVAL, "exact: observable %zu: kind = %d is invalid", o,
                       (int)obs[o].kind);
  }
  return SDV_OK;
}

/* The route for all of obs (or the moments if obs is NULL), raising ENOTSUP if none. */
static int route_for(const sdv_model *m, sdv_side side, const sdv_observable *obs, size_t nobs,
                     bool stationary, route *r) {
  char why[400];
  *r = ROUTE_NONE;
  for (size_t o = 0; o < (obs ? nobs : 1); o++) {
    const route ro = classify(m, side, obs ? obs + o : NULL, stationary, why, sizeof why);
    if (ro == ROUTE_NONE) return SDV_ERROR(SDV_ENOTSUP, "%s", why);
    *r = ro;
  }
  return SDV_OK;
}

int sdv_exact_supported(const sdv_model *m, sdv_side side, const sdv_observable *obs,
                        bool stationary) {
  int rc = check_common(m, side, obs, 1);
  if (rc) return rc;
  route r;
  return route_for(m, side, obs, 1, stationary, &r);
}

bool sdv_exact_available(const sdv_model *m, sdv_side side, const sdv_observable *obs,
                         bool stationary) {
  if (!m || (int)side < SDV_SIDE_DISCRETE || (int)side > SDV_SIDE_NOISEFREE) return false;
  if (obs && (obs->kind == SDV_OBS_X || obs->kind == SDV_OBS_X2) && obs->index >= m->dim)
    return false;
  char why[400];
  return classify(m, side, obs, stationary, why, sizeof why) != ROUTE_NONE;
}

static int check_steps(const size_t *steps, size_t nt) {
  if (!steps || nt == 0) return SDV_ERROR(SDV_EINVAL, "exact: nt = %zu time points", nt);
  for (size_t t = 1; t < nt; t++)
    if (steps[t] < steps[t - 1])
      return SDV_ERROR(SDV_EINVAL,
                       "exact: steps[%zu] = %zu < steps[%zu] = %zu (must be "
                       "nondecreasing)",
                       t, steps[t], t - 1, steps[t - 1]);
  return SDV_OK;
}

/* g from per-coordinate E x_j and E x_j^2 (diagonal H = diag(lam)). */
static double obs_diag(const sdv_observable *o, size_t d, const double *lam, const double *mean,
                       const double *s2) {
  double v = 0.0;
  switch (o->kind) {
  case SDV_OBS_F:
    for (size_t j = 0; j < d; j++) v += 0.5 * lam[j] * s2[j];
    return v;
  case SDV_OBS_NORM2:
    for (size_t j = 0; j < d; j++) v += s2[j];
    return v;
  case SDV_OBS_GRAD2:
    for (size_t j = 0; j < d; j++) v += lam[j] * lam[j] * s2[j];
    return v;
  case SDV_OBS_X:
    return mean[o->index];
  case SDV_OBS_X2:
    return s2[o->index];
  default:
    return NAN;
  }
}

/* g from E x and the full S (dense H; h2 = H^2). */
static double obs_dense(const sdv_observable *o, size_t d, const double *h, const double *h2,
                        const double *mean, const double *S) {
  double v = 0.0;
  switch (o->kind) {
  case SDV_OBS_F:
    for (size_t p = 0; p < d * d; p++) v += 0.5 * h[p] * S[p];
    return v;
  case SDV_OBS_NORM2:
    for (size_t j = 0; j < d; j++) v += S[j * d + j];
    return v;
  case SDV_OBS_GRAD2:
    for (size_t p = 0; p < d * d; p++) v += h2[p] * S[p];
    return v;
  case SDV_OBS_X:
    return mean[o->index];
  case SDV_OBS_X2:
    return S[o->index * d + o->index];
  default:
    return NAN;
  }
}

/* Runs the lattice for every coordinate flagged in need (all if NULL), reusing the result of
 * an earlier coordinate with the same (lambda, x0). mean/s2 are [nt * d]. */
static int lattice_all(const sdv_model *m, const double *lam, const bool *need, const size_t *steps,
                       size_t nt, double *mean, double *s2, const sdv_exact_options *opt,
                       sdv_exact_info *info) {
  const size_t d = m->dim;
  double *cm = malloc(2 * nt * sizeof *cm);
  size_t *done = malloc(d * sizeof *done), ndone = 0;
  int rc = SDV_OK;
  if (!cm || !done) {
    rc = SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu, nt = %zu)", d, nt);
    goto out;
  }
  for (size_t j = 0; j < d; j++) {
    if (need && !need[j]) continue;
    size_t same = d;
    for (size_t u = 0; u < ndone && same == d; u++)
      if (lam[done[u]] == lam[j] && m->x0[done[u]] == m->x0[j]) same = done[u];
    if (same < d) {
      for (size_t t = 0; t < nt; t++) {
        mean[t * d + j] = mean[t * d + same];
        s2[t * d + j] = s2[t * d + same];
      }
      continue;
    }
    double mass, dropped;
    rc = sdv_exact_lattice_run(m, lam[j], m->x0[j], steps, nt, cm, cm + nt, &mass, &dropped, opt);
    if (rc) goto out;
    if (info) info->truncated_mass += dropped;
    for (size_t t = 0; t < nt; t++) {
      mean[t * d + j] = cm[t];
      s2[t * d + j] = cm[nt + t];
    }
    done[ndone++] = j;
  }
out:
  free(cm);
  free(done);
  return rc;
}

/* Coordinates the observables need (all for f, norm2, grad2). */
static void needed(const sdv_observable *obs, size_t nobs, size_t d, bool *need) {
  for (size_t j = 0; j < d; j++) need[j] = false;
  for (size_t o = 0; o < nobs; o++) {
    if (obs[o].kind == SDV_OBS_X || obs[o].kind == SDV_OBS_X2) {
      need[obs[o].index] = true;
    } else {
      for (size_t j = 0; j < d; j++) need[j] = true;
      return;
    }
  }
}

static void set_route(sdv_exact_info *info, const char *r) {
  if (info) info->route = r;
}

static int matmul_sq(const double *h, size_t d, double **out) {
  double *h2 = malloc(d * d * sizeof *h2);
  if (!h2) return SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu)", d);
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      double s = 0.0;
      for (size_t k = 0; k < d; k++) s += h[i * d + k] * h[k * d + j];
      h2[i * d + j] = s;
    }
  *out = h2;
  return SDV_OK;
}

int sdv_exact_eval(const sdv_model *m, sdv_side side, const size_t *steps, size_t nt,
                   const sdv_observable *obs, size_t nobs, double *values,
                   const sdv_exact_options *opt, sdv_exact_info *info) {
  int rc = check_common(m, side, obs, nobs);
  if (rc) return rc;
  if (!obs || nobs == 0 || !values)
    return SDV_ERROR(SDV_EINVAL, "exact: nobs = %zu observables (obs and values must be set)",
                     nobs);
  if ((rc = check_steps(steps, nt))) return rc;
  sdv_exact_options defaults;
  if (!opt) {
    sdv_exact_options_default(&defaults);
    opt = &defaults;
  }
  if (info) memset(info, 0, sizeof *info);
  route r;
  if ((rc = route_for(m, side, obs, nobs, false, &r))) return rc;
  if ((rc = check_memory(m, r, side,
                         opt->dense || m->objective->type->kind != SDV_OBJECTIVE_QUADRATIC_DIAG, nt,
                         opt)))
    return rc;
  const size_t d = m->dim;
  double *a = NULL, *b = NULL, *h2 = NULL;
  bool *need = NULL;
  sdv_work *w = NULL;
  sdv_exact_lin L = {0};
  switch (r) {
  case ROUTE_DRIFT:
    a = malloc(nt * d * sizeof *a);
    if (!a) goto nomem;
    rc = side == SDV_SIDE_ODE ? sdv_exact_drift_ode(m, steps, nt, a, opt, info)
                              : sdv_exact_noisefree(m, steps, nt, a);
    if (rc) goto done;
    set_route(info, side == SDV_SIDE_ODE ? "cvode" : "recursion");
    if ((rc = sdv_work_alloc(&w, m))) goto done;
    for (size_t t = 0; t < nt; t++)
      for (size_t o = 0; o < nobs; o++)
        values[t * nobs + o] = sdv_observable_eval(obs + o, m, w, a + t * d);
    break;
  case ROUTE_LINEAR:
    if ((rc = sdv_exact_lin_init(&L, m, opt->dense))) goto done;
    L.cancel = opt->cancel;
    if (L.diag) {
      set_route(info, "closed form");
      a = malloc(2 * d * sizeof *a);
      if (!a) goto nomem;
      for (size_t t = 0; t < nt; t++) {
        const double tt = (double)steps[t] * m->eta;
        for (size_t j = 0; j < d; j++) {
          const bool disc = side == SDV_SIDE_DISCRETE;
          a[j] =
              disc ? sdv_exact_lin_mean_disc(&L, j, steps[t]) : sdv_exact_lin_mean_sde(&L, j, tt);
          a[d + j] = disc ? sdv_exact_lin_entry_disc(&L, j, j, steps[t])
                          : sdv_exact_lin_entry_sde(&L, j, j, tt);
        }
        for (size_t o = 0; o < nobs; o++)
          values[t * nobs + o] = obs_diag(obs + o, d, L.lam, a, a + d);
      }
      break;
    }
    a = malloc(nt * d * sizeof *a);
    b = malloc(nt * d * d * sizeof *b);
    if (!a || !b) goto nomem;
    if (side == SDV_SIDE_DISCRETE) {
      set_route(info, "recursion");
      rc = sdv_exact_lin_run_disc(&L, steps, nt, a, b);
    } else {
      set_route(info, "cvode");
      rc = sdv_exact_lin_run_sde(&L, steps, nt, a, b, opt, info);
    }
    if (rc || (rc = matmul_sq(L.h, d, &h2))) goto done;
    for (size_t t = 0; t < nt; t++)
      for (size_t o = 0; o < nobs; o++)
        values[t * nobs + o] = obs_dense(obs + o, d, L.h, h2, a + t * d, b + t * d * d);
    break;
  case ROUTE_LSQ:
    rc = sdv_exact_lsq_eval(m, side, steps, nt, obs, nobs, values, opt, info);
    break;
  case ROUTE_LATTICE:
    set_route(info, "lattice");
    a = malloc(nt * d * sizeof *a);
    b = malloc(nt * d * sizeof *b);
    h2 = malloc(d * sizeof *h2); /* lambda */
    need = malloc(d * sizeof *need);
    if (!a || !b || !h2 || !need) goto nomem;
    needed(obs, nobs, d, need);
    if ((rc = sdv_exact_diag_lambda(m, h2))) goto done;
    if ((rc = lattice_all(m, h2, need, steps, nt, a, b, opt, info))) goto done;
    for (size_t t = 0; t < nt; t++)
      for (size_t o = 0; o < nobs; o++)
        values[t * nobs + o] = obs_diag(obs + o, d, h2, a + t * d, b + t * d);
    break;
  default:
    rc = SDV_ERROR(SDV_ENOTSUP, "exact: no finite-time route");
    break;
  }
  goto done;
nomem:
  rc = SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu, nt = %zu)", d, nt);
done:
  sdv_exact_lin_free(&L);
  sdv_work_free(w);
  free(a);
  free(b);
  free(h2);
  free(need);
  return rc;
}

/* Bytes a finite-time route allocates, in double so that no size can wrap (see
 * sdv_exact_memory). dense: the linear route on a d x d Hessian. */
static double route_bytes(route r, sdv_side side, bool dense, size_t dim, size_t nt) {
  const double d = (double)dim, T = (double)nt, w = sizeof(double);
  switch (r) {
  case ROUTE_DRIFT:
    /* CVODE: a dense d x d Jacobian and its LU factors, ~20 work vectors. */
    return side == SDV_SIDE_ODE ? w * (2.0 * d * d + (T + 30.0) * d) : w * (T + 4.0) * d;
  case ROUTE_LINEAR:
    if (!dense) return w * 8.0 * d;
    if (side == SDV_SIDE_DISCRETE) return w * (T * d * d + T * d + 9.0 * d * d);
    /* The moment ODE of n = d + d^2 unknowns with a dense n x n Jacobian. */
    return w *
           (2.0 * (d + d * d) * (d + d * d) + 30.0 * (d + d * d) + T * (d * d + d) + 5.0 * d * d);
  case ROUTE_LATTICE:
    return w * (3.0 * T * d + 4.0 * d);
  case ROUTE_LSQ:
    return sdv_exact_lsq_bytes(side, dim, nt);
  default:
    return 0.0;
  }
}

int sdv_exact_memory(const sdv_model *m, sdv_side side, const sdv_observable *obs, size_t nobs,
                     size_t nt, double *bytes) {
  if (!m || !bytes) return SDV_ERROR(SDV_EINVAL, "exact: NULL model or bytes");
  *bytes = 0.0;
  route r = ROUTE_NONE;
  char why[256];
  for (size_t o = 0; o < (obs ? nobs : 1); o++) {
    r = classify(m, side, obs ? obs + o : NULL, false, why, sizeof why);
    if (r == ROUTE_NONE) return SDV_OK;
  }
  const bool dense = m->objective->type->kind != SDV_OBJECTIVE_QUADRATIC_DIAG;
  *bytes = route_bytes(r, side, dense, m->dim, nt);
  return SDV_OK;
}

/* The resource guard of every finite-time route, before anything is allocated. */
static int check_memory(const sdv_model *m, route r, sdv_side side, bool dense, size_t nt,
                        const sdv_exact_options *opt) {
  const double bytes = route_bytes(r, side, dense, m->dim, nt);
  if (bytes > opt->max_bytes)
    return SDV_ERROR(SDV_ELIMIT,
                     "exact: the %s side of this model needs about %.3g GB (d = %zu, %zu "
                     "times), above the %.3g GB sdv allows: lower --dim, or use --no-exact "
                     "for Monte Carlo",
                     sdv_side_name(side), bytes / 1e9, m->dim, nt, opt->max_bytes / 1e9);
  return SDV_OK;
}

int sdv_exact_moments(const sdv_model *m, sdv_side side, const size_t *steps, size_t nt,
                      double *mean, double *second, const sdv_exact_options *opt,
                      sdv_exact_info *info) {
  int rc = check_common(m, side, NULL, 0);
  if (rc) return rc;
  if ((rc = check_steps(steps, nt))) return rc;
  sdv_exact_options defaults;
  if (!opt) {
    sdv_exact_options_default(&defaults);
    opt = &defaults;
  }
  if (info) memset(info, 0, sizeof *info);
  route r;
  if ((rc = route_for(m, side, NULL, 0, false, &r))) return rc;
  if ((rc = check_memory(m, r, side,
                         opt->dense || m->objective->type->kind != SDV_OBJECTIVE_QUADRATIC_DIAG, nt,
                         opt)))
    return rc;
  const size_t d = m->dim, dd = d * d;
  double *a = NULL, *b = NULL, *lam = NULL;
  sdv_exact_lin L = {0};
  a = malloc(nt * d * sizeof *a);
  if (!a) goto nomem;
  switch (r) {
  case ROUTE_DRIFT:
    rc = side == SDV_SIDE_ODE ? sdv_exact_drift_ode(m, steps, nt, a, opt, info)
                              : sdv_exact_noisefree(m, steps, nt, a);
    if (rc) goto done;
    set_route(info, side == SDV_SIDE_ODE ? "cvode" : "recursion");
    for (size_t t = 0; t < nt && second; t++)
      for (size_t j = 0; j < d; j++)
        for (size_t l = 0; l < d; l++) second[t * dd + j * d + l] = a[t * d + j] * a[t * d + l];
    break;
  case ROUTE_LINEAR:
    if ((rc = sdv_exact_lin_init(&L, m, opt->dense))) goto done;
    L.cancel = opt->cancel;
    if (L.diag) {
      set_route(info, "closed form");
      const bool disc = side == SDV_SIDE_DISCRETE;
      for (size_t t = 0; t < nt; t++) {
        const double tt = (double)steps[t] * m->eta;
        for (size_t j = 0; j < d; j++) {
          a[t * d + j] =
              disc ? sdv_exact_lin_mean_disc(&L, j, steps[t]) : sdv_exact_lin_mean_sde(&L, j, tt);
          for (size_t l = 0; second && l < d; l++)
            second[t * dd + j * d + l] = disc ? sdv_exact_lin_entry_disc(&L, j, l, steps[t])
                                              : sdv_exact_lin_entry_sde(&L, j, l, tt);
        }
      }
      break;
    }
    b = second ? NULL : malloc(nt * dd * sizeof *b);
    if (!second && !b) goto nomem;
    if (side == SDV_SIDE_DISCRETE) {
      set_route(info, "recursion");
      rc = sdv_exact_lin_run_disc(&L, steps, nt, a, second ? second : b);
    } else {
      set_route(info, "cvode");
      rc = sdv_exact_lin_run_sde(&L, steps, nt, a, second ? second : b, opt, info);
    }
    break;
  case ROUTE_LSQ:
    if (second) {
      rc = sdv_exact_lsq_moments(m, side, steps, nt, a, second, opt, info);
    } else if (!(b = malloc(nt * dd * sizeof *b))) {
      goto nomem;
    } else {
      rc = sdv_exact_lsq_moments(m, side, steps, nt, a, b, opt, info);
    }
    break;
  case ROUTE_LATTICE:
    set_route(info, "lattice");
    b = malloc(nt * d * sizeof *b);
    lam = malloc(d * sizeof *lam);
    if (!b || !lam) goto nomem;
    if ((rc = sdv_exact_diag_lambda(m, lam))) goto done;
    if ((rc = lattice_all(m, lam, NULL, steps, nt, a, b, opt, info))) goto done;
    /* Independent coordinates: E x_j x_l = E x_j E x_l off the diagonal. */
    for (size_t t = 0; t < nt && second; t++)
      for (size_t j = 0; j < d; j++)
        for (size_t l = 0; l < d; l++)
          second[t * dd + j * d + l] = j == l ? b[t * d + j] : a[t * d + j] * a[t * d + l];
    break;
  default:
    rc = SDV_ERROR(SDV_ENOTSUP, "exact: no finite-time route");
    break;
  }
  if (!rc && mean) memcpy(mean, a, nt * d * sizeof *a);
  goto done;
nomem:
  rc = SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu, nt = %zu)", d, nt);
done:
  sdv_exact_lin_free(&L);
  free(a);
  free(b);
  free(lam);
  return rc;
}

/* Eigenvalues of H (ascending not required) into ev[d]. */
static int hessian_eigen(const sdv_model *m, double *ev) {
  const size_t d = m->dim;
  if (m->objective->type->kind == SDV_OBJECTIVE_QUADRATIC_DIAG) return sdv_exact_diag_lambda(m, ev);
  gsl_matrix *H = gsl_matrix_alloc(d, d);
  gsl_vector_view v = gsl_vector_view_array(ev, d);
  gsl_eigen_symm_workspace *ws = gsl_eigen_symm_alloc(d);
  int rc = SDV_OK;
  if (!H || !ws) {
    rc = SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu)", d);
    goto done;
  }
  if ((rc = sdv_objective_hessian(m->objective, m->x0, H->data))) goto done;
  const int grc = gsl_eigen_symm(H, &v.vector, ws);
  if (grc) rc = SDV_ERROR(SDV_ENUMERIC, "exact: eigenvalues of H: %s", gsl_strerror(grc));
done:
  if (ws) gsl_eigen_symm_free(ws);
  if (H) gsl_matrix_free(H);
  return rc;
}

/* Growth of the deterministic skeletons at the minimizer 0 (J = kappa H). */
static int skeleton_growth(const sdv_model *m, sdv_side side, double *growth) {
  const size_t d = m->dim;
  double *ev = malloc(d * sizeof *ev);
  if (!ev) return SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu)", d);
  const int rc = hessian_eigen(m, ev);
  if (rc) {
    free(ev);
    return rc;
  }
  const double kappa = is_sign_method(m) ? sdv_exact_sign_a1(m) : 1.0;
  double g = side == SDV_SIDE_ODE ? -INFINITY : 0.0;
  for (size_t j = 0; j < d; j++) {
    const double v = side == SDV_SIDE_ODE ? -kappa * ev[j] : fabs(1.0 - m->eta * kappa * ev[j]);
    if (v > g) g = v;
  }
  free(ev);
  *growth = g;
  return SDV_OK;
}

int sdv_exact_stability(const sdv_model *m, sdv_side side, double *growth, bool *stable) {
  int rc = check_common(m, side, NULL, 0);
  if (rc) return rc;
  route r;
  if ((rc = route_for(m, side, NULL, 0, true, &r))) return rc;
  double g;
  const bool discrete_time = side == SDV_SIDE_DISCRETE || side == SDV_SIDE_NOISEFREE;
  if (r == ROUTE_DRIFT) {
    rc = skeleton_growth(m, side, &g);
  } else if (r == ROUTE_LINEAR) {
    sdv_exact_lin L;
    if ((rc = sdv_exact_lin_init(&L, m, false))) return rc;
    rc = sdv_exact_lin_growth(&L, side, &g);
    sdv_exact_lin_free(&L);
  } else {
    return SDV_ERROR(SDV_ENOTSUP,
                     "exact: %s %s side has no linear moment map (its increments are bounded, "
                     "so it never diverges)",
                     m->method->name, sdv_side_name(side));
  }
  if (rc) return rc;
  if (growth) *growth = g;
  if (stable) *stable = discrete_time ? g < 1.0 : g < 0.0;
  return SDV_OK;
}

int sdv_exact_stationary(const sdv_model *m, sdv_side side, const sdv_observable *obs, size_t nobs,
                         double *values, const sdv_exact_options *opt, sdv_exact_info *info) {
  int rc = check_common(m, side, obs, nobs);
  if (rc) return rc;
  if (!obs || nobs == 0 || !values)
    return SDV_ERROR(SDV_EINVAL, "exact: nobs = %zu observables (obs and values must be set)",
                     nobs);
  sdv_exact_options defaults;
  if (!opt) {
    sdv_exact_options_default(&defaults);
    opt = &defaults;
  }
  if (info) memset(info, 0, sizeof *info);
  route r;
  if ((rc = route_for(m, side, obs, nobs, true, &r))) return rc;
  const size_t d = m->dim;
  double *a = NULL, *b = NULL, *lam = NULL, *h2 = NULL;
  bool *need = NULL;
  sdv_work *w = NULL;
  sdv_exact_lin L = {0};
  switch (r) {
  case ROUTE_DRIFT: {
    double g;
    if ((rc = skeleton_growth(m, side, &g))) goto done;
    const bool stable = side == SDV_SIDE_ODE ? g < 0.0 : g < 1.0;
    if (!stable) {
      rc = SDV_ERROR(SDV_EDOM, "exact: %s side of %s is unstable at the minimizer (growth %g)",
                     sdv_side_name(side), m->method->name, g);
      goto done;
    }
    set_route(info, "fixed point");
    a = calloc(d, sizeof *a);
    if (!a) goto nomem;
    if ((rc = sdv_work_alloc(&w, m))) goto done;
    for (size_t o = 0; o < nobs; o++) values[o] = sdv_observable_eval(obs + o, m, w, a);
    break;
  }
  case ROUTE_LINEAR:
    if ((rc = sdv_exact_lin_init(&L, m, opt->dense))) goto done;
    L.cancel = opt->cancel;
    set_route(info, L.diag ? "closed form" : "linear solve");
    a = calloc(d, sizeof *a); /* stationary mean */
    b = malloc((L.diag ? d : d * d) * sizeof *b);
    if (!a || !b) goto nomem;
    if ((rc = sdv_exact_lin_stationary(&L, side, b))) goto done;
    if (!L.diag && (rc = matmul_sq(L.h, d, &h2))) goto done;
    for (size_t o = 0; o < nobs; o++)
      values[o] = L.diag ? obs_diag(obs + o, d, L.lam, a, b) : obs_dense(obs + o, d, L.h, h2, a, b);
    break;
  case ROUTE_LATTICE:
  case ROUTE_SIGN_SDE: {
    set_route(info, r == ROUTE_LATTICE ? "lattice" : "quadrature");
    a = calloc(d, sizeof *a);
    b = calloc(d, sizeof *b);
    lam = malloc(d * sizeof *lam);
    need = malloc(d * sizeof *need);
    if (!a || !b || !lam || !need) goto nomem;
    needed(obs, nobs, d, need);
    if ((rc = sdv_exact_diag_lambda(m, lam))) goto done;
    for (size_t j = 0; j < d; j++) {
      if (!need[j]) continue;
      size_t same = j;
      for (size_t u = 0; u < j && same == j; u++)
        if (need[u] && lam[u] == lam[j] && (r == ROUTE_SIGN_SDE || m->x0[u] == m->x0[j])) same = u;
      if (same < j) {
        a[j] = a[same];
        b[j] = b[same];
        continue;
      }
      rc = r == ROUTE_LATTICE
               ? sdv_exact_lattice_stationary(m, lam[j], m->x0[j], a + j, b + j, opt, info)
               : sdv_exact_sign_sde_stationary(m, lam[j], b + j);
      if (rc) goto done;
    }
    for (size_t o = 0; o < nobs; o++) values[o] = obs_diag(obs + o, d, lam, a, b);
    break;
  }
  default:
    rc = SDV_ERROR(SDV_ENOTSUP, "exact: no stationary route");
    break;
  }
  goto done;
nomem:
  rc = SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu)", d);
done:
  sdv_exact_lin_free(&L);
  sdv_work_free(w);
  free(a);
  free(b);
  free(lam);
  free(h2);
  free(need);
  return rc;
}
