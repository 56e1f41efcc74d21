/* Distribution of a Monte Carlo run across R processes (see sdv/mc.h; docs/mpi.md).
 *
 * Split. Rank r of R runs the contiguous blocks [floor(nb r / R), floor(nb (r + 1) / R)) of
 * the nb blocks: the ranges tile [0, nb) in rank order and differ in size by at most one
 * block. Because the engine merges blocks along a tree fixed by the block indices alone,
 * merging the R parts in rank order gives the bits of one process running [0, nb), whatever
 * R and the threads per rank. Reference (tests/test-distribute.c): nb = 10, R = 4 gives the
 * ranges [0, 2), [2, 5), [5, 7), [7, 10).
 *
 * Exchange. Every exchange is ONE collective, the distributor's allgather, of a record per
 * rank: a 16-byte head (magic, kind, status) and a payload, either
 *   PART   the packed partial result,
 *   ERROR  the status and message of this rank's failure (the run cannot complete),
 *   EXIT   the exit code of a rank that has finished the program (sdv_mc_distributed_exit).
 * Using one kind of collective for everything keeps the k-th collective of every rank
 * matched with the k-th of every other, even when one rank leaves early (a write error that
 * only rank 0, the one that writes files, can meet): the others find its EXIT record in
 * their next run's exchange, return SDV_EINTR, and never call the collective again, so
 * nobody waits for a rank that has gone. All ranks read the same records, so all take the
 * same decision.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/mc.h>

#include "distribute.h"

#define RECORD_MAGIC 0x7364766473743031ULL /* "sdvdst01" */

enum { REC_PART = 1, REC_ERROR = 2, REC_EXIT = 3 };

typedef struct record_head {
  uint64_t magic;
  int32_t kind;
  int32_t status; /* sdv status (ERROR) or exit code (EXIT) */
} record_head;

typedef struct dist_state {
  bool on;          /* a distributor of size > 1 is set */
  bool stopped;     /* a rank has left, or an exchange failed: exchange no more */
  int stop_code;    /* exit code of the rank that left */
  size_t stop_from; /* that rank (size if unknown: the exchange failed) */
  sdv_mc_distributor d;
} dist_state;

/* Per thread: only the thread that set the distributor takes part in exchanges. */
static _Thread_local dist_state state;

int sdv_mc_set_distributor(const sdv_mc_distributor *d) {
  if (!d) {
    memset(&state, 0, sizeof state);
    return SDV_OK;
  }
  if (d->size < 1) return SDV_ERROR(SDV_EINVAL, "mc distributor: size = %zu must be >= 1", d->size);
  if (d->rank >= d->size)
    return SDV_ERROR(SDV_EINVAL, "mc distributor: rank = %zu must be < size = %zu", d->rank,
                     d->size);
  if (!d->allgather) return SDV_ERROR(SDV_EINVAL, "mc distributor: allgather is NULL");
  memset(&state, 0, sizeof state);
  state.d = *d;
  state.on = d->size > 1;
  return SDV_OK;
}

bool sdv_mc_distributed(void) { return state.on; }

/* First block of rank r: floor(nb r / R), written so that nb r cannot overflow. */
static size_t split(size_t nb, size_t r, size_t R) { return r * (nb / R) + r * (nb % R) / R; }

/* One collective: sends head + payload, returns the records of all ranks (*all, lens[R]),
 * each checked to have a head. On failure nothing is returned and the state is stopped. */
static int exchange(int kind, int status, const void *payload, size_t plen, unsigned char **all,
                    size_t *lens) {
  const size_t R = state.d.size;
  unsigned char *mine = malloc(sizeof(record_head) + plen);
  if (!mine) return SDV_ERROR(SDV_ENOMEM, "out of memory (mc exchange: %zu bytes)", plen);
  const record_head h = {.magic = RECORD_MAGIC, .kind = kind, .status = status};
  memcpy(mine, &h, sizeof h);
  if (plen) memcpy(mine + sizeof h, payload, plen);
  void *got = NULL;
  const int trc = state.d.allgather(state.d.user, mine, sizeof h + plen, &got, lens);
  free(mine);
  if (trc) {
    free(got);
    state.stopped = true;
    state.stop_from = R;
    return SDV_ERROR(SDV_EIO, "mc distributor: the exchange failed (status %d) on rank %zu", trc,
                     state.d.rank);
  }
  const unsigned char *p = got;
  for (size_t r = 0; r < R; p += lens[r], r++) {
    record_head rh;
    if (lens[r] >= sizeof rh) memcpy(&rh, p, sizeof rh);
    if (lens[r] < sizeof rh || rh.magic != RECORD_MAGIC || rh.kind < REC_PART ||
        rh.kind > REC_EXIT ||
        (rh.kind == REC_ERROR && (rh.status <= 0 || rh.status >= SDV_NSTATUS))) {
      free(got);
      state.stopped = true;
      state.stop_from = R;
      return SDV_ERROR(SDV_EIO, "mc distributor: rank %zu sent a malformed record (%zu bytes)", r,
                       lens[r]);
    }
  }
  *all = got;
  return SDV_OK;
}

static record_head head_of(const unsigned char *rec) {
  record_head h;
  memcpy(&h, rec, sizeof h);
  return h;
}

