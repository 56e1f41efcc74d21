#!/usr/bin/env bash
# Prints the public symbols declared in include/sdv/*.h, one per line, sorted: every function
# declared there (not static inline) and every extern object. The shared library exports
# exactly these (lib/sdv.map); tests/check-exports.sh compares the three lists.
# Usage: scripts/public-symbols.sh [INCLUDE_DIR]
set -euo pipefail
inc=${1:-$(dirname "$0")/../include}
for h in "$inc"/sdv/*.h; do
  # Join declarations onto one line, drop comments and static inline function bodies.
  /usr/bin/python3 - "$h" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
src = re.sub(r'/\*.*?\*/', ' ', src, flags=re.S)
src = re.sub(r'//[^\n]*', ' ', src)
src = re.sub(r'^\s*#.*$', ' ', src, flags=re.M)
# Remove static inline functions (with their bodies).
out, i = [], 0
for m in re.finditer(r'static\s+inline[^;{]*\{', src):
    pass
def strip_inline(s):
    res, pos = [], 0
    for m in re.finditer(r'static\s+inline', s):
        if m.start() < pos:
            continue
        res.append(s[pos:m.start()])
        j = s.index('{', m.end())
        depth, k = 1, j + 1
        while depth:
            depth += {'{': 1, '}': -1}.get(s[k], 0)
            k += 1
        pos = k
    res.append(s[pos:])
    return ''.join(res)
src = strip_inline(src)
# Remove typedefs of function types and struct bodies (their members are not symbols).
src = re.sub(r'typedef[^;]*;', ' ', src)
names = set()
for m in re.finditer(r'\b(sdv_[a-z0-9_]+)\s*\(', src):
    names.add(m.group(1))
for m in re.finditer(r'extern\s+const[^;]*?\b(sdv_[a-z0-9_]+)\s*(\[\s*\])?\s*;', src):
    names.add(m.group(1))
for n in sorted(names):
    print(n)
PY
done | sort -u
