#!/usr/bin/env python3
"""Regenerates the CSV data sets in data/ from scikit-learn's bundled copies of the UCI files.

Usage: scripts/make-datasets.py [SOURCE_DIR]
SOURCE_DIR defaults to /usr/lib/python3/dist-packages/sklearn/datasets/data (Debian's
python3-sklearn 1.2.1+dfsg-1). Only the raw files there are read; scikit-learn itself is not
imported and sdv does not depend on it. Not run by CI: the shipped files are checked against
the SHA-256 sums in data/README.md instead (tests/check-data.sh). Every transformation is
described in data/README.md; rerunning this script reproduces the shipped files byte for byte.
"""
import csv
import gzip
import os
import statistics
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else "/usr/lib/python3/dist-packages/sklearn/datasets/data"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")


def read(name, header):
    """Rows of floats (features) plus an int label from a scikit-learn CSV file."""
    opener = gzip.open if name.endswith(".gz") else open
    with opener(os.path.join(SRC, name), "rt") as f:
        rows = list(csv.reader(f))
    if header:
        rows = rows[1:]  # a count header such as "178,13,class_0,class_1,class_2"
    return [([float(v) for v in r[:-1]], int(float(r[-1]))) for r in rows]


def zscore(rows):
    """Standardises every feature over the rows (n - 1 standard deviation)."""
    cols = list(zip(*[r[0] for r in rows]))
    mean = [statistics.fmean(c) for c in cols]
    sd = [statistics.stdev(c) for c in cols]
    z = [([(v - m) / s for v, m, s in zip(x, mean, sd)], y) for x, y in rows]
    return z, mean, sd


def write(name, comments, rows, fmt):
    with open(os.path.join(OUT, name), "w", newline="\n") as f:
        for c in comments:
            f.write("# " + c + "\n" if c else "#\n")
        for x, y in rows:
            f.write(",".join(fmt % v for v in x) + ",%d\n" % y)


def stats_lines(mean, sd):
    return ["mean: " + ", ".join("%.10g" % m for m in mean),
            "sd:   " + ", ".join("%.10g" % s for s in sd)]


# Iris: versicolor (0) vs virginica (1), z-scored over those 100 rows.
iris = [(x, y - 1) for x, y in read("iris.csv", True) if y >= 1]
iris, _, _ = zscore(iris)
write("iris-versicolor-virginica.csv",
      ["Iris versicolor (label 0) vs virginica (label 1); 100 rows.",
       "Columns: sepal length, sepal width, petal length, petal width (each z-scored over these",
       "100 rows with the n-1 standard deviation, rounded to 6 decimals), label. See README.md."],
      iris, "%.6f")

# Wine: 13 chemical measurements, z-scored; cultivar 0, 1, 2.
wine, mean, sd = zscore(read("wine_data.csv", True))
write("wine.csv",
      ["UCI Wine: 178 wines, 13 features (each z-scored over the 178 rows with the n-1",
       "standard deviation, rounded to 6 decimals), then the cultivar 0, 1 or 2. See README.md.",
       "The raw means and standard deviations, feature by feature (z = (raw - mean) / sd):"]
      + stats_lines(mean, sd), wine, "%.6f")

# Breast Cancer Wisconsin (Diagnostic): 30 features, z-scored; 0 malignant, 1 benign.
bc, mean, sd = zscore(read("breast_cancer.csv", True))
write("breast-cancer-wisconsin.csv",
      ["UCI Breast Cancer Wisconsin (Diagnostic): 569 tumours, 30 features (each z-scored over",
       "the 569 rows with the n-1 standard deviation, rounded to 6 decimals), then the",
       "diagnosis: 0 malignant, 1 benign. See README.md.",
       "The raw means and standard deviations, feature by feature (z = (raw - mean) / sd):"]
      + stats_lines(mean, sd), bc, "%.6f")

# Digits: 8x8 pixel counts 0..16 divided by 16 (exact in binary); digit 0..9.
digits = [([v / 16.0 for v in x], y) for x, y in read("digits.csv.gz", False)]
write("digits.csv",
      ["UCI Optical Recognition of Handwritten Digits (scikit-learn's 1797-image copy): 64",
       "pixels of an 8x8 image, row by row, each the original count 0..16 divided by 16 (exact),",
       "then the digit 0..9. See README.md."],
      digits, "%g")
