# FREEDUMB: the commands a developer, an operator and CI use.
# `make help` lists the targets and the variables that steer them; every
# variable can be given on the command line (make deploy-prod IMAGE_TAG=1.2.3).
# docs/DEPLOYMENT.md explains each way of running FREEDUMB.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Tools.
CARGO ?= cargo
KUBECTL ?= kubectl
COMPOSE ?= docker compose
CONTAINER ?= docker

# The image (one image, every target).
IMAGE ?= ghcr.io/freedumb/freedumb
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | sed -n 1p)
IMAGE_TAG ?= $(VERSION)

# Kubernetes: ENV picks $(K8S_DIR)/overlays/$(ENV) (dev, staging, prod).
ENV ?= staging
K8S_DIR ?= deploy/k8s
# Empty: read from the rendered overlay (every object has the same namespace).
K8S_NAMESPACE ?=
K8S_SELECTOR ?= app.kubernetes.io/part-of=freedumb
# Seconds the migration Job may take; the rollout waits ROLLOUT_TIMEOUT per Deployment.
MIGRATION_TIMEOUT ?= 300
ROLLOUT_TIMEOUT ?= 300s
# Where deploy records the revisions it replaced (for an automatic rollback).
STATE_DIR ?= .deploy

# rollback, health-check: local (the blue-green drill's Envoy, or a mesh on
# this machine) or k8s (the cluster of the current kubectl context).
PLATFORM ?= local
# rollback on k8s: a Deployment revision number; empty: the revisions that
# the last `make deploy-*` replaced, else each Deployment's previous one.
REVISION ?=

# Compose: COMPOSE_ENV=dev (compose.yaml), staging or prod (plus its override
# and its --env-file, deploy/compose/<env>.env).
COMPOSE_ENV ?= dev
COMPOSE_FILES := -f deploy/compose/compose.yaml $(if $(filter-out dev,$(COMPOSE_ENV)),-f deploy/compose/compose.$(COMPOSE_ENV).yaml --env-file deploy/compose/$(COMPOSE_ENV).env)

# Backups (deploy/scripts/backup.sh reads DATABASE_URL from the environment).
BACKUP_DIR ?= ./backups
BACKUP ?= latest
RESTORE_ARGS ?=

# Extra arguments of the operations scripts, e.g.
#   make diagnose DIAG_ARGS="--endpoint auth=127.0.0.1:50051,127.0.0.1:9090 --logs /var/log/freedumb"
DIAG_ARGS ?=
BUNDLE_ARGS ?=
# Options of the load test, e.g. LOAD_ARGS="--start-rate 40 --duration 60".
LOAD_ARGS ?=

# CI's backends (what .ci/run uses).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379

.PHONY: help dev test lint build ci ci-test ci-lint ci-build image compose-up compose-down \
	k8s-render deploy-staging deploy-prod k8s-deploy rollback health-check diagnose \
	support-bundle backup restore restore-drill load-test check-deploy

help: ## list the targets and the variables that steer them
	@echo "usage: make TARGET [VARIABLE=value ...]"
	echo
	awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z0-9-]*:.*## / { printf "  %-16s %s\n", $$1, $$2 }' $(firstword $(MAKEFILE_LIST))
	echo
	echo "variables: ENV=$(ENV) PLATFORM=$(PLATFORM) IMAGE=$(IMAGE) IMAGE_TAG=$(IMAGE_TAG)"
	echo "           COMPOSE_ENV=$(COMPOSE_ENV) BACKUP_DIR=$(BACKUP_DIR) BACKUP=$(BACKUP) REVISION=$(REVISION)"

## Development

dev: ## run the whole mesh in one process on SQLite (cargo run)
	$(CARGO) run

test: ## the test suite (README "Two commands")
	$(CARGO) test --workspace

lint: ## rustfmt, clippy (-D warnings) and buf lint
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	buf lint

build: ## the release binary (target/release/freedumb)
	$(CARGO) build --release --bin freedumb

## CI

ci: ## everything CI runs, exactly (bash .ci/run)
	bash .ci/run

ci-test: ## the tests with Postgres, Redis and every tool required, as in CI
	CI=true TEST_DATABASE_URL='$(TEST_DATABASE_URL)' TEST_REDIS_URL='$(TEST_REDIS_URL)' \
	  $(CARGO) test --workspace --locked

ci-lint: lint check-deploy ## lint plus the deployment checks

ci-build: ## the release binary from the locked dependencies, then its version
	$(CARGO) build --release --locked --bin freedumb
	"$${CARGO_TARGET_DIR:-target}/release/freedumb" version

## Image and compose

image: ## build the image IMAGE:IMAGE_TAG with CONTAINER (docker or podman)
	$(CONTAINER) build -f deploy/docker/Dockerfile \
	  --build-arg VERSION='$(VERSION)' \
	  --build-arg REVISION="$$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
	  --build-arg CREATED="$$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	  -t '$(IMAGE):$(IMAGE_TAG)' .

compose-up: ## start the mesh with compose (COMPOSE_ENV=dev|staging|prod) and wait until healthy
	$(COMPOSE) $(COMPOSE_FILES) up -d --wait

