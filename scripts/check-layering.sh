#!/usr/bin/env bash
# Layering of the library (issue 17): no library file reaches into another component, except
# the violations still listed in scripts/layering-known.txt, a list that may only shrink.
#
# Components are the directories lib/{compressor,noise,objective,optimizer,diffusion,exact,mc,
# model,sim,weak,core,plugin}; a file belongs to the directory it is in. Comments and string
# and character literals are blanked before anything is read, so only code counts. A file of
# component A has a violation when it
#
# 1. INCLUDES ANOTHER COMPONENT'S PRIVATE HEADER: an #include "..." that resolves (from lib/,
#    or from the including file's directory for a bare file name) to lib/B/*.h with B != A.
#    Exempt: the headers of lib/core (registry.h, clones.h, rng_blocks.h). core is the layer
#    under every component and its headers are the library's shared toolkit (the one registry
#    mechanism, CPU dispatch, the block generator), not the internals of any one type.
#    Public headers (<sdv/...>) are the seam and always allowed.
#
# 2. NAMES A SPECIFIC TYPE OF ANOTHER COMPONENT: the code contains, as a whole identifier, the
#    exported pointer of a built-in type table of another component, i.e. a name declared in
#    include/sdv/*.h as `extern const sdv_<kind>_type *const NAME;` (sdv_method_dsignsgd,
#    sdv_noise_gaussian, sdv_compressor_rand_k, sdv_integrator_euler, ...), whose defining
#    file (`NAME = ...` in lib/) lies in a component other than A. Taking the address of a
#    specific type, comparing a pointer with it or passing it on all count alike: the file then
#    knows that one type exists. Not counted, because they go through the seam: structural
#    classes a type declares about itself (SDV_OBJECTIVE_QUADRATIC_DIAG and other enumerators,
#    which a user's type may declare too) and type names as text looked up in a registry
#    (a default spec "gaussian"). Every registry (compressor.c, noise.c, objective.c,
#    method.c, process.c) lives in the directory of the types it lists, so the own-component
#    exemption covers it; a registry elsewhere would have to be listed here.
#
# 3. CALLS ANOTHER COMPONENT'S PRIVATE FUNCTION: the code contains, as a whole identifier, a
#    function with external linkage defined in lib/B (B != A, B not core) that is not public
#    (not in lib/sdv.map): what rule 1 catches through the header, caught here even when a
#    file declares the prototype itself.
#
# Each violation is one line "FILE: includes B/x.h", "FILE: names SYMBOL" or "FILE: calls
# FUNCTION" (once per file, however often it occurs). The test fails on a violation that is not in the known list (a
# new leak) and on a listed violation that no longer occurs (remove the line: the list only
# shrinks), and prints the count.
# Usage: scripts/check-layering.sh [SOURCE_ROOT]   (--print: list the violations and exit 0)
set -euo pipefail
mode=check
if [ "${1:-}" = "--print" ]; then
  mode=print
  shift
fi
root=${1:-$(dirname "$0")/..}
exec /usr/bin/python3 - "$root" "$mode" <<'PY'
import os, re, sys

root, mode = sys.argv[1], sys.argv[2]
lib = os.path.join(root, 'lib')
known_path = os.path.join(root, 'scripts', 'layering-known.txt')
COMPONENTS = ['compressor', 'noise', 'objective', 'optimizer', 'diffusion', 'exact', 'mc',
              'model', 'sim', 'weak', 'core', 'plugin']
SHARED = {'core'}  # components whose private headers every component may include


