/* Models for the claim suite from numbers and component handles (sdv/model.h, the typed API),
 * never from text. A check fills an mspec: the method, sizes and scalars, the objective (from
 * numbers, sdv_objective_alloc_quadratic, or from its own component spec such as
 * "quartic:lam=1" or a data file), the agents' noise laws and compressors (each from its
 * component spec), and sigma and x0 as arrays the mspec borrows. Lists of numbers are never
 * joined into text and parsed back.
 *
 * Ownership: the mspec owns the components it allocated. sdv_model_alloc_spec borrows the
 * objective and copies the laws and compressors, so a model from mspec_build must be freed
 * before mspec_clear; mspec_take builds one model that owns the objective (free it with
 * check_model_free) and clears the mspec. Private to the verify/ program.
 */
#ifndef SDV_CHECKS_SPEC_H
#define SDV_CHECKS_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include <sdv/model.h>

/* The most laws or compressors one spec lists (1 or one per agent; the suite lists <= 4). */
#define MSPEC_MAX 16

typedef struct mspec {
  sdv_model_spec s;                /* s.objective, s.noise and s.compressor point into this mspec */
  sdv_objective *objective;        /* owned (NULL once mspec_take gave it to a model) */
  sdv_noise *noise[MSPEC_MAX];     /* owned; s.nnoise of them */
  sdv_compressor *comp[MSPEC_MAX]; /* owned; s.ncompressor of them */
} mspec;

/* The method type of name ("dsgd", "dcsgd", "dsignsgd"), or SDV_EINVAL naming it. */
int mspec_method(const char *name, const sdv_method_type **out);
/* The spec's defaults, then method, dim, agents, eta (a weak study replaces it) and seed; no
 * components yet (v owns nothing, so mspec_clear is safe from here on). */
void mspec_init(mspec *v, const sdv_method_type *method, size_t dim, size_t agents, double eta,
                uint64_t seed);
/* The objective from its component spec ("quartic:lam=1", "logistic:data=FILE:l2=0.1"). */
int mspec_objective(mspec *v, const char *spec);
/* The diagonal quadratic 0.5 sum_j lam_j x_j^2 from dim numbers. */
int mspec_quadratic(mspec *v, const double *lam);
/* Appends one noise law, or one compressor (of dimension dim), from its component spec:
 * give 1 for every agent or one per agent. */
int mspec_noise(mspec *v, const char *spec);
int mspec_compressor(mspec *v, const char *spec);
/* sigma[n] and x0[n] (borrowed: they must outlive every model built from v). */
void mspec_sigma(mspec *v, const double *sigma, size_t n);
void mspec_x0(mspec *v, const double *x0, size_t n);

/* One model from v's spec; it borrows v's objective (free the model before mspec_clear). */
int mspec_build(const mspec *v, sdv_model **m);
/* One model that owns v's objective from now on, then mspec_clear(v) (also on failure).
 * Free the model with check_model_free. */
int mspec_take(mspec *v, sdv_model **m);
/* Frees what v owns (the objective unless taken); safe after a failed mspec_init. */
void mspec_clear(mspec *v);

/* sdv_model_free, and the objective of a model from mspec_take (a model from text owns its
 * objective already). Not for models of mspec_build, whose objective is the mspec's. NULL is
 * a no-op. */
void check_model_free(sdv_model *m);

#endif
