#!/usr/bin/env bash
# Installs the tools the deployment tests use, all offline once installed:
#
#   nginx            Debian's package (its service is not started): the load
#                    balancer of tests/load_balancer_test.ts
#   deploy-check     a small Go program (deploy/local/validators/deploy_check)
#                    built against compose-go, the loader of Docker Compose v2,
#                    and kustomize's krusty, the builder of `kubectl apply -k`;
#                    modules from the Go module proxy
#   .cache/venv      kubernetes-validate from PyPI: the Kubernetes API's JSON
#                    schemas bundled for each release, plus jsonschema to check
#                    custom resources against their CRDs
#   Strimzi CRDs     generated with Strimzi's own CRD generator from the
#                    io.strimzi:api classes of the release (Maven Central), the
#                    way the Strimzi build writes the CRDs it ships, and the
#                    broker settings a Kafka resource may not set (javap of the
#                    release's KafkaClusterSpec)
#   Prometheus Operator CRDs
#                    the CRD files of the github.com/prometheus-operator/
#                    prometheus-operator Go module (example/prometheus-operator-crd)
#
# Usage: deploy/local/validators.sh install   (idempotent; instant when done)
#        deploy/local/validators.sh env       (prints where each tool is)
#
# Needs: apt-get (as root or with sudo), go >= 1.26, python3 >= 3.9 with venv,
# mvn, and a Java >= 21 for Strimzi's generator (JAVA21_HOME, else JAVA_HOME,
# java on PATH or the first /usr/lib/jvm/* that is new enough).
# Everything lands in <repo>/.cache (CRDs in .cache/crds, the venv in
# .cache/venv, the rest in .cache/validators); each part is installed again
# when its inputs (versions, pom, go.mod/go.sum, requirements) change.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
SOURCES="$SCRIPT_DIR/validators"
CACHE="$ROOT/.cache"
TOOLS="$CACHE/validators"
VENV="$CACHE/venv"
CRDS="$CACHE/crds"
DEPLOY_CHECK="$TOOLS/deploy-check"

# Strimzi 1.2.0 is the release that supports Apache Kafka 4.3.1, the version
# deploy/local/kafka/pom.xml runs and the manifests name.
STRIMZI_VERSION=1.2.0
PROMETHEUS_OPERATOR_MODULE=github.com/prometheus-operator/prometheus-operator
PROMETHEUS_OPERATOR_VERSION=v0.85.0

say() { echo "validators: $*"; }
die() { echo "validators: ERROR: $*" >&2; exit 1; }

as_root() {
  if ((EUID == 0)); then "$@"; else sudo -n "$@"; fi
}

apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      --no-install-recommends "$@"
}

find_nginx() {
  command -v nginx 2>/dev/null && return 0
  [[ -x /usr/sbin/nginx ]] && { echo /usr/sbin/nginx; return 0; }
  return 1
}

# The package's postinst starts nginx on port 80 (invoke-rc.d): a policy-rc.d
# answering 101 ("forbidden") for the length of the install keeps it from
# starting, as services.sh does for prometheus; tests run their own nginx.
install_nginx() {
  find_nginx >/dev/null && return 0
  ((EUID == 0)) || command -v sudo >/dev/null || die "nginx not found; install it (apt-get install nginx-light) or run as root"
  local policy=/usr/sbin/policy-rc.d own_policy=0 ok=1
  say "nginx: installing Debian's nginx with apt-get (its service is not started) ..."
  if [[ ! -e $policy ]]; then
    own_policy=1
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
  fi
  apt_install nginx >/dev/null || ok=0
  ((own_policy)) && as_root rm -f "$policy"
  ((ok)) || die "apt-get install nginx failed"
  as_root update-rc.d nginx disable >/dev/null 2>&1 || true
  find_nginx >/dev/null || die "nginx still not found after apt-get install"
}

install_venv() {
  local want stamp="$VENV/.requirements.sha256"
  want=$(sha256sum "$SOURCES/requirements.txt" | cut -c1-64)
  [[ -f $stamp && $(<"$stamp") == "$want" ]] && return 0
  command -v python3 >/dev/null || die "python3 is required (apt-get install python3-venv)"
  say "python: installing kubernetes-validate into ${VENV#"$ROOT"/} ..."
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$SOURCES/requirements.txt" ||
    die "pip install failed"
  echo "$want" >"$stamp"
}

install_deploy_check() {
  local want stamp="$DEPLOY_CHECK.sha256"
  want=$(cat "$SOURCES"/deploy_check/{go.mod,go.sum,main.go} | sha256sum | cut -c1-64)
  [[ -x $DEPLOY_CHECK && -f $stamp && $(<"$stamp") == "$want" ]] && return 0
  command -v go >/dev/null || die "go (>= 1.26) is required to build deploy-check"
  say "go: building deploy-check (compose-go, kustomize) ..."
  mkdir -p "$TOOLS"
  (cd "$SOURCES/deploy_check" && go build -mod=readonly -trimpath -o "$DEPLOY_CHECK.tmp" .) ||
    die "go build of deploy-check failed"
  mv -f "$DEPLOY_CHECK.tmp" "$DEPLOY_CHECK"
  echo "$want" >"$stamp"
}

