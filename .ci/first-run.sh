#!/usr/bin/env bash
# Proves the README's first run on a fresh clone of this repository's HEAD:
#   1. git clone, npm ci;
#   2. plain `npm start` (PORT set to a free port): the ready line, then the demo run COMPLETED;
#   3. SIGTERM to the engine: npm start exits 0 and leaves no DynamoDB Local running;
#   4. `npm start -- --no-demo` again on the same (default) data directory: the demo run is read
#      back through GET /runs/<id>, still COMPLETED;
#   5. SIGTERM again: exit 0.
# Any failed step or timeout fails the script (non-zero), with the tail of the engine's log.
#
# Environment: FIRST_RUN_NODE_MODULES=link symlinks this checkout's node_modules into the clone
# instead of running npm ci (quicker, less honest); FIRST_RUN_KEEP=1 keeps the clone;
# FIRST_RUN_REF=<commit> checks out that commit instead of HEAD.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/dagflow-first-run.XXXXXX")"
clone="$work/dagflow"
data_dir="$clone/.local-data/dynamodb"
log=""
engine_pid=""

say() { echo "first-run: $*"; }

fail() {
  echo "first-run: FAILED: $*" >&2
  if [ -n "$log" ] && [ -f "$log" ]; then
    echo "----- last 40 lines of $(basename "$log") -----" >&2
    tail -n 40 "$log" >&2
    echo "-----" >&2
  fi
  exit 1
}

# Processes (the guardian, java) that still name the clone's data directory.
leftovers() {
  ps -eo pid=,args= | grep -F -- "$data_dir" | grep -v -e grep -e first-run || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$engine_pid" ]; then
    # npm start runs in a process group of its own (setsid): take all of it down.
    kill -KILL -- "-$engine_pid" 2>/dev/null || true
  fi
  # DynamoDB Local's guardian stops java once the engine is gone; give it a moment.
  for _ in $(seq 1 50); do [ -z "$(leftovers)" ] && break; sleep 0.2; done
  if [ "${FIRST_RUN_KEEP:-}" = 1 ]; then
    say "kept $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM

free_port() {
  node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# start_engine <log name> [npm start arguments...]: npm start in the clone, in its own process group.
start_engine() {
  log="$work/$1"
  shift
  # Not a process group leader (no job control here), so setsid execs npm in place: $! is npm's
  # pid and its process group.
  (cd "$clone" && PORT="$port" exec setsid npm start "$@") >"$log" 2>&1 </dev/null &
  engine_pid=$!
}

# wait_for <extended regex> <seconds> <what>: until the log has a line matching it.
wait_for() {
  local pattern="$1" deadline=$((SECONDS + $2)) what="$3"
  until grep -Eq -- "$pattern" "$log"; do
    kill -0 "$engine_pid" 2>/dev/null || fail "npm start exited before $what"
    [ "$SECONDS" -lt "$deadline" ] || fail "no $what within $2 s"
    sleep 0.3
  done
}

# The engine's tsx process in npm start's process group (tsx relays signals to the node process
# running local/main.ts). The SIGTERM goes there, not to npm: npm passes a SIGTERM to the `sh -c`
# running the script, and dash dies of it without passing it on, so npm then exits 143 and leaves
# tsx and the engine running, orphaned. (A terminal's Ctrl-C reaches the whole group instead.)
engine_tsx_pid() {
  ps -eo pid=,pgid=,args= | awk -v group="$engine_pid" '$2 == group && /tsx local\/main\.ts/ && !/sh -c/ { print $1; exit }'
}

# stop_engine: SIGTERM to the engine; npm start must exit 0 within 30 s, leaving nothing running.
stop_engine() {
  local deadline=$((SECONDS + 30)) status=0 target
  target="$(engine_tsx_pid)"
  [ -n "$target" ] || fail "no tsx process of npm start found in process group $engine_pid"
  kill -TERM "$target"
  while kill -0 "$engine_pid" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || fail "npm start still running 30 s after SIGTERM"
    sleep 0.2
  done
  wait "$engine_pid" || status=$?
  [ "$status" -eq 0 ] || fail "npm start exited with status $status after SIGTERM (expected 0)"
  engine_pid=""
  deadline=$((SECONDS + 10))
  while [ -n "$(leftovers)" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "still running after npm start stopped: $(leftovers)"
    sleep 0.2
  done
  [ ! -e "$data_dir/engine.lock" ] || fail "npm start left its lock file $data_dir/engine.lock"
}

# http_get <url>: prints the body of a 200, fails otherwise.
http_get() {
  node -e '
    fetch(process.argv[1]).then(async (response) => {
      const text = await response.text();
      if (response.status !== 200) { console.error(response.status + " " + text); process.exit(1); }
      console.log(text);
    }, (error) => { console.error(error.message); process.exit(1); });
  ' "$1"
}

ref="${FIRST_RUN_REF:-HEAD}"
say "cloning $(git -C "$repo" rev-parse --short "$ref") into $clone"
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  say "note: uncommitted changes of $repo are not part of the clone"
fi
git clone --quiet --no-hardlinks "$repo" "$clone"
git -C "$clone" checkout --quiet --detach "$(git -C "$repo" rev-parse "$ref")"

if [ "${FIRST_RUN_NODE_MODULES:-}" = link ]; then
  say "linking node_modules from $repo"
  ln -s "$repo/node_modules" "$clone/node_modules"
else
  say "npm ci"
  log="$work/npm-ci.log"
  (cd "$clone" && timeout 900 npm ci --no-audit --no-fund) >"$log" 2>&1 || fail "npm ci failed"
fi

port="$(free_port)"
api="http://127.0.0.1:$port"

say "npm start (PORT=$port)"
start_engine first-start.log
wait_for "^API ready at $api\$" 180 "ready line"
grep -q "^data: $data_dir\$" "$log" || fail "npm start did not use the default data directory $data_dir"
grep -Eq '^registered workflow order_processing \(version [0-9a-f]+, [0-9]+ tasks\)$' "$log" || fail "order_processing was not registered"
wait_for '^demo: run [^ ]+ (COMPLETED|FAILED|CANCELLED) ' 120 "end of the demo run"
demo_line="$(grep -E '^demo: run [^ ]+ (COMPLETED|FAILED|CANCELLED) ' "$log" | head -n 1)"
run_id="$(echo "$demo_line" | awk '{print $3}')"
echo "$demo_line" | grep -q " COMPLETED " || fail "the demo run did not complete: $demo_line"
echo "$demo_line" | grep -qF "see $api/#workflow=order_processing&run=$run_id" || fail "the demo does not link its dashboard page: $demo_line"
say "demo run $run_id COMPLETED; stopping the engine with SIGTERM"
stop_engine

say "npm start -- --no-demo (same data directory)"
start_engine second-start.log -- --no-demo
wait_for "^API ready at $api\$" 180 "ready line after the restart"
grep -Eq '^workflow order_processing already registered ' "$log" || fail "the restart did not find order_processing registered"
run_json="$(http_get "$api/runs/$run_id")" || fail "GET /runs/$run_id failed after the restart"
status="$(echo "$run_json" | node -e 'let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => console.log(JSON.parse(s).status));')"
[ "$status" = COMPLETED ] || fail "after the restart, run $run_id is $status, not COMPLETED"
if grep -q '^demo:' "$log"; then fail "--no-demo still ran the demo"; fi
say "after the restart, GET /runs/$run_id says COMPLETED; stopping the engine with SIGTERM"
stop_engine

say "OK"