compose-down: ## stop the compose mesh (volumes are kept)
	$(COMPOSE) $(COMPOSE_FILES) down --remove-orphans

## Kubernetes

# Shell functions of the Kubernetes recipes. They take the place of a
# recursive $(MAKE): under .ONESHELL a recipe naming $(MAKE) would run even
# with `make -n`.
define k8s_functions
# ENV's overlay rendered with IMAGE_TAG, from a temporary copy (the overlay
# derives the migration Job's name and the version labels from its own
# images: entry, so the tag is set there, not on top).
render() {
  [ -d '$(K8S_DIR)/overlays/$(ENV)' ] || { echo "no overlay $(K8S_DIR)/overlays/$(ENV) (ENV=dev|staging|prod)" >&2; return 1; }
  local tmp k rc=0
  tmp=$$(mktemp -d)
  cp -R '$(K8S_DIR)/.' "$$tmp/"
  k="$$tmp/overlays/$(ENV)/kustomization.yaml"
  awk -v image='$(IMAGE)' -v tag='$(IMAGE_TAG)' '
    $$0 ~ "^- name: " image "$$" { hit = 1; print; next }
    hit && /^  newTag: / { print "  newTag: \"" tag "\""; hit = 0; done = 1; next }
    { print }
    END { if (!done) { print "no images: entry with newTag for " image " in the overlay" > "/dev/stderr"; exit 1 } }' \
    "$$k" >"$$k.new" && mv "$$k.new" "$$k" && $(KUBECTL) kustomize "$$tmp/overlays/$(ENV)" || rc=$$?
  rm -rf "$$tmp"
  return "$$rc"
}
# The namespace: K8S_NAMESPACE, else the one every object of the overlay has.
namespace() {
  local ns='$(K8S_NAMESPACE)'
  [ -n "$$ns" ] || ns=$$(render | sed -n 's/^  namespace: //p' | sort -u)
  [ "$$(wc -w <<<"$$ns")" = 1 ] || { echo "one namespace expected in the $(ENV) overlay, found: $$ns" >&2; return 1; }
  echo "$$ns"
}
endef

k8s-render: ## print ENV's overlay with the image tag set to IMAGE_TAG (offline)
	@$(k8s_functions)
	render

deploy-staging: ## deploy IMAGE_TAG to staging: migration Job first, then the rollout
	$(MAKE) k8s-deploy ENV=staging

deploy-prod: ## deploy IMAGE_TAG to production: migration Job first, then the rollout
	$(MAKE) k8s-deploy ENV=prod

k8s-deploy: ## deploy ENV's overlay (what deploy-staging and deploy-prod run)
	@$(k8s_functions)
	work=$$(mktemp -d); trap 'rm -rf "$$work"' EXIT
	render >"$$work/all.yaml"
	ns=$$(namespace)
	# Split the stream: the Deployments roll out only after the migration Job.
	awk -v rest="$$work/first.yaml" -v deps="$$work/deployments.yaml" -v jobs="$$work/jobs.txt" '
	  function flush() { if (doc != "") { if (dep) printf "%s---\n", doc > deps; else printf "%s---\n", doc > rest }
	                     if (job && name != "") print name > jobs; doc = ""; dep = 0; job = 0; name = "" }
	  /^---$$/ { flush(); next }
	  { doc = doc $$0 "\n" }
	  $$0 == "kind: Deployment" { dep = 1 }
	  $$0 == "kind: Job" { job = 1 }
	  /^[^ ]/ { inmeta = ($$0 == "metadata:") }
	  inmeta && /^  name: / { name = $$2 }
	  END { flush() }' "$$work/all.yaml"
	touch "$$work/jobs.txt" "$$work/deployments.yaml"
	mkdir -p '$(STATE_DIR)'
	state='$(STATE_DIR)/$(ENV).revisions'
	$(KUBECTL) -n "$$ns" get deploy -l '$(K8S_SELECTOR)' \
	  -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.metadata.annotations.deployment\.kubernetes\.io/revision}{"\n"}{end}' >"$$state"
	echo "namespace $$ns; revisions before the deploy in $$state:"; cat "$$state"
	# The migration Job is named after the release: re-applying a release
	# finds it complete; a failed one is deleted so that it runs again.
	while read -r job; do
	  if [ "$$($(KUBECTL) -n "$$ns" get job "$$job" --ignore-not-found -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}')" = True ]; then
	    $(KUBECTL) -n "$$ns" delete job "$$job" --wait=true
	  fi
	done <"$$work/jobs.txt"
	$(KUBECTL) apply -f "$$work/first.yaml"
	while read -r job; do
	  echo "waiting for the migration job $$job (at most $(MIGRATION_TIMEOUT) s)"
	  deadline=$$(( $$(date +%s) + $(MIGRATION_TIMEOUT) ))
	  until [ "$$($(KUBECTL) -n "$$ns" get job "$$job" -o jsonpath='{.status.succeeded}')" = 1 ]; do
	    failed=$$($(KUBECTL) -n "$$ns" get job "$$job" -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}')
	    if [ "$$failed" = True ] || [ "$$(date +%s)" -ge "$$deadline" ]; then
	      $(KUBECTL) -n "$$ns" logs "job/$$job" --all-containers --tail=200 || true
	      echo "the migration job $$job failed or timed out: the Deployments were not changed" >&2
	      exit 1
	    fi
	    sleep 2
	  done
	  echo "migration job $$job complete"
	done <"$$work/jobs.txt"
	if [ -s "$$work/deployments.yaml" ]; then $(KUBECTL) apply -f "$$work/deployments.yaml"; fi
	for d in $$($(KUBECTL) -n "$$ns" get deploy -l '$(K8S_SELECTOR)' -o name); do
	  $(KUBECTL) -n "$$ns" rollout status "$$d" --timeout='$(ROLLOUT_TIMEOUT)'
	done
	echo "deployed $(IMAGE):$(IMAGE_TAG) to $$ns"