/* Unpacks the PART records in rank order and merges them into one complete result. */
static int merge_parts(sdv_mc_result **out, const unsigned char *all, const size_t *lens) {
  sdv_mc_result *res = NULL, *part = NULL;
  int rc = SDV_OK;
  const unsigned char *p = all;
  for (size_t r = 0; r < state.d.size; p += lens[r], r++) {
    const unsigned char *img = p + sizeof(record_head);
    const size_t len = lens[r] - sizeof(record_head);
    if ((rc = sdv_mc_result_unpack(r == 0 ? &res : &part, img, len))) goto fail;
    if (r > 0) {
      if ((rc = sdv_mc_merge(res, part))) goto fail;
      sdv_mc_result_free(part);
      part = NULL;
    }
  }
  if (!sdv_mc_result_complete(res)) {
    rc = SDV_ERROR(SDV_ENUMERIC, "mc distributor: internal error: merged parts are incomplete");
    goto fail;
  }
  *out = res;
  return SDV_OK;
fail:
  sdv_mc_result_free(part);
  sdv_mc_result_free(res);
  return rc;
}

int sdv_mc_run_distributed(sdv_mc_result **out, const sdv_model *m, const sdv_process_options *po,
                           const size_t *steps, size_t ntimes, const sdv_observable *obs,
                           size_t nobs, const sdv_mc_options *o, size_t nb) {
  *out = NULL;
  if (state.stopped) {
    if (state.stop_from < state.d.size)
      return SDV_ERROR(SDV_EINTR, "mc: rank %zu has left the distributed run (exit code %d)",
                       state.stop_from, state.stop_code);
    return SDV_ERROR(SDV_EINTR, "mc: the distributed run stopped after a failed exchange");
  }
  const size_t R = state.d.size, r = state.d.rank;
  sdv_mc_result *mine = NULL;
  unsigned char *img = NULL, *all = NULL;
  size_t *lens = calloc(R, sizeof *lens);
  size_t len = 0;
  if (!lens) return SDV_ERROR(SDV_ENOMEM, "out of memory (mc exchange: %zu ranks)", R);
  int rc = sdv_mc_run_part(&mine, m, po, steps, ntimes, obs, nobs, o, split(nb, r, R),
                           split(nb, r + 1, R));
  if (!rc) {
    len = sdv_mc_result_packed_size(mine);
    if (!(img = malloc(len)))
      rc = SDV_ERROR(SDV_ENOMEM, "out of memory (mc result image: %zu bytes)", len);
    else
      rc = sdv_mc_result_pack(mine, img, len);
  }
  sdv_mc_result_free(mine);
  /* Every rank exchanges, failed or not: a rank that skipped it would leave the others
   * waiting. A failure travels as an ERROR record with its message. */
  if (rc) {
    const char *msg = sdv_last_error();
    rc = exchange(REC_ERROR, rc, msg, strlen(msg), &all, lens);
  } else {
    rc = exchange(REC_PART, SDV_OK, img, len, &all, lens);
  }
  free(img);
  if (rc) goto done;
  const unsigned char *p = all;
  const unsigned char *error = NULL;
  size_t error_len = 0;
  for (size_t k = 0; k < R; p += lens[k], k++) {
    const record_head h = head_of(p);
    if (h.kind == REC_EXIT) { /* the lowest rank that left decides the exit code */
      state.stopped = true;
      state.stop_code = h.status;
      state.stop_from = k;
      rc = SDV_ERROR(SDV_EINTR, "mc: rank %zu has left the distributed run (exit code %d)", k,
                     h.status);
      goto done;
    }
    if (h.kind == REC_ERROR && !error) {
      error = p;
      error_len = lens[k];
    }
  }
  if (error) {
    /* The lowest failing rank holds the lowest failing block: the error one process meets. */
    const int n = (int)(error_len - sizeof(record_head));
    rc = SDV_ERROR(head_of(error).status, "%.*s", n, (const char *)error + sizeof(record_head));
    goto done;
  }
  rc = merge_parts(out, all, lens);
done:
  free(all);
  free(lens);
  return rc;
}

int sdv_mc_distributed_exit(int code, size_t *from) {
  size_t who = 0, *lens = NULL;
  int agreed = code;
  unsigned char *all = NULL;
  if (!state.on) goto done;
  const size_t R = state.d.size;
  if (state.stopped) {
    who = state.stop_from;
    if (who < R) agreed = state.stop_code;
    goto done;
  }
  lens = calloc(R, sizeof *lens);
  if (!lens || exchange(REC_EXIT, code, NULL, 0, &all, lens)) {
    /* Without memory or transport nothing can be agreed: the own code is the best answer. */
    who = state.d.rank;
    goto done;
  }
  /* If some rank is still running, the ranks that exit now left early: the lowest decides.
   * Otherwise everyone finished together: the first non-zero code in rank order. */
  bool early = false;
  const unsigned char *p = all;
  for (size_t k = 0; k < R; p += lens[k], k++) early |= head_of(p).kind != REC_EXIT;
  who = R;
  agreed = 0;
  p = all;
  for (size_t k = 0; k < R; p += lens[k], k++) {
    const record_head h = head_of(p);
    if (h.kind == REC_EXIT && (early || h.status != 0)) {
      who = k;
      agreed = h.status;
      break;
    }
  }
done:
  free(all);
  free(lens);
  memset(&state, 0, sizeof state);
  if (from) *from = who;
  return agreed;
}
