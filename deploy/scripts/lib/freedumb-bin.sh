# Sourced by the drills and tests that run the freedumb binary.
# shellcheck shell=bash

# Prints FREEDUMB_BIN, else the newest freedumb build under the usual target
# directories (CARGO_TARGET_DIR, ~/.cache/freedumb/target, ROOT/target),
# else nothing.
find_freedumb_bin() {
  local root="$1" bin="${FREEDUMB_BIN:-}" candidate
  if [ -z "$bin" ]; then
    for candidate in "${CARGO_TARGET_DIR:-$root/target}"/{release,debug}/freedumb \
        "$HOME/.cache/freedumb/target"/{release,debug}/freedumb "$root/target"/{release,debug}/freedumb; do
      [ -x "$candidate" ] || continue
      if [ -z "$bin" ] || [ "$candidate" -nt "$bin" ]; then bin="$candidate"; fi
    done
  fi
  printf '%s' "$bin"
}
