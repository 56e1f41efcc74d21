#!/usr/bin/env bash
# Rooms a reader can hold (issue 17): no file of verify/ over 800 lines and no function there
# over 120.
#
# How it counts. A file's size is its number of lines (wc -l). A function is a top-level
# definition: a '{' at brace depth 0 whose preceding text (since the last top-level ';' or '}')
# ends with ')', so initializers ("= {"), struct, union and enum bodies do not count. Its
# size runs from the line holding the function's name (the identifier before the first '(' of
# that text) to the line of its closing brace, both included: the return type on a line of its
# own and the comment above are not counted, the signature's continuation lines are.
# Comments, string and character literals and preprocessor lines are blanked first, so braces
# in them do not count. Each offender is printed as "FILE:LINE: NAME is N lines (max 120)" or
# "FILE: N lines (max 800)".
# Usage: scripts/check-sizes.sh [SOURCE_ROOT]   (--print: list every function's size, exit 0)
set -euo pipefail
print=0
if [ "${1:-}" = "--print" ]; then print=1; shift; fi
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
exec /usr/bin/python3 - "$root" "$print" <<'EOF'
import re, sys, pathlib

MAX_FILE, MAX_FUNC = 800, 120
root, show = pathlib.Path(sys.argv[1]), sys.argv[2] == "1"

def blank(src):
    """Comments, literals and preprocessor lines become spaces; newlines stay."""
    out, i, n = [], 0, len(src)
    bol = True  # only whitespace since the start of the line
    while i < n:
        c = src[i]
        if bol and c == "#":  # a directive, with its backslash continuations
            j = i
            while j < n and src[j] != "\n":
                j += 2 if src[j] == "\\" and j + 1 < n else 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            j += 1
        else:
            out.append(c)
            if c == "\n":
                bol = True
            elif not c.isspace():
                bol = False
            i += 1
            continue
        out.append(re.sub(r"[^\n]", " ", src[i:j]))
        i = j
    return "".join(out)

def functions(text):
    """Yields (name, first line, last line) of each top-level function definition."""
    depth, start, head_from = 0, None, 0
    for i, c in enumerate(text):
        if c == "{":
            if depth == 0:
                head = text[head_from:i]
                start = None
                if head.rstrip().endswith(")") and "(" in head:
                    p = head_from + head.index("(")
                    m = re.search(r"([A-Za-z_]\w*)\s*$", text[head_from:p])
                    if m:
                        start = (m.group(1), text.count("\n", 0, head_from + m.start(1)) + 1)
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                if start:
                    yield start[0], start[1], text.count("\n", 0, i) + 1
                start, head_from = None, i + 1
        elif c == ";" and depth == 0:
            head_from = i + 1

bad = 0
for path in sorted((root / "verify").glob("*.[ch]")):
    rel = path.relative_to(root)
    src = path.read_text()
    lines = src.count("\n")
    if lines > MAX_FILE:
        print(f"{rel}: {lines} lines (max {MAX_FILE})")
        bad += 1
    for name, first, last in functions(blank(src)):
        size = last - first + 1
        if show:
            print(f"{size:5d} {rel}:{first}: {name}")
        elif size > MAX_FUNC:
            print(f"{rel}:{first}: {name} is {size} lines (max {MAX_FUNC})")
            bad += 1
if show:
    sys.exit(0)
print(f"check-sizes: {bad} over the limits (files <= {MAX_FILE} lines, functions <= {MAX_FUNC})")
sys.exit(1 if bad else 0)
EOF
