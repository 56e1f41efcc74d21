#!/usr/bin/env python3
"""MPI equivalence test (docs/mpi.md): `mpirun -np R sdv CMD ...` must print the same
stdout and write the same files, byte for byte, as one plain `sdv CMD ...` process, for
OMP_NUM_THREADS 1 and 2 per rank, and leave no other file behind (ranks other than 0 must
not even create temporary files).

Timing is the only thing allowed to differ: for `verify`, the per-check "time  X s" lines
and the "; X s" end of the summary line are dropped from stdout and every "seconds" field
from the JSON before comparing; everything else is compared byte for byte.

usage: equivalence.py SDV MPIRUN NP CMD      (CMD: weak, simulate, verify, errors)
Exit 0 pass, 1 fail, 77 skip (no mpirun, or sdv built without MPI).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SDV, MPIRUN, NP, CMD = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
SDV = os.path.abspath(SDV)  # the runs change directory

# Paths chosen so that the blocks do not split evenly between ranks (3000 paths = 47 blocks
# of 64, 2200 = 35): R = 2 and 4 give ranges of unequal sizes.
COMMANDS = {
    "weak": ["weak", "--method", "dcsgd", "--dim", "2", "--agents", "3", "--compressor",
             "rand-k:k=1", "--noise", "student-t:nu=5", "--eta", "0.2,0.1,0.05", "--T", "1",
             "--paths", "3000", "--no-exact", "--json", "out.json", "--csv", "out.csv"],
    "simulate": ["simulate", "--method", "dsignsgd", "--dim", "2", "--agents", "2", "--eta",
                 "0.1", "--T", "1", "--paths", "2200", "--no-exact", "--json", "out.json",
                 "--csv", "out.csv"],
    # dcsgd-rate: a claim check whose verdict uses Monte Carlo (40000 paths).
    "verify": ["verify", "--only", "dcsgd-rate", "--out", "res"],
}

TIME_LINE = re.compile(r"^\s+time\s+[0-9.]+ s$")
SUMMARY_TIME = re.compile(r"; [0-9.]+ s$")
VERBOSE = re.compile(r"sdv: mpi: ([0-9]+) ranks, ([0-9]+) exchanges, [0-9]+ bytes gathered")


def skip(why):
    print("SKIP:", why)
    sys.exit(77)


def mpirun(np_, threads):
    return [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", str(np_),
            "-x", "OMP_NUM_THREADS=%d" % threads, "-x", "SDV_MPI_VERBOSE=1"]


def run(argv, cwd, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), SDV_MPI_VERBOSE="1")
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=600)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def drop_seconds(x):
    if isinstance(x, dict):
        return {k: drop_seconds(v) for k, v in x.items() if k != "seconds"}
    if isinstance(x, list):
        return [drop_seconds(v) for v in x]
    return x


def normalize(cmd, name, data):
    """The bytes compared for one output (stdout under the name '<stdout>')."""
    if cmd != "verify":
        return data
    if name == "<stdout>":
        lines = [SUMMARY_TIME.sub("", l) for l in data.decode().split("\n")
                 if not TIME_LINE.match(l)]
        return "\n".join(lines).encode()
    if name.endswith(".json"):
        return json.dumps(drop_seconds(json.loads(data)), indent=1).encode()
    return data


def snapshot(root, stdout):
    files = {"<stdout>": stdout.encode()}
    for d, _, names in os.walk(root):
        for n in names:
            path = os.path.join(d, n)
            with open(path, "rb") as f:
                files[os.path.relpath(path, root)] = f.read()
    return files


def equivalence(cmd):
    argv = COMMANDS[cmd]
    failures = 0
    with tempfile.TemporaryDirectory(prefix="sdv-mpi-") as tmp:
        ref_dir = os.path.join(tmp, "ref")
        os.mkdir(ref_dir)
        ref_rc, ref_out, ref_err = run([SDV] + argv, ref_dir, 1)
        if ref_rc not in (0, 1):
            print("reference run failed (exit %d):\n%s" % (ref_rc, ref_err))
            return 1
        ref = snapshot(ref_dir, ref_out)
        print("reference: plain sdv, 1 thread: exit %d, files %s" % (ref_rc, sorted(ref)))
        for threads in (1, 2):
            d = os.path.join(tmp, "np%d-t%d" % (NP, threads))
            os.mkdir(d)
            rc, out, err = run(mpirun(NP, threads) + [SDV] + argv, d, threads)
            got = snapshot(d, out)
            tag = "mpirun -np %d, OMP_NUM_THREADS=%d" % (NP, threads)
            # The work must really have been split: rank 0 counts the exchanges (a run
            # without them, each rank computing everything, would print the same digits).
            m = VERBOSE.search(err)
            if not m or int(m.group(1)) != NP or (NP > 1) != (int(m.group(2)) > 0):
                print("FAIL %s: no exchange report matching %d ranks:\n%s" % (tag, NP, err))
                failures += 1
            else:
                print("ok   %s: %s" % (tag, m.group(0)))
            if rc != ref_rc:
                print("FAIL %s: exit %d, expected %d\n%s" % (tag, rc, ref_rc, err))
                failures += 1
            if sorted(got) != sorted(ref):
                print("FAIL %s: files %s, expected %s" % (tag, sorted(got), sorted(ref)))
                failures += 1
            for name in sorted(set(got) & set(ref)):
                a, b = normalize(cmd, name, ref[name]), normalize(cmd, name, got[name])
                if a != b:
                    print("FAIL %s: %s differs (%d vs %d bytes)" % (tag, name, len(a), len(b)))
                    failures += 1
                else:
                    print("ok   %s: %s identical (%d bytes)" % (tag, name, len(a)))
    return 1 if failures else 0


def errors():
    """Errors on all ranks: the message is printed once, every rank exits with the same
    code, nobody hangs; an error only rank 0 meets (it alone writes files) stops the
    others at their next exchange."""
    failures = 0
    with tempfile.TemporaryDirectory(prefix="sdv-mpi-") as tmp:
        cases = [
            # invalid input: every rank meets it before any Monte Carlo
            (["weak", "--eta", "0.1,0.05", "--T", "1", "--dim", "0"], 2, "dim"),
            # the engine's work guard, inside the distributed run: it must count all paths,
            # not a rank's share, so that every R refuses the same run with the same message
            (["simulate", "--T", "10000", "--dim", "2", "--paths", "1000000000", "--no-exact",
              "--json", "x.json"], 2, "about 2e+14 elementary updates (1000000000 paths"),
            # only rank 0 opens files: it fails, the others are stopped at their next exchange
            (["weak", "--eta", "0.2,0.1", "--T", "1", "--paths", "500", "--no-exact", "--json",
              os.path.join(tmp, "missing", "x.json")], 2, "cannot write --json"),
        ]
        for argv, want_rc, want_msg in cases:
            ref_rc, _, ref_err = run([SDV] + argv, tmp, 1)
            rc, out, err = run(mpirun(NP, 1) + [SDV] + argv, tmp, 1)
            n = err.count("sdv %s:" % argv[0])
            tag = "mpirun -np %d sdv %s" % (NP, " ".join(argv))
            if ref_rc != want_rc or rc != want_rc:
                print("FAIL %s: exit %d (plain sdv: %d), expected %d\n%s" %
                      (tag, rc, ref_rc, want_rc, err))
                failures += 1
            elif want_msg not in err or n != 1:
                print("FAIL %s: message '%s' shown %d times, expected once:\n%s" %
                      (tag, want_msg, n, err))
                failures += 1
            else:
                print("ok   %s: exit %d, message once" % (tag, rc))
        left = sorted(os.listdir(tmp))
        if left:
            print("FAIL: files left behind: %s" % left)
            failures += 1
    return 1 if failures else 0


def main():
    if not shutil.which(MPIRUN) and not os.path.exists(MPIRUN):
        skip("mpirun not found")
    p = subprocess.run([SDV, "--version"], capture_output=True)
    if p.returncode != 0:
        print("sdv --version failed")
        return 1
    if os.environ.get("SDV_HAVE_MPI", "1") != "1":
        skip("sdv was built without MPI (meson -Dmpi=enabled needs libopenmpi-dev)")
    return errors() if CMD == "errors" else equivalence(CMD)


if __name__ == "__main__":
    sys.exit(main())
