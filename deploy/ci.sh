#!/usr/bin/env bash
# CI for deploy/: the manifest/scope, Dockerfile, compose and README tests,
# a build with the Dockerfile's exact flags, and `helm lint` plus the tests
# on the rendered chart. Called from .ci/run; runs from any directory.
#
# Helm comes from the Go module proxy (no other download is possible on CI)
# and is cached in $OPSBOT_TOOLS (default ~/.cache/opsbot-tools).
set -euo pipefail
cd "$(dirname "$0")/.."

helm_version=v3.22.0
tools=${OPSBOT_TOOLS:-$HOME/.cache/opsbot-tools}
helm="$tools/helm-$helm_version"
if [ ! -x "$helm" ]; then
  echo "deploy/ci.sh: building helm $helm_version from the Go module proxy"
  mkdir -p "$tools"
  bin=$(mktemp -d)
  GOFLAGS=-buildvcs=false GOBIN="$bin" go install "helm.sh/helm/v3/cmd/helm@$helm_version"
  mv "$bin/helm" "$helm"
  rmdir "$bin"
fi

# The Dockerfile, through BuildKit's parser and build checks (no engine
# needed); a separate module keeps BuildKit out of opsbot's dependencies.
(cd deploy/dockerfile-lint && GOFLAGS=-buildvcs=false go run . ../Dockerfile)

chart=deploy/helm/opsbot
"$helm" lint --strict "$chart" -f "$chart/ci/lint-values.yaml"
"$helm" template opsbot "$chart" -f "$chart/ci/lint-values.yaml" >/dev/null

# The example config of compose.yaml and the chart's rendered ConfigMaps
# must pass the binary's own validation.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/opsbot" ./cmd/opsbot
"$work/opsbot" validate --config deploy/opsbot.yaml --runbooks runbooks/examples
"$work/opsbot" validate --config deploy/opsbot.sentinel.yaml --runbooks runbooks/examples

OPSBOT_HELM="$helm" OPSBOT_BIN="$work/opsbot" OPSBOT_BUILD_CHECK=1 go test -race -count=1 -v ./deploy
