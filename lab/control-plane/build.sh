#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and kubectl (the lab applies `kubectl kustomize`
# output) for the lab from the Go module proxy. A binary already in <output dir> is kept, so adding a
# command to the list builds only that one.
#
# `go install k8s.io/kubernetes/cmd/...@vX` is refused because k8s.io/kubernetes replaces its
# staging modules (k8s.io/api, k8s.io/client-go, ...) with local paths at v0.0.0. A throwaway
# wrapper module requires k8s.io/kubernetes and pins every such staging module to the published
# v0.<minor>.<patch> that matches, then builds both commands.
#
# Usage: build.sh <kubernetes version, e.g. v1.34.4> <output dir>
# The binaries land in <output dir>; nothing is written inside the repository.
set -euo pipefail

version=${1:?usage: build.sh <kubernetes version> <output dir>}
out=${2:?usage: build.sh <kubernetes version> <output dir>}
[[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "build.sh: version must look like v1.34.4, got '$version'" >&2; exit 2; }
minor=${BASH_REMATCH[1]}
staging_version="v0.$minor.${BASH_REMATCH[2]}"

command -v go >/dev/null || { echo "build.sh: Go is required to build the lab's kube-apiserver (install Go >= 1.24)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

go mod init bgswitch.local/lab-control-plane >/dev/null 2>&1
upstream_mod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
[[ -f $upstream_mod ]] || { echo "build.sh: could not download k8s.io/kubernetes@$version" >&2; exit 1; }

# Every staging module is listed in upstream go.mod at v0.0.0 and replaced by ./staging/...
mapfile -t staging < <(sed -n 's/^[[:space:]]*\(k8s\.io\/[a-z0-9-]*\) v0\.0\.0$/\1/p' "$upstream_mod" | sort -u)
{
  echo "module bgswitch.local/lab-control-plane"
  echo
  sed -n 's/^go \(.*\)$/go \1/p' "$upstream_mod"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  echo "replace ("
  for module in "${staging[@]}"; do echo "	$module => $module $staging_version"; done
  echo ")"
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO

echo "build.sh: resolving modules for k8s.io/kubernetes $version (${#staging[@]} staging modules at $staging_version)" >&2
go mod tidy -e >/dev/null 2>&1 || true
go get "k8s.io/kubernetes@$version" >/dev/null
# Stamp the version the way Kubernetes' own build does, so /version reports it (not v0.0.0-master).
version_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  version_ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
mkdir -p "$out"
for cmd in kube-apiserver kube-controller-manager kubectl; do
  [[ -x $out/$cmd ]] && { echo "build.sh: $cmd already built" >&2; continue; }
  # The progress display (lab/control.ts) counts the packages `go build -v` names against this total.
  packages=$(go list -tags tools -deps "k8s.io/kubernetes/cmd/$cmd" 2>/dev/null | wc -l || true)
  echo "build.sh: building $cmd ($packages packages)" >&2
  go build -v -tags tools -trimpath -ldflags "-s -w$version_ldflags" -o "$out/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
  mv "$out/$cmd.tmp" "$out/$cmd"
done
echo "build.sh: built into $out" >&2
