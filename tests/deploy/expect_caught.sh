#!/usr/bin/env bash
# Sourced by the deploy tests: plants one mistake in a known-good file and checks that the
# checker reports it. The sourcing test defines ok, fail, $tmp, $original (the good file) and
# verify FILE (runs the checker on FILE: non-zero exit and a report when something is wrong).
expect_caught() {  # expect_caught WHAT PATTERN SED_SCRIPT
  sed -e "$3" "$original" >"$tmp/broken"
  if cmp -s "$original" "$tmp/broken"; then fail "$1: the edit changed nothing"; return; fi
  local out; out=$(verify "$tmp/broken")
  if [ $? -ne 0 ] && grep -q -- "$2" <<<"$out"; then ok "caught: $1"; else fail "$1 not caught: $out"; fi
}