def blank(src):
    """src with comments and string/char literals replaced by spaces (newlines kept)."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith('/*', i):
            j = src.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', src[i:j]))
            i = j
        elif src.startswith('//', i):
            j = src.find('\n', i)
            j = n if j < 0 else j
            out.append(' ' * (j - i))
            i = j
        elif c in '"\'':
            j = i + 1
            while j < n and src[j] != c and src[j] != '\n':
                j += 2 if src[j] == '\\' else 1
            j = min(j + 1, n)
            # keep the quotes so that #include "..." can still be recognised by position
            out.append(c + re.sub(r'[^\n]', ' ', src[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def sources():
    for comp in sorted(os.listdir(lib)):
        d = os.path.join(lib, comp)
        if not os.path.isdir(d):
            continue
        if comp not in COMPONENTS:
            sys.exit(f'check-layering: lib/{comp}/ is not a known component: add it to the '
                     'script (COMPONENTS) with its place in the layering')
        for f in sorted(os.listdir(d)):
            if f.endswith(('.c', '.h')):
                yield comp, os.path.join('lib', comp, f)


# The type symbols, from the public headers, and the component that defines each.
types = set()
inc = os.path.join(root, 'include', 'sdv')
for h in sorted(os.listdir(inc)):
    if h.endswith('.h'):
        text = blank(open(os.path.join(inc, h)).read())
        types |= set(re.findall(r'extern\s+const\s+sdv_\w+_type\s*\*\s*const\s+(sdv_\w+)\s*;',
                                text))
if not types:
    sys.exit('check-layering: no type tables found in include/sdv (the pattern is stale)')
owner = {}
files = list(sources())
text = {path: blank(open(os.path.join(root, path)).read()) for _, path in files}
raw = {path: open(os.path.join(root, path)).read() for _, path in files}
for comp, path in files:
    for t in types:
        if re.search(r'(?<![\w.>])' + t + r'\s*=(?!=)', text[path]):
            owner.setdefault(t, set()).add(comp)
missing = sorted(t for t in types if len(owner.get(t, ())) != 1)
if missing:
    sys.exit('check-layering: no single defining component for ' + ', '.join(missing))
owner = {t: next(iter(c)) for t, c in owner.items()}
type_re = re.compile(r'\b(' + '|'.join(sorted(types)) + r')\b')

# Non-public functions with external linkage, and the component defining each: a definition
# is a line-initial declarator (not static) whose parameter list is followed by a body.
public = set()
for line in open(os.path.join(lib, 'sdv.map')):
    m = re.match(r'\s+(sdv_\w+);', line)
    if m:
        public.add(m.group(1))
private_fn = {}
for comp, path in files:
    t = text[path]
    for m in re.finditer(r'^(?!static\b|typedef\b|extern\b|return\b)[A-Za-z_][\w \t*]*?\b(\w+)\s*\(',
                         t, re.M):
        i, depth = m.end(), 1
        while depth and i < len(t):
            depth += {'(': 1, ')': -1}.get(t[i], 0)
            i += 1
        if t[i:].lstrip().startswith('{') and m.group(1) not in public:
            private_fn[m.group(1)] = comp
foreign_fn = {f: c for f, c in private_fn.items() if c not in SHARED}
fn_re = re.compile(r'\b(' + '|'.join(sorted(foreign_fn)) + r')\b') if foreign_fn else None

found = set()
for comp, path in files:
    # Includes are read from the raw text (the blanked one has no file names), but only on
    # lines that are still an #include after blanking (not inside a comment).
    for lineno, (line, bline) in enumerate(zip(raw[path].split('\n'), text[path].split('\n'))):
        m = re.match(r'\s*#\s*include\s*"([^"]+)"', line)
        if not m or not re.match(r'\s*#\s*include\s*"', bline):
            continue
        name = m.group(1)
        target = os.path.normpath(os.path.join('lib', name) if '/' in name else
                                  os.path.join(os.path.dirname(path), name))
        if name.startswith('.'):
            target = os.path.normpath(os.path.join(os.path.dirname(path), name))
        parts = target.split(os.sep)
        if len(parts) == 3 and parts[0] == 'lib' and parts[1] != comp and parts[1] not in SHARED:
            found.add(f'{path}: includes {parts[1]}/{parts[2]}')
    for t in set(type_re.findall(text[path])):
        if owner[t] != comp:
            found.add(f'{path}: names {t}')
    for f in set(fn_re.findall(text[path])) if fn_re else ():
        if foreign_fn[f] != comp:
            found.add(f'{path}: calls {f}')

if mode == 'print':
    print('\n'.join(sorted(found)))
    sys.exit(0)

known = set()
for line in open(known_path):
    line = line.strip()
    if line and not line.startswith('#'):
        known.add(line)
new, gone = sorted(found - known), sorted(known - found)
if new:
    print('layering: NEW violations (a component reaching into another; use its public header '
          'or a hook on the type table instead):')
    print('\n'.join('  ' + v for v in new))
if gone:
    print('layering: fixed, so remove from scripts/layering-known.txt (the list only shrinks):')
    print('\n'.join('  ' + v for v in gone))
print(f'layering: {len(found)} violations, {len(found & known)} of them known, {len(new)} new; '
      f'{len(gone)} listed but gone ({len(types)} type tables, {len(files)} files read)')
sys.exit(1 if new or gone else 0)
PY
