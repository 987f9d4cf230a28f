#!/usr/bin/env bash
# End-to-end run of docker-compose.yml (docs/deploy.md): builds the lorastream:dev image, starts the stack with
# one consumer (profile cpu by default) on the repository's demo model, waits until the consumer and the gateway
# report UP, sends one completion through the gateway with the demo key and checks the answer, then tears the
# stack down with its volumes. Needs a Docker engine with Compose v2 and curl; exits 2, saying why, without them.
#
#   scripts/compose-e2e.sh                  # CPU consumer
#   PROFILE=gpu scripts/compose-e2e.sh      # GPU consumer (NVIDIA container runtime)
#   KEEP=1 scripts/compose-e2e.sh           # leave the stack running afterwards
#
# Runs as its own Compose project (lorastream-e2e), so `down -v` never touches the volumes of a stack started
# with plain `docker compose up`; the host ports (9092, 8081, 9401, 9402, 8000, 9090, 3000) must be free.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PROFILE="${PROFILE:-cpu}"
TIMEOUT_S="${TIMEOUT_S:-600}"
PROJECT="${PROJECT:-lorastream-e2e}"
DEMO_KEY="ls-demo-NOT-A-SECRET" # deploy/gateway-keys.demo.properties; a published demo key, not a secret
GATEWAY="http://localhost:8000"
CONSUMER_HEALTH="http://localhost:9402/health"

say() { echo "compose-e2e: $*" >&2; }

if ! command -v docker >/dev/null 2>&1; then
  say "no 'docker' command on this machine: cannot run the Compose stack (nothing was started)."
  say "DeployFilesTest checks docker-compose.yml and the Helm chart without Docker."
  exit 2
fi
if ! docker info >/dev/null 2>&1; then
  say "the 'docker' command cannot reach a Docker engine ('docker info' failed): start the engine or set"
  say "DOCKER_HOST, then run this again (nothing was started)."
  exit 2
fi
if ! docker compose version >/dev/null 2>&1; then
  say "Docker Compose v2 ('docker compose') is missing (nothing was started)."
  exit 2
fi
if ! command -v curl >/dev/null 2>&1; then
  say "curl is missing (nothing was started)."
  exit 2
fi
case "$PROFILE" in
  cpu | gpu) ;;
  *)
    say "PROFILE must be cpu or gpu, not '$PROFILE'"
    exit 2
    ;;
esac

# The tiny demo model of the repository (it has a tokenizer, which the gateway needs) and its adapters.
export MODELS_DIR="${MODELS_DIR:-./models}"
export BASE_MODEL="${BASE_MODEL:-lorastream-demo}"
export ADAPTERS_DIR="${ADAPTERS_DIR:-./models/lorastream-demo/adapters}"
unset GATEWAY_KEYS_FILE # the demo key file, whose key is DEMO_KEY

dc() { docker compose -p "$PROJECT" --profile "$PROFILE" "$@"; }

finish() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    say "FAILED (exit $rc); the last lines of each service's log:"
    dc logs --no-color --tail 40 >&2 || true
  fi
  if [[ -n "${KEEP:-}" ]]; then
    say "KEEP is set: the stack keeps running (docker compose -p $PROJECT --profile $PROFILE down -v)"
  else
    say "tearing down"
    dc down -v --remove-orphans >/dev/null 2>&1 || say "docker compose down failed; check 'docker compose -p $PROJECT ps'"
  fi
  exit $rc
}
trap finish EXIT

# wait_up NAME URL: until URL answers 200 or TIMEOUT_S seconds have passed since the stack started.
wait_up() {
  local name=$1 url=$2
  say "waiting for $name ($url)"
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if ((SECONDS - STARTED > TIMEOUT_S)); then
      say "$name did not report UP within ${TIMEOUT_S} s"
      return 1
    fi
    sleep 2
  done
  say "$name is UP after $((SECONDS - STARTED)) s"
}

say "building the image (docker compose build)"
dc build
say "starting the stack, profile $PROFILE, model $MODELS_DIR/$BASE_MODEL"
dc up -d
STARTED=$SECONDS
wait_up "the $PROFILE consumer" "$CONSUMER_HEALTH"
wait_up "the gateway" "$GATEWAY/health"

say "sending one completion through the gateway"
BODY="$(mktemp)"
STATUS="$(curl -sS -o "$BODY" -w '%{http_code}' --max-time 120 "$GATEWAY/v1/completions" \
  -H "Authorization: Bearer $DEMO_KEY" -H 'Content-Type: application/json' \
  -d '{"model": "base", "prompt": "The ", "max_tokens": 8, "temperature": 0}')"
cat "$BODY" >&2
echo >&2
if [[ "$STATUS" != 200 ]] || ! grep -q '"text_completion"' "$BODY" || ! grep -q '"finish_reason"' "$BODY"; then
  rm -f "$BODY"
  say "the completion failed: HTTP $STATUS"
  exit 1
fi
rm -f "$BODY"
say "OK: HTTP 200, one completion answered through batcher and consumer"