rollback: ## roll back: PLATFORM=k8s (kubectl rollout undo; REVISION=N) or local (blue-green.sh rollback)
	@$(k8s_functions)
	case '$(PLATFORM)' in
	local)
	  bash deploy/scripts/blue-green.sh rollback ;;
	k8s)
	  ns=$$(namespace)
	  state='$(STATE_DIR)/$(ENV).revisions'
	  deployments=$$($(KUBECTL) -n "$$ns" get deploy -l '$(K8S_SELECTOR)' -o name)
	  if [ -n '$(REVISION)' ]; then
	    for d in $$deployments; do $(KUBECTL) -n "$$ns" rollout undo "$$d" --to-revision='$(REVISION)'; done
	  elif [ -s "$$state" ]; then
	    echo "rolling back to the revisions recorded in $$state"
	    while read -r name rev; do
	      [ -n "$$rev" ] || continue
	      now=$$($(KUBECTL) -n "$$ns" get deploy "$$name" -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}')
	      if [ "$$now" != "$$rev" ]; then $(KUBECTL) -n "$$ns" rollout undo "deploy/$$name" --to-revision="$$rev"; fi
	    done <"$$state"
	  else
	    for d in $$deployments; do $(KUBECTL) -n "$$ns" rollout undo "$$d"; done
	  fi
	  for d in $$deployments; do $(KUBECTL) -n "$$ns" rollout status "$$d" --timeout='$(ROLLOUT_TIMEOUT)'; done ;;
	*)
	  echo "PLATFORM must be local or k8s, not '$(PLATFORM)'" >&2; exit 2 ;;
	esac

## Operations

health-check: ## is every service healthy? PLATFORM=local (gRPC health and /ready) or k8s (freedumb healthcheck in each pod)
	@$(k8s_functions)
	case '$(PLATFORM)' in
	local)
	  bash deploy/scripts/diagnose.sh --health-only $(DIAG_ARGS) ;;
	k8s)
	  ns=$$(namespace)
	  failed=0
	  while read -r name image; do
	    case "$$image" in '$(IMAGE)'*) ;; *) continue ;; esac
	    if $(KUBECTL) -n "$$ns" exec "deploy/$$name" -- freedumb healthcheck; then echo "$$name: ready"; else echo "$$name: NOT READY"; failed=1; fi
	  done < <($(KUBECTL) -n "$$ns" get deploy -l '$(K8S_SELECTOR)' \
	    -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.spec.template.spec.containers[0].image}{"\n"}{end}')
	  exit "$$failed" ;;
	*)
	  echo "PLATFORM must be local or k8s, not '$(PLATFORM)'" >&2; exit 2 ;;
	esac

diagnose: ## health, readiness, versions, recent errors, outbox and worker lag (DIAG_ARGS: see --help)
	bash deploy/scripts/diagnose.sh $(DIAG_ARGS)

support-bundle: ## a tarball of redacted config, logs, metrics, versions and health (BUNDLE_ARGS: see --help)
	bash deploy/scripts/support-bundle.sh $(BUNDLE_ARGS)

backup: ## pg_dump every service schema of DATABASE_URL into BACKUP_DIR, then apply the retention
	bash deploy/scripts/backup.sh --dir '$(BACKUP_DIR)'

restore: ## restore BACKUP (a directory, a name or latest) into DATABASE_URL (RESTORE_ARGS=--replace)
	bash deploy/scripts/restore.sh --dir '$(BACKUP_DIR)' $(RESTORE_ARGS) '$(BACKUP)'

restore-drill: ## on a scratch database: write data, back up, wipe, restore, compare every table
	bash deploy/scripts/restore-drill.sh

load-test: build ## k6 through Envoy (mTLS, two replicas, Postgres, Redis) and the REST gateway: the highest rate at which the targets hold (LOAD_ARGS: see --help)
	FREEDUMB_BIN="$${CARGO_TARGET_DIR:-target}/release/freedumb" bash deploy/scripts/load-test.sh $(LOAD_ARGS)

check-deploy: ## every deployment check (deploy/scripts/check-*.sh)
	@for check in deploy/scripts/check-*.sh; do
	  echo "== $$check"
	  bash "$$check"
	done
