#!/usr/bin/env bash
# Prints the Debian/Ubuntu packages that hold the shared libraries BINARY... load, one per
# line: what an image's final stage installs to run binaries built in its build stage, with
# no compiler, headers or build tool. Libraries no package owns (a LibTorch unpacked under
# /opt) are listed on stderr; the Dockerfile copies them itself.
#   runtime_packages.sh build/bin/ofa-coordinator build/bin/ofa-worker ...
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: runtime_packages.sh BINARY..." >&2; exit 2; }
for binary in "$@"; do
  [ -x "$binary" ] || { echo "runtime_packages.sh: $binary is not an executable" >&2; exit 2; }
done
# "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)": the resolved paths.
libs=$(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u)
if ldd "$@" | grep -q "not found"; then
  echo "runtime_packages.sh: unresolved libraries:" >&2
  ldd "$@" | grep "not found" | sort -u >&2
  exit 1
fi
# Merged /usr: dpkg may know a file under /lib or under /usr/lib, by its name or its target.
# "LIB CANDIDATE" pairs, then one dpkg -S call ("pkg[:arch]: /path" per file it knows).
pairs=$(for lib in $libs; do
  real=$(readlink -f "$lib")
  for c in "$lib" "$real" "/usr$lib" "/usr$real" "${lib#/usr}" "${real#/usr}"; do echo "$lib $c"; done
done)
owners=$( (cut -d' ' -f2 <<<"$pairs" | sort -u | xargs dpkg -S 2>/dev/null || true) |
  sed -E 's/^([^:]+)(:[a-z0-9]+)?: (.*)$/\3 \1/')
awk 'NR == FNR { owner[$1] = $2; next }
     !($1 in found) && ($2 in owner) { found[$1] = owner[$2] }
     { libs[$1] = 1 }
     END {
       for (lib in libs) {
         if (lib in found) print found[lib]
         else print "runtime_packages.sh: no package owns " lib > "/dev/stderr"
       }
     }' <(echo "$owners") <(echo "$pairs") | sort -u