install_prometheus_operator_crds() {
  local dest="$CRDS/prometheus-operator" dir
  [[ -f $dest/.version && $(<"$dest/.version") == "$PROMETHEUS_OPERATOR_VERSION" ]] && return 0
  command -v go >/dev/null || die "go is required to fetch the Prometheus Operator CRDs"
  say "go: fetching the CRDs of $PROMETHEUS_OPERATOR_MODULE@$PROMETHEUS_OPERATOR_VERSION ..."
  dir=$(go mod download -json "$PROMETHEUS_OPERATOR_MODULE@$PROMETHEUS_OPERATOR_VERSION" |
    sed -nE 's/^\s*"Dir": "(.*)",?$/\1/p')
  [[ -d $dir/example/prometheus-operator-crd ]] || die "no example/prometheus-operator-crd in $dir"
  rm -rf "$dest"
  mkdir -p "$dest"
  cp "$dir"/example/prometheus-operator-crd/monitoring.coreos.com_{servicemonitors,prometheusrules}.yaml "$dest/"
  chmod 644 "$dest"/*.yaml
  echo "$PROMETHEUS_OPERATOR_VERSION" >"$dest/.version"
}

java_major() { "$1" -version 2>&1 | sed -nE '1s/.*version "([0-9]+).*/\1/p'; }

# Strimzi's classes target Java 21.
find_java21() {
  local candidate v
  for candidate in ${JAVA21_HOME:+"$JAVA21_HOME/bin/java"} ${JAVA_HOME:+"$JAVA_HOME/bin/java"} \
    "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
    [[ -x $candidate ]] || continue
    v=$(java_major "$candidate")
    [[ -n $v ]] && ((v >= 21)) && { echo "$candidate"; return 0; }
  done
  return 1
}

install_strimzi_crds() {
  local dest="$CRDS/strimzi" libs="$TOOLS/strimzi-libs" java tmp want
  want="$STRIMZI_VERSION $(sha256sum "$SOURCES/strimzi/pom.xml" | cut -c1-64)"
  [[ -f $dest/.version && $(<"$dest/.version") == "$want" ]] && return 0
  command -v mvn >/dev/null || die "mvn (Maven) is required to fetch Strimzi's API: apt-get install -y maven"
  java=$(find_java21) || die "Strimzi's CRD generator needs Java >= 21 (set JAVA21_HOME)"
  say "strimzi: generating the $STRIMZI_VERSION CRDs with io.strimzi:crd-generator ..."
  rm -rf "$libs"
  mvn -q -B -Dstyle.color=never -Dstrimzi.version="$STRIMZI_VERSION" -f "$SOURCES/strimzi/pom.xml" \
    dependency:copy-dependencies -DoutputDirectory="$libs" -DincludeScope=runtime \
    >"$TOOLS/strimzi-mvn.log" 2>&1 || {
    tail -n 30 "$TOOLS/strimzi-mvn.log" >&2
    die "mvn failed to resolve Strimzi's API (full output: ${TOOLS#"$ROOT"/}/strimzi-mvn.log)"
  }
  tmp="$dest.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # The arguments of the Strimzi build (api/pom.xml, generate-crd-co-install-v1).
  "$java" -Xmx256m -cp "$libs/*" io.strimzi.crdgenerator.CrdGenerator \
    --label app:strimzi --label strimzi.io/crd-install:true --target-kube 1.16+ \
    --crd-api-version v1 --api-versions v1 --storage-version v1 --yaml \
    "io.strimzi.api.kafka.model.kafka.Kafka=$tmp/040-Crd-kafka.yaml" \
    "io.strimzi.api.kafka.model.topic.KafkaTopic=$tmp/043-Crd-kafkatopic.yaml" \
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool=$tmp/045-Crd-kafkanodepool.yaml" \
    >"$TOOLS/strimzi-gen.log" 2>&1 || {
    tail -n 30 "$TOOLS/strimzi-gen.log" >&2
    die "Strimzi's CRD generator failed"
  }
  # The broker settings a Kafka resource may not set (the operator drops
  # them), as the release's KafkaClusterSpec declares them.
  "$(dirname "$java")/javap" -cp "$libs/*" -constants io.strimzi.api.kafka.model.kafka.KafkaClusterSpec |
    sed -nE 's/.* (FORBIDDEN_PREFIXES|FORBIDDEN_PREFIX_EXCEPTIONS) = "(.*)";$/\1=\2/p' \
      >"$tmp/kafka-config-rules.properties"
  [[ $(wc -l <"$tmp/kafka-config-rules.properties") -eq 2 ]] ||
    die "could not read KafkaClusterSpec's forbidden prefixes with javap"
  echo "$want" >"$tmp/.version"
  rm -rf "$dest"
  mv "$tmp" "$dest"
}

install() {
  mkdir -p "$TOOLS" "$CRDS"
  # Parallel test files may install at once: one installer at a time.
  exec 8>"$TOOLS/install.lock"
  flock -w 900 8 || die "timed out waiting for ${TOOLS#"$ROOT"/}/install.lock"
  install_nginx
  install_venv
  install_deploy_check
  install_prometheus_operator_crds
  install_strimzi_crds
  exec 8>&-
}

case ${1:-} in
  install) install; say "install: done" ;;
  env)
    echo "NGINX=$(find_nginx || echo missing)"
    echo "DEPLOY_CHECK=$DEPLOY_CHECK"
    echo "PYTHON=$VENV/bin/python"
    echo "CRDS=$CRDS"
    ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' ;;
  *) die "usage: $0 install|env" ;;
esac
