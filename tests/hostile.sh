#!/usr/bin/env bash
# Replays the bad invocations of tests/hostile.tsv against the built `sdv`: each must end with
# its expected exit status (never by a signal), say the expected fragment on stdout or stderr,
# and leave nothing behind in its scratch folder but the fixtures (no result, no temporary).
#   tests/hostile.sh SDV TSV            (meson test 'hostile')
#   tests/hostile.sh SDV TSV --print    also print every invocation's status and first line
# HOSTILE_WRAP, if set, prefixes every invocation (e.g. "valgrind -q --error-exitcode=99
# --leak-check=full --errors-for-leak-kinds=definite"), so an error path that leaks or reads
# freed memory shows up as an unexpected exit status.
set -u
sdv=$(realpath "$1")
table=$(realpath "$2")
print=${3:-}
scratch=$(mktemp -d /tmp/sdv-hostile.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch" || exit 1
mkdir adir
echo '{}' > ro.json
chmod 0444 ro.json
echo 'not an ELF file' > notaplugin.so
fixtures=$(ls -A | sort)

n=0
bad=0
line=0
while IFS= read -r row || [ -n "$row" ]; do
  line=$((line + 1))
  case "$row" in '#'* | '') continue ;; esac
  IFS=$'\t' read -r want fragment cmdline <<< "$row"
  # The arguments are shell words written by us (quotes for empty values and semicolons).
  eval "args=($cmdline)"
  n=$((n + 1))
  # shellcheck disable=SC2086 # the wrapper is a word list on purpose
  timeout -s KILL 120 ${HOSTILE_WRAP:-} "$sdv" "${args[@]}" > out.txt 2> err.txt < /dev/null
  got=$?
  text=$(cat out.txt err.txt)
  rm -f out.txt err.txt
  left=$(ls -A | sort)
  why=""
  [ "$got" = "$want" ] || why="exit $got, expected $want"
  case "$text" in *"$fragment"*) ;; *) why="${why:+$why; }no '$fragment' in the output" ;; esac
  [ "$left" = "$fixtures" ] || why="${why:+$why; }left behind: $(comm -13 <(echo "$fixtures") <(echo "$left") | tr '\n' ' ')"
  if [ -n "$why" ]; then
    bad=$((bad + 1))
    echo "FAIL line $line: sdv $cmdline"
    echo "     $why"
    echo "$text" | head -3 | sed 's/^/     | /'
    # Clean up for the next row.
    comm -13 <(echo "$fixtures") <(echo "$left") | while read -r f; do rm -rf -- "$f"; done
  elif [ -n "$print" ]; then
    echo "ok   $got sdv $cmdline"
    echo "$text" | grep -F -m1 -- "$fragment" | cut -c1-160 | sed 's/^/     | /'
  fi
done < "$table"
echo "hostile: $n invocations, $((n - bad)) as expected, $bad not"
[ "$n" -ge 100 ] || { echo "hostile: fewer than 100 invocations in $table"; exit 1; }
[ "$bad" -eq 0 ]
