#!/usr/bin/env bash
# Start/stop real Apache Kafka (KRaft, no ZooKeeper) and nats-server for local
# development and tests. No Docker: Kafka's jars come from Maven Central (see
# deploy/local/kafka/pom.xml), nats-server from Debian's apt.
#
# Usage: deploy/local/services.sh COMMAND [--kafka-brokers 1|3] [--node N]
#          [--state-dir DIR] [--base-port P] [--nats-port P] [--secure]
#
#   install       fetch Kafka jars into .cache/kafka/libs and apt-install
#                 nats-server and promtool (prometheus, service not started)
#                 if missing (idempotent, instant when done)
#   start         install if needed, start Kafka + NATS, wait until ready
#   stop          stop whatever this script started (Kafka + NATS)
#   status        show what is up; exit 0 only if Kafka and NATS both answer
#   start-kafka / stop-kafka / start-nats / stop-nats
#                 one service only (used by fault tests). Restarting Kafka
#                 reuses its data dir: storage is only formatted once.
#                 With --node N only that node of a 3-broker cluster.
#   kill9 --node N     SIGKILL one Kafka node (a crash: no controlled
#                 shutdown, no flush) and wait until it is gone
#   sigstop --node N / sigcont --node N
#                 freeze / thaw one Kafka node (a hung broker: its sockets
#                 stay open, nothing answers)
#   pid --node N  print the pid of one Kafka node started by this script
#   controller    print the node id of the active KRaft controller (the
#                 quorum leader with the highest epoch that a live node
#                 recorded in its quorum-state file)
#   env           print KAFKA_BOOTSTRAP_SERVERS=... and NATS_URL=... lines;
#                 secured, also the credentials (KAFKA_SASL_MECHANISM,
#                 KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD_FILE,
#                 KAFKA_SSL_CA_FILE, NATS_USER, NATS_PASSWORD_FILE,
#                 NATS_CREDS_FILE, NATS_TLS_CA_FILE, and HTTP_TLS_CERT_FILE
#                 and HTTP_TLS_KEY_FILE for a gateway's HTTPS: the gateway's
#                 settings of the same names, prefixed TASTESYNC_)
#   kafka-topics ARGS...   run Kafka's TopicCommand against the local cluster
#                 (secured: logged in as "tastesync" over TLS)
#   kafka-run CLASS ARGS...  run any class from the Kafka jars (CLI tools;
#                 secured: <state dir>/secrets/client.properties holds the
#                 settings of a client)
#   clean         stop, then delete Kafka data, NATS store and logs (keeps jars)
#
# Kafka: one combined broker+controller on 127.0.0.1:9092 (controller 9093)
# by default; with --kafka-brokers 3 (or KAFKA_BROKERS=3) three combined nodes
# on 9092/9094/9096 (controllers 9093/9095/9097), replication factor 3,
# min.insync.replicas 2, unclean leader election off.
# NATS: 127.0.0.1:4222, monitoring on http://127.0.0.1:8222, JetStream on.
# A service that already listens on its port but was not started by this
# script is reused and never stopped.
#
# A second, independent set of services (e.g. the chaos suite's 3-node
# cluster next to the 1-broker services other test runs use) needs its own
# state and ports: --state-dir DIR (SERVICES_STATE_DIR; default <repo>/.cache),
# --base-port P (KAFKA_BASE_PORT; node n listens on P+2(n-1), its controller
# on P+2(n-1)+1; default 9092), --nats-port P (NATS_PORT; monitoring on
# P+4000; default 4222). The ports are remembered in the state dir, so later
# commands on the same --state-dir need only that option. Kafka's jars are
# shared (<repo>/.cache/kafka/libs).
#
# Secured mode (--secure, SERVICES_SECURE=1): Kafka and NATS with
# authentication and TLS, next to the plain services: state in
# <repo>/.cache/secure, Kafka on 19192 (controller 19193), NATS on 14322
# (monitoring on plain HTTP, 18322) unless --state-dir/--base-port/
# --nats-port say otherwise; the state dir remembers that it is secured.
# Kafka's only client listener is SASL_SSL with SCRAM-SHA-512 (users
# "tastesync" for clients and "broker" between brokers, both created when the
# storage is formatted); its controller listener is TLS with client
# certificates required. nats-server requires TLS and either the user
# "tastesync" with a password or the nkey of the credentials file
# tastesync.creds. A local CA, the server's certificate (127.0.0.1 and
# localhost, made with openssl) and random passwords are made once per state
# dir in <state dir>/secrets; `env` prints where they are.
#
# Failure detection of the 3-node cluster (how long a dead or hung leader's
# partitions wait for a new leader). A broker that misses heartbeats to the
# active controller for broker.session.timeout.ms is fenced: it leaves every
# ISR and its partitions get new leaders. A dead active controller is noticed
# by the other voters after controller.quorum.fetch.timeout.ms, and a new one
# is elected within controller.quorum.election.timeout.ms (plus a random
# backoff up to controller.quorum.election.backoff.max.ms). Kafka's defaults
# (session 9 s, heartbeat 2 s, fetch 2 s, election 1 s) mean up to ~9 s with
# no writes on a dead leader's partitions, ~12 s when it was also the
# controller. Here: heartbeat KAFKA_HEARTBEAT_MS (default 100), session
# KAFKA_SESSION_TIMEOUT_MS (default 500), fetch timeout
# KAFKA_QUORUM_FETCH_TIMEOUT_MS (default 1000), election timeout
# KAFKA_QUORUM_ELECTION_TIMEOUT_MS (default 500), replica.lag.time.max.ms
# KAFKA_REPLICA_LAG_MS (default 5000). The trade-off: a broker that stalls
# longer than the session timeout (a GC pause, a starved CPU, a slow disk)
# is fenced although healthy, and its leaderships move away and back; each
# such flap costs its partitions about the same short pause. That is cheap on
# a development machine; production picks larger values (see README,
# "Failure handling").
#
# Environment: KAFKA_BROKERS (1|3), SERVICES_STATE_DIR, KAFKA_BASE_PORT,
# NATS_PORT, SERVICES_SECURE (1|0), the failure-detection variables above, KAFKA_HEAP_OPTS (default -Xmx512m -Xms128m),
# KAFKA_JVM_OPTS (extra broker JVM flags, default -XX:TieredStopAtLevel=1),
# KAFKA_CDS (1|0: class-data-sharing archive for faster JVM start, default 1),
# KAFKA_START_TIMEOUT (s, default 90), KAFKA_NICE (lower the brokers' CPU
# weight by this nice value, default none: see "Chaos suite" in the README),
# NATS_JETSTREAM (1|0, default 1),
# STOP_TIMEOUT (s before SIGKILL, default 40), JAVA_HOME (Java >= 17),
# DENO (the deno binary the secured mode writes NATS credentials with,
# default deno).
#
# State lives in the state dir (<repo>/.cache): kafka/data-* (log dirs),
# kafka/*.log, kafka/*.pid, ports, nats/{nats.log,nats.pid,jetstream},
# secrets (secured mode); the jars in <repo>/.cache/kafka/libs.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
KAFKA_LIBS="$ROOT/.cache/kafka/libs"
KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
KAFKA_LOG4J="$SCRIPT_DIR/kafka/log4j2.properties"
KAFKA_TOOLS_LOG4J="$SCRIPT_DIR/kafka/log4j2-tools.properties"
# CACHE (the state dir), KAFKA_HOME, NATS_HOME, KAFKA_MODE_FILE and the ports
# are set once the options are parsed (see the end of the script).

KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m}"
# C1 only (no C2): brokers reach "started" 2-3x faster on 2 shared cores and
# burn less CPU JIT-compiling while tests run; a dev/test broker is I/O
# bound anyway. KAFKA_JVM_OPTS="" (set but empty) restores full JIT.
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS--XX:TieredStopAtLevel=1}"
KAFKA_CDS="${KAFKA_CDS:-1}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_NICE="${KAFKA_NICE:-}"
NATS_START_TIMEOUT="${NATS_START_TIMEOUT:-20}"
NATS_JETSTREAM="${NATS_JETSTREAM:-1}"
STOP_TIMEOUT="${STOP_TIMEOUT:-40}"
KAFKA_HEARTBEAT_MS="${KAFKA_HEARTBEAT_MS:-100}"
KAFKA_SESSION_TIMEOUT_MS="${KAFKA_SESSION_TIMEOUT_MS:-500}"
KAFKA_QUORUM_FETCH_TIMEOUT_MS="${KAFKA_QUORUM_FETCH_TIMEOUT_MS:-1000}"
KAFKA_QUORUM_ELECTION_TIMEOUT_MS="${KAFKA_QUORUM_ELECTION_TIMEOUT_MS:-500}"
KAFKA_REPLICA_LAG_MS="${KAFKA_REPLICA_LAG_MS:-5000}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
DENO="${DENO:-deno}"

say() { echo "services: $*"; }
warn() { echo "services: $*" >&2; }
die() { echo "services: ERROR: $*" >&2; exit 1; }

now_ms() { date +%s%3N; }
elapsed() { local ms=$(($(now_ms) - $1)); printf '%d.%01ds' $((ms / 1000)) $((ms % 1000 / 100)); }

# True if something accepts TCP connections on 127.0.0.1:$1. Uses bash's
# /dev/tcp so it needs neither nc nor ss; a refused loopback connect is instant.
port_open() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True while process $1 runs. A killed daemon stays a zombie until init
# reaps it (which can take seconds), and a zombie holds no ports or files.
running() {
  local state
  state=$(sed -E 's/^[0-9]+ \(.*\) (.).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ $state != Z && $state != X ]]
}

# Prints the pid recorded in pid file $1 if that process is still alive AND is
# still the one we started (its command line contains $2), so a recycled pid
# never makes us "reuse" or kill an unrelated process.
live_pid() {
  local pidfile=$1 marker=$2 pid
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  running "$pid" || return 1
  if [[ -r /proc/$pid/cmdline ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker" || return 1
  fi
  echo "$pid"
}

# Runs "$@" detached: own session (so Ctrl-C / SIGHUP to the caller's process
# group doesn't reach it), stdin from /dev/null and stdout/stderr into $2 so
# callers that capture our output (e.g. Deno.Command with piped stdout) are
# not kept waiting for EOF by the daemon. fd 9 (our flock) is closed so the
# daemon does not hold the lock forever. The pid file is written by the
# process itself right before exec, so it is the daemon's real pid even if
# setsid had to fork.
spawn() {
  local pidfile=$1 logfile=$2 what=${3##*/}
  shift 2
  rm -f "$pidfile"
  # SPAWN_NICE lowers the daemon's CPU weight: its own nice, and its session's
  # autogroup's (with kernel.sched_autogroup_enabled, nice only ranks tasks
  # within one session, and the daemon's session is new).
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner bash
  setsid bash -c 'echo $$ >"$0"
    if [[ -n ${SPAWN_NICE:-} ]]; then
      echo "$SPAWN_NICE" 2>/dev/null >/proc/self/autogroup || true
      renice -n "$SPAWN_NICE" -p $$ >/dev/null 2>&1 || true
    fi
    exec "$@"' "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 9>&- &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.1
  done
  die "could not start $what (no pid file $pidfile)"
}

# Keep the previous run's log next to the new one: fault tests restart
# services and the log of the run before is what one wants to read then.
rotate_log() { [[ -f $1 ]] && mv -f "$1" "$1.prev"; : >"$1"; }

# Sends SIGTERM to all given pids at once, waits for them to exit, SIGKILLs
# stragglers after STOP_TIMEOUT. All at once matters for a 3-node KRaft
# cluster: each node first does a controlled broker shutdown that needs the
# controller quorum, so stopping them one by one would leave the last node
# waiting for a quorum that is already gone. Even so, stopping a whole
# 3-node cluster takes ~7 s: the Raft leader waits a fixed 5 s to hand over
# leadership to a successor that is shutting down too.
KILLED=0
terminate() {
  local pids=("$@") pid deadline alive
  kill -TERM "${pids[@]}" 2>/dev/null || true
  deadline=$(($(date +%s) + STOP_TIMEOUT))
  while :; do
    alive=()
    for pid in "${pids[@]}"; do running "$pid" && alive+=("$pid"); done
    ((${#alive[@]} == 0)) && return 0
    if (($(date +%s) >= deadline)); then
      warn "pid(s) ${alive[*]} still running after ${STOP_TIMEOUT}s, sending SIGKILL"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      KILLED=1
      sleep 0.5
      return 0
    fi
    sleep 0.1
  done
}

wait_ports_free() {
  local port i
  for port in "$@"; do
    for ((i = 0; i < 100; i++)); do
      port_open "$port" || continue 2
      sleep 0.1
    done
    die "port $port is still in use after stopping"
  done
}

with_lock() {
  # Tests may call start/stop concurrently (parallel test files): serialize.
  mkdir -p "$CACHE"
  exec 9>"$CACHE/services.lock"
  flock -w 600 9 || die "timed out waiting for $CACHE/services.lock"
}

# ---------------------------------------------------------------- install

install_kafka() {
  # The stamp is the pom's hash, so editing the pom (e.g. a version bump)
  # re-resolves, and an interrupted download (no stamp) is retried.
  local want stamp="$KAFKA_LIBS/.pom.sha256" tmp shared=${KAFKA_LIBS%/libs}
  want=$(sha256sum "$KAFKA_POM" | cut -c1-64)
  [[ -f $stamp && $(<"$stamp") == "$want" ]] && return 0
  # The jars are shared by every state dir: one installer at a time.
  mkdir -p "$shared"
  exec 8>"$shared/install.lock"
  flock -w 600 8 || die "timed out waiting for $shared/install.lock"
  if [[ -f $stamp && $(<"$stamp") == "$want" ]]; then exec 8>&-; return 0; fi
  command -v mvn >/dev/null || die "mvn (Maven) is required to fetch Kafka: apt-get install -y maven"
  say "kafka: resolving jars from Maven Central into ${KAFKA_LIBS#"$ROOT"/} ..."
  tmp="$shared/libs.tmp.$$"
  rm -rf "$tmp"
  # Output goes to a file (shown on failure): even with -q, Maven 3.8 emits
  # stray ANSI escapes that would end up in test logs.
  if ! mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
    -DoutputDirectory="$tmp" -DincludeScope=runtime >"$shared/mvn.log" 2>&1 8>&- 9>&-; then
    tail -n 40 "$shared/mvn.log" >&2
    rm -rf "$tmp"
    die "mvn failed to resolve Kafka jars (full output: ${shared#"$ROOT"/}/mvn.log)"
  fi
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  echo "$want" >"$stamp"
  exec 8>&-
  say "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars installed"
}

# Debian installs it to /usr/sbin, which is not on a normal user's PATH.
find_nats() {
  command -v nats-server 2>/dev/null && return 0
  local p
  for p in /usr/sbin/nats-server /usr/local/bin/nats-server /usr/local/sbin/nats-server; do
    [[ -x $p ]] && { echo "$p"; return 0; }
  done
  return 1
}

install_nats() {
  find_nats >/dev/null && return 0
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "nats-server not found; install it (apt-get install nats-server) or run as root"
    sudo=(sudo -n)
  fi
  say "nats: installing nats-server with apt-get ..."
  # Note: on a host running systemd the Debian package also enables and starts
  # a nats-server service on 127.0.0.1:4222; `start` then simply reuses it.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq 9>&- ||
    die "apt-get update failed"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nats-server 9>&- ||
    die "apt-get install nats-server failed"
  find_nats >/dev/null || die "nats-server still not found after apt-get install"
}

# promtool (Debian's prometheus package) lints the gateway's /metrics in tests.
# The package's postinst starts a prometheus daemon (invoke-rc.d or
# deb-systemd-invoke): a policy-rc.d answering 101 ("forbidden") for the
# length of the install keeps it from starting (an existing policy-rc.d is
# left as it is), and the service is disabled so no boot starts it either.
install_promtool() {
  command -v promtool >/dev/null && return 0
  local sudo=() policy=/usr/sbin/policy-rc.d own_policy=0 ok=1
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "promtool not found; install it (apt-get install prometheus) or run as root"
    sudo=(sudo -n)
  fi
  say "promtool: installing Debian's prometheus package with apt-get (its service is not started) ..."
  if [[ ! -e $policy ]]; then
    own_policy=1
    trap "${sudo[*]} rm -f $policy" EXIT
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq 9>&- &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus 9>&- ||
    ok=0
  if ((own_policy)); then
    "${sudo[@]}" rm -f "$policy"
    trap - EXIT
  fi
  ((ok)) || die "apt-get install prometheus failed"
  "${sudo[@]}" update-rc.d prometheus disable >/dev/null 2>&1 || true
  command -v promtool >/dev/null || die "promtool still not found after apt-get install prometheus"
}

check_java() {
  command -v "$JAVA" >/dev/null || die "java not found (Kafka 4.x needs Java >= 17; set JAVA_HOME)"
  local v
  v=$("$JAVA" -version 2>&1 | sed -nE '1s/.*version "([0-9]+).*/\1/p')
  [[ -n $v && $v -ge 17 ]] || die "Kafka 4.x needs Java >= 17, '$JAVA' is version '${v:-unknown}' (set JAVA_HOME)"
}

kafka_java() {
  # Java expands the classpath wildcard itself; it must reach it unexpanded.
  "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$KAFKA_TOOLS_LOG4J" -cp "$KAFKA_LIBS/*" "$@"
}

# ---------------------------------------------------------------- secured mode

# 24 letters and digits: nothing to quote in a JAAS line or a nats-server config.
random_password() { head -c 18 /dev/urandom | base64 | tr '+/' 'Zz'; }

# The secured mode's CA, server certificate, passwords and NATS credentials,
# made once per state dir. Kafka's SCRAM users are formatted into its storage
# with these passwords, so they must outlive the storage: `clean` removes both.
make_secrets() {
  [[ -d $SECRETS ]] && return 0
  compgen -G "$KAFKA_HOME/data-*/meta.properties" >/dev/null &&
    die "$SECRETS is gone but Kafka's storage (formatted with its passwords) is not; run '$0 clean --state-dir $CACHE'"
  command -v openssl >/dev/null || die "openssl is required by the secured mode (apt-get install openssl)"
  command -v "$DENO" >/dev/null || die "deno is required by the secured mode to write NATS credentials (set DENO)"
  local tmp="$SECRETS.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  chmod 700 "$tmp"
  # EC P-256 keys: quick to make, and read by Java (PEM key store), Go and rustls.
  # The server certificate also serves as the nodes' client certificate on the
  # controller listener.
  if ! (
    cd "$tmp"
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj "/CN=TasteSync local CA" -keyout ca.key -out ca.pem
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
      -keyout server.key -out server.csr
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.pem
    cat server.key server.pem >server-keystore.pem
    random_password >kafka-broker.password
    random_password >kafka-client.password
    random_password >nats.password
    (cd "$ROOT" && "$DENO" run --frozen --allow-write="$tmp" deploy/local/nats_creds.ts \
      "$tmp/tastesync.creds" >"$tmp/tastesync.nkey")
    cat >client.properties <<EOF
# A Kafka CLI client of the secured services (kafka-run ... --command-config this file).
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="tastesync" password="$(<kafka-client.password)";
ssl.truststore.type=PEM
ssl.truststore.location=$SECRETS/ca.pem
EOF
  ) >"$tmp.log" 2>&1; then
    cat "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    die "could not make the secured mode's certificates and credentials"
  fi
  rm -f "$tmp.log" "$tmp/server.csr" "$tmp/server.ext" "$tmp/ca.srl"
  mv "$tmp" "$SECRETS"
  say "secrets: made a CA, a certificate for 127.0.0.1/localhost and credentials in ${SECRETS#"$ROOT"/}"
}

# nats-server's config in the secured mode: TLS required, and a user with a
# password or the nkey of tastesync.creds.
write_nats_config() {
  (
    umask 077
    cat >"$NATS_HOME/nats.conf" <<EOF
# Generated by deploy/local/services.sh --secure - do not edit, edit the script.
tls {
  cert_file: "$SECRETS/server.pem"
  key_file: "$SECRETS/server.key"
}
authorization {
  users: [
    { user: "tastesync", password: "$(<"$SECRETS/nats.password")" }
    { nkey: "$(<"$SECRETS/tastesync.nkey")" }
  ]
}
EOF
  )
}

# ---------------------------------------------------------------- kafka

# Layout of node $2 (1-based) in a cluster of $1 nodes. Single and 3-node
# mode use different data dirs: a KRaft log dir is bound to its cluster id
# and quorum, so the two shapes can't share one.
kafka_node() {
  local brokers=$1 n=$2 tag
  if ((brokers == 1)); then tag=single; else tag=cluster-n$n; fi
  NODE_PORT=$((KAFKA_BASE_PORT + 2 * (n - 1)))
  NODE_CTRL_PORT=$((NODE_PORT + 1))
  NODE_DATA="$KAFKA_HOME/data-$tag"
  NODE_CONF="$KAFKA_HOME/config/$tag.properties"
  NODE_LOG="$KAFKA_HOME/$tag.log"
  NODE_PID="$KAFKA_HOME/$tag.pid"
}

kafka_bootstrap() {
  local brokers=$1 n out=()
  for ((n = 1; n <= brokers; n++)); do out+=("127.0.0.1:$((KAFKA_BASE_PORT + 2 * (n - 1)))"); done
  local IFS=,
  echo "${out[*]}"
}

# Which shape to use: --kafka-brokers / KAFKA_BROKERS, else the shape that was
# last started (so stop-kafka + start-kafka restore a 3-node cluster), else 1.
kafka_brokers() {
  local b=${OPT_BROKERS:-${KAFKA_BROKERS:-}}
  if [[ -z $b && -s $KAFKA_MODE_FILE ]]; then b=$(<"$KAFKA_MODE_FILE"); fi
  b=${b:-1}
  [[ $b == 1 || $b == 3 ]] || die "--kafka-brokers/KAFKA_BROKERS must be 1 or 3 (got '$b')"
  echo "$b"
}

# All Kafka nodes this script started and that are still alive, any shape.
our_kafka_pids() {
  local f pid
  for f in "$KAFKA_HOME"/*.pid; do
    [[ -e $f ]] || continue
    pid=$(live_pid "$f" "$KAFKA_HOME/config/") && echo "$pid"
  done
  return 0
}

write_kafka_config() {
  local brokers=$1 n=$2 voters="" i rf min_isr client=PLAINTEXT controller=PLAINTEXT
  [[ $SECURE == 1 ]] && client=SASL_SSL controller=SSL
  for ((i = 1; i <= brokers; i++)); do
    voters+="${voters:+,}$i@127.0.0.1:$((KAFKA_BASE_PORT + 1 + 2 * (i - 1)))"
  done
  if ((brokers >= 3)); then rf=3 min_isr=2; else rf=1 min_isr=1; fi
  kafka_node "$brokers" "$n"
  mkdir -p "$(dirname "$NODE_CONF")"
  # Regenerated on every start (deterministic), so edits here apply to
  # existing data dirs too. Static controller.quorum.voters rather than the
  # 4.x dynamic quorum: same shape every time, and formatting then needs no
  # --standalone/--initial-controllers coordination between nodes.
  cat >"$NODE_CONF" <<EOF
# Generated by deploy/local/services.sh - do not edit, edit the script.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=$client://127.0.0.1:$NODE_PORT,CONTROLLER://127.0.0.1:$NODE_CTRL_PORT
advertised.listeners=$client://127.0.0.1:$NODE_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=$client
listener.security.protocol.map=$client:$client,CONTROLLER:$controller
log.dirs=$NODE_DATA

num.partitions=3
default.replication.factor=$rf
min.insync.replicas=$min_isr
auto.create.topics.enable=false
delete.topic.enable=true

# Internal topics: replicated like user topics, and fewer partitions than the
# default 50 so the first consumer group / transaction / share group doesn't
# spend seconds creating them.
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr
share.coordinator.state.topic.num.partitions=10

# Tests: no 3 s wait before the first consumer group rebalance.
group.initial.rebalance.delay.ms=0

# The gateway writes each batch in a transaction. One left open by a killed
# gateway holds back read_committed readers of its partition until it times
# out (the gateway's publish timeout, 5 s): look for such every second, not 10.
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000

# 2 shared cores: fewer threads than the production defaults (3 and 8).
num.network.threads=2
num.io.threads=4
background.threads=4
log.cleaner.threads=1
EOF
  if [[ $SECURE == 1 ]]; then
    chmod 600 "$NODE_CONF"
    cat >>"$NODE_CONF" <<EOF

# Secured mode: clients and brokers log in with SCRAM-SHA-512 over TLS; the
# controller listener takes only TLS clients with a certificate of the local
# CA (the nodes themselves).
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$(<"$SECRETS/kafka-broker.password")";
listener.name.controller.ssl.client.auth=required
ssl.keystore.type=PEM
ssl.keystore.location=$SECRETS/server-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$SECRETS/ca.pem
EOF
  fi
  ((brokers >= 3)) || return 0
  cat >>"$NODE_CONF" <<EOF

# Replicated: an acknowledged write is on at least 2 of the 3 nodes, and a
# replica that was not in sync never becomes leader (it could lack acked
# records).
unclean.leader.election.enable=false

# Failure detection, lower than Kafka's defaults (see the header of
# deploy/local/services.sh and README, "Failure handling"): a dead or hung
# node is fenced, and its partitions get new leaders, after the session
# timeout; a dead active controller is replaced after the quorum fetch
# timeout plus an election. A node stalled longer than the session timeout
# is fenced although healthy.
broker.heartbeat.interval.ms=$KAFKA_HEARTBEAT_MS
broker.session.timeout.ms=$KAFKA_SESSION_TIMEOUT_MS
controller.quorum.fetch.timeout.ms=$KAFKA_QUORUM_FETCH_TIMEOUT_MS
controller.quorum.election.timeout.ms=$KAFKA_QUORUM_ELECTION_TIMEOUT_MS
controller.quorum.election.backoff.max.ms=$KAFKA_QUORUM_ELECTION_TIMEOUT_MS
replica.lag.time.max.ms=$KAFKA_REPLICA_LAG_MS
EOF
}

format_kafka_storage() {
  # Only nodes without meta.properties are formatted; an existing data dir is
  # never touched, which is what lets stop-kafka/start-kafka keep topics.
  local brokers=$1 n cluster_id="" todo=() pids=() pid scram=()
  for ((n = 1; n <= brokers; n++)); do
    kafka_node "$brokers" "$n"
    if [[ -f $NODE_DATA/meta.properties ]]; then
      [[ -n $cluster_id ]] || cluster_id=$(sed -n 's/^cluster\.id=//p' "$NODE_DATA/meta.properties")
    else
      todo+=("$n")
    fi
  done
  ((${#todo[@]} > 0)) || return 0
  if [[ -z $cluster_id ]]; then
    # Same format as `kafka-storage random-uuid` (URL-safe base64 of 16
    # random bytes, no padding, must not start with '-'), without a JVM.
    while [[ -z $cluster_id || $cluster_id == -* ]]; do
      cluster_id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    done
  fi
  # KRaft keeps SCRAM credentials in its metadata log: the first ones are
  # written at format time, which is what lets brokers log in to each other.
  if [[ $SECURE == 1 ]]; then
    scram=(--add-scram "SCRAM-SHA-512=[name=broker,password=$(<"$SECRETS/kafka-broker.password")]"
      --add-scram "SCRAM-SHA-512=[name=tastesync,password=$(<"$SECRETS/kafka-client.password")]")
  fi
  # In 4.x the storage tool still lives in the core (Scala) jar as
  # kafka.tools.StorageTool, not in kafka-tools.
  for n in "${todo[@]}"; do
    kafka_node "$brokers" "$n"
    kafka_java kafka.tools.StorageTool format --cluster-id "$cluster_id" \
      --config "$NODE_CONF" "${scram[@]}" >"$KAFKA_HOME/format-$n.out" 2>&1 9>&- &
    pids+=($!)
  done
  local i=0
  for pid in "${pids[@]}"; do
    n=${todo[$i]}
    i=$((i + 1))
    if ! wait "$pid"; then
      cat "$KAFKA_HOME/format-$n.out" >&2
      die "formatting Kafka storage for node $n failed"
    fi
    rm -f "$KAFKA_HOME/format-$n.out"
  done
  say "kafka: formatted storage for node(s) ${todo[*]} (cluster id $cluster_id)"
}

start_kafka() {
  local brokers only=${OPT_NODE:-} n pid t0 started=() ours=() f
  brokers=$(kafka_brokers)
  t0=$(now_ms)

  # Something already on our first port that isn't ours: reuse it, whatever it is.
  kafka_node "$brokers" 1
  if port_open "$NODE_PORT" && ! live_pid "$NODE_PID" "$NODE_CONF" >/dev/null; then
    if [[ -z $(our_kafka_pids) ]]; then
      say "kafka: reusing broker already listening on 127.0.0.1:$NODE_PORT (not started by services.sh; will not stop it)"
      return 0
    fi
  fi
  # Refuse to mix shapes: a node of the other shape would hold our ports.
  for f in "$KAFKA_HOME"/*.pid; do
    [[ -e $f ]] || continue
    local tag=${f##*/}
    tag=${tag%.pid}
    if live_pid "$f" "$KAFKA_HOME/config/" >/dev/null; then
      if { ((brokers == 1)) && [[ $tag != single ]]; } || { ((brokers == 3)) && [[ $tag == single ]]; }; then
        die "Kafka is running in the other shape ($tag); run '$0 stop-kafka' first"
      fi
    fi
  done

  install_kafka
  check_java
  mkdir -p "$KAFKA_HOME"
  [[ $SECURE == 1 ]] && make_secrets
  if [[ -n $only ]]; then
    ((only >= 1 && only <= brokers)) || die "--node must be between 1 and $brokers"
  fi
  # All nodes' configs, even with --node: formatting below may need them.
  for ((n = 1; n <= brokers; n++)); do write_kafka_config "$brokers" "$n"; done
  format_kafka_storage "$brokers"
  echo "$brokers" >"$KAFKA_MODE_FILE"

  # Class-data sharing (AppCDS) roughly halves the JVM's start-up (class
  # loading of ~50 jars dominates it, worse with 3 JVMs on 2 cores). Java 17
  # can only write a dynamic archive when a JVM exits, so the first broker
  # started without an archive writes kafka.jsa.new when it is stopped, and
  # the next start, once none of our brokers runs, promotes it. It lives in
  # libs/, so re-resolving the jars drops it; a JDK change just makes the JVM
  # ignore it. A half-written archive (JVM killed while dumping) is deleted
  # by stop, and an invalid one is ignored by the JVM.
  local cds=() jsa="$KAFKA_LIBS/kafka.jsa" idle=0
  # Only the default state dir writes the archive: another state dir's
  # brokers are invisible here and could be writing or reading it.
  [[ -z $(our_kafka_pids) && $CACHE == "$ROOT/.cache" ]] && idle=1
  if [[ $KAFKA_CDS == 1 ]]; then
    if ((idle)) && [[ -f $jsa.new ]]; then
      if (($(stat -c %s "$jsa.new") > 1000000)); then mv -f "$jsa.new" "$jsa"; else rm -f "$jsa.new"; fi
    fi
    if [[ -f $jsa ]]; then
      cds=("-XX:SharedArchiveFile=$jsa")
    elif ((idle)); then
      cds=("-XX:ArchiveClassesAtExit=$jsa.new")
    fi
  fi

  # Start all missing nodes before waiting for any: in 3-node mode no node
  # can finish starting until a controller majority is up.
  for ((n = 1; n <= brokers; n++)); do
    [[ -n $only && $n != "$only" ]] && continue
    kafka_node "$brokers" "$n"
    if pid=$(live_pid "$NODE_PID" "$NODE_CONF"); then
      ours+=("$n")
      continue
    fi
    port_open "$NODE_PORT" && die "port $NODE_PORT is in use by another process; cannot start Kafka node $n"
    port_open "$NODE_CTRL_PORT" && die "port $NODE_CTRL_PORT is in use by another process; cannot start Kafka node $n"
    rotate_log "$NODE_LOG"
    # SerialGC: a 512 MB heap needs no G1, and with up to 3 JVMs on 2 cores
    # fewer GC threads is better. ExitOnOutOfMemoryError: die loudly rather
    # than limp along and make tests time out.
    # shellcheck disable=SC2086 # both are lists of JVM flags
    SPAWN_NICE="$KAFKA_NICE" spawn "$NODE_PID" "$NODE_LOG" "$JAVA" $KAFKA_HEAP_OPTS $KAFKA_JVM_OPTS \
      -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
      "${cds[@]}" -Xlog:cds*=error \
      -Dlog4j2.configurationFile="$KAFKA_LOG4J" -Dkafka.logs.dir="$KAFKA_HOME" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$NODE_CONF"
    started+=("$n")
    # Only one JVM may write the archive.
    if [[ ${cds[0]:-} == -XX:ArchiveClassesAtExit=* ]]; then cds=(); fi
  done

  # Ready = the node logged "Kafka Server started" (KafkaRaftServer logs it
  # only after the broker caught up with the metadata log and was unfenced,
  # i.e. it serves metadata and produce requests) and its port accepts.
  local deadline=$(($(date +%s) + KAFKA_START_TIMEOUT))
  for n in "${started[@]}"; do
    kafka_node "$brokers" "$n"
    while :; do
      if grep -q 'Kafka Server started' "$NODE_LOG" 2>/dev/null && port_open "$NODE_PORT"; then
        break
      fi
      if ! live_pid "$NODE_PID" "$NODE_CONF" >/dev/null; then
        warn "kafka node $n exited during start-up; last lines of ${NODE_LOG#"$ROOT"/}:"
        tail -n 40 "$NODE_LOG" >&2
        abort_kafka_start "$brokers" "${started[@]}"
        die "Kafka node $n failed to start"
      fi
      if (($(date +%s) >= deadline)); then
        warn "kafka node $n not ready after ${KAFKA_START_TIMEOUT}s; last lines of ${NODE_LOG#"$ROOT"/}:"
        tail -n 40 "$NODE_LOG" >&2
        abort_kafka_start "$brokers" "${started[@]}"
        die "Kafka node $n did not become ready"
      fi
      sleep 0.2
    done
  done

  local bs
  bs=$(kafka_bootstrap "$brokers")
  if ((${#started[@]} > 0)); then
    say "kafka: started node(s) ${started[*]} of $brokers (bootstrap $bs) in $(elapsed "$t0")"
  fi
  if ((${#ours[@]} > 0)); then
    say "kafka: node(s) ${ours[*]} already running (started earlier by services.sh)"
  fi
}

# A failed start stops the nodes it just launched (not ones that were already
# running), so a red CI run or test setup leaves no half-started cluster
# behind; their logs stay in place for inspection.
abort_kafka_start() {
  local brokers=$1 n pid pids=()
  shift
  for n in "$@"; do
    kafka_node "$brokers" "$n"
    if pid=$(live_pid "$NODE_PID" "$NODE_CONF"); then pids+=("$pid"); fi
    rm -f "$NODE_PID"
  done
  if ((${#pids[@]} > 0)); then
    STOP_TIMEOUT=10 terminate "${pids[@]}"
    rm -f "$KAFKA_LIBS/kafka.jsa.new"
  fi
  # Nothing of ours left: forget the shape, so a plain `start` is 1 broker.
  [[ -n $(our_kafka_pids) ]] || rm -f "$KAFKA_MODE_FILE"
  return 0
}

stop_kafka() {
  local only=${OPT_NODE:-} pids=() ports=() f pid tag n brokers
  if [[ -n $only ]]; then
    brokers=$(kafka_brokers)
    kafka_node "$brokers" "$only"
    if pid=$(live_pid "$NODE_PID" "$NODE_CONF"); then
      terminate "$pid"
      ((KILLED)) && rm -f "$KAFKA_LIBS/kafka.jsa.new"
      wait_ports_free "$NODE_PORT" "$NODE_CTRL_PORT"
      rm -f "$NODE_PID"
      say "kafka: stopped node $only (127.0.0.1:$NODE_PORT)"
    else
      rm -f "$NODE_PID"
      say "kafka: node $only was not running (or not started by services.sh)"
    fi
    return 0
  fi
  for f in "$KAFKA_HOME"/*.pid; do
    [[ -e $f ]] || continue
    if pid=$(live_pid "$f" "$KAFKA_HOME/config/"); then
      pids+=("$pid")
      tag=${f##*/}
      tag=${tag%.pid}
      # Recover the node's ports from its config for the "ports free" check.
      local p2=()
      read -r -a p2 < <(sed -nE 's#^listeners=.*:([0-9]+),.*:([0-9]+)$#\1 \2#p' "$KAFKA_HOME/config/$tag.properties") || true
      ports+=("${p2[@]}")
    else
      rm -f "$f"
    fi
  done
  if ((${#pids[@]} == 0)); then
    if port_open "$KAFKA_BASE_PORT"; then
      say "kafka: 127.0.0.1:$KAFKA_BASE_PORT is served by a broker not started by services.sh; leaving it alone"
    else
      say "kafka: not running"
    fi
    return 0
  fi
  terminate "${pids[@]}"
  # A JVM killed while writing its class-data archive leaves a broken file.
  ((KILLED)) && rm -f "$KAFKA_LIBS/kafka.jsa.new"
  wait_ports_free "${ports[@]}"
  rm -f "$KAFKA_HOME"/*.pid
  say "kafka: stopped ${#pids[@]} node(s)"
}

# ---------------------------------------------------------------- nats

start_nats() {
  local pid t0 nats
  t0=$(now_ms)
  if pid=$(live_pid "$NATS_HOME/nats.pid" nats-server); then
    say "nats: already running (started earlier by services.sh, pid $pid)"
    return 0
  fi
  if port_open "$NATS_PORT"; then
    say "nats: reusing server already listening on 127.0.0.1:$NATS_PORT (not started by services.sh; will not stop it)"
    return 0
  fi
  install_nats
  nats=$(find_nats)
  mkdir -p "$NATS_HOME"
  local args=(-a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_HTTP_PORT")
  if [[ $SECURE == 1 ]]; then
    make_secrets
    write_nats_config
    args+=(-c "$NATS_HOME/nats.conf")
  fi
  if [[ $NATS_JETSTREAM == 1 ]]; then
    args+=(-js -sd "$NATS_HOME/jetstream")
  fi
  rotate_log "$NATS_HOME/nats.log"
  spawn "$NATS_HOME/nats.pid" "$NATS_HOME/nats.log" "$nats" "${args[@]}"
  local deadline=$(($(date +%s) + NATS_START_TIMEOUT))
  # nats-server opens the client port only after JetStream is up; /healthz
  # additionally confirms JetStream is healthy.
  while :; do
    if port_open "$NATS_PORT"; then
      if ! command -v curl >/dev/null ||
        curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$NATS_HTTP_PORT/healthz"; then
        break
      fi
    fi
    if ! live_pid "$NATS_HOME/nats.pid" nats-server >/dev/null; then
      warn "nats-server exited during start-up; last lines of ${NATS_HOME#"$ROOT"/}/nats.log:"
      tail -n 30 "$NATS_HOME/nats.log" >&2
      die "nats-server failed to start"
    fi
    if (($(date +%s) >= deadline)); then
      tail -n 30 "$NATS_HOME/nats.log" >&2
      die "nats-server not ready after ${NATS_START_TIMEOUT}s"
    fi
    sleep 0.1
  done
  say "nats: started nats://127.0.0.1:$NATS_PORT (monitoring http://127.0.0.1:$NATS_HTTP_PORT$([[ $NATS_JETSTREAM == 1 ]] && echo ', JetStream')) in $(elapsed "$t0")"
}

stop_nats() {
  local pid
  if pid=$(live_pid "$NATS_HOME/nats.pid" nats-server); then
    terminate "$pid"
    wait_ports_free "$NATS_PORT" "$NATS_HTTP_PORT"
    rm -f "$NATS_HOME/nats.pid"
    say "nats: stopped"
  else
    rm -f "$NATS_HOME/nats.pid"
    if port_open "$NATS_PORT"; then
      say "nats: 127.0.0.1:$NATS_PORT is served by a server not started by services.sh; leaving it alone"
    else
      say "nats: not running"
    fi
  fi
}

# ---------------------------------------------------------------- faults

# The pid of node --node of the running shape, or die.
node_pid() {
  local brokers pid
  [[ -n ${OPT_NODE:-} ]] || die "$CMD needs --node N"
  brokers=$(kafka_brokers)
  ((OPT_NODE >= 1 && OPT_NODE <= brokers)) || die "--node must be between 1 and $brokers"
  kafka_node "$brokers" "$OPT_NODE"
  pid=$(live_pid "$NODE_PID" "$NODE_CONF") || die "kafka node $OPT_NODE is not running (or not started by services.sh)"
  echo "$pid"
}

# A crash: SIGKILL, no controlled shutdown. Waits until the process is gone
# and its ports are closed, so a following start-kafka --node N can bind them.
kill9_kafka() {
  local pid i
  pid=$(node_pid)
  kafka_node "$(kafka_brokers)" "$OPT_NODE"
  kill -KILL "$pid"
  for ((i = 0; i < 200; i++)); do
    running "$pid" || break
    sleep 0.01
  done
  running "$pid" && die "kafka node $OPT_NODE (pid $pid) survived SIGKILL"
  wait_ports_free "$NODE_PORT" "$NODE_CTRL_PORT"
  rm -f "$NODE_PID"
  say "kafka: killed node $OPT_NODE (pid $pid) with SIGKILL"
}

signal_kafka() {
  local pid
  pid=$(node_pid)
  kill "-$1" "$pid"
  say "kafka: sent SIG$1 to node $OPT_NODE (pid $pid)"
}

# The active controller is the KRaft quorum leader. Every voter records the
# leader it knows with its epoch in __cluster_metadata-0/quorum-state; the
# record with the highest epoch among live nodes names the current one.
# (Clients cannot ask: brokers report a random live broker as "controller".)
active_controller() {
  local brokers n best_epoch=-1 best="" state epoch leader
  brokers=$(kafka_brokers)
  for ((n = 1; n <= brokers; n++)); do
    kafka_node "$brokers" "$n"
    live_pid "$NODE_PID" "$NODE_CONF" >/dev/null || continue
    state=$(cat "$NODE_DATA/__cluster_metadata-0/quorum-state" 2>/dev/null) || continue
    epoch=$(sed -nE 's/.*"leaderEpoch":(-?[0-9]+).*/\1/p' <<<"$state")
    leader=$(sed -nE 's/.*"leaderId":(-?[0-9]+).*/\1/p' <<<"$state")
    [[ -n $epoch && -n $leader ]] || continue
    if ((leader >= 1 && epoch > best_epoch)); then best_epoch=$epoch best=$leader; fi
  done
  [[ -n $best ]] || die "no live node knows an active controller"
  kafka_node "$brokers" "$best"
  live_pid "$NODE_PID" "$NODE_CONF" >/dev/null || die "the last known controller (node $best) is not running"
  echo "$best"
}

# ---------------------------------------------------------------- status

status() {
  local brokers n pid ok=0 any
  brokers=$(kafka_brokers)
  for ((n = 1; n <= brokers; n++)); do
    kafka_node "$brokers" "$n"
    if pid=$(live_pid "$NODE_PID" "$NODE_CONF"); then
      if port_open "$NODE_PORT"; then any=up; else any="starting (port closed)"; ok=1; fi
      say "kafka node $n 127.0.0.1:$NODE_PORT: $any, started by services.sh (pid $pid)"
    elif port_open "$NODE_PORT"; then
      say "kafka node $n 127.0.0.1:$NODE_PORT: up, not started by services.sh"
    else
      say "kafka node $n 127.0.0.1:$NODE_PORT: down"
      ok=1
    fi
  done
  if pid=$(live_pid "$NATS_HOME/nats.pid" nats-server); then
    say "nats 127.0.0.1:$NATS_PORT: up, started by services.sh (pid $pid)"
  elif port_open "$NATS_PORT"; then
    say "nats 127.0.0.1:$NATS_PORT: up, not started by services.sh"
  else
    say "nats 127.0.0.1:$NATS_PORT: down"
    ok=1
  fi
  return "$ok"
}

clean() {
  stop_kafka
  stop_nats
  rm -f "$KAFKA_MODE_FILE"
  rm -rf "$KAFKA_HOME"/data-* "$KAFKA_HOME"/config "$KAFKA_HOME"/*.log "$KAFKA_HOME"/*.log.prev \
    "$NATS_HOME" "$SECRETS"
  say "removed Kafka data, NATS store, logs and secrets"
}

# ---------------------------------------------------------------- main

OPT_BROKERS="" OPT_NODE="" OPT_STATE="" OPT_BASE_PORT="" OPT_NATS_PORT="" OPT_SECURE="" CMD="" ARGS=()
while (($# > 0)); do
  case $1 in
    --kafka-brokers) OPT_BROKERS=${2:?--kafka-brokers needs a value}; shift 2 ;;
    --kafka-brokers=*) OPT_BROKERS=${1#*=}; shift ;;
    --node) OPT_NODE=${2:?--node needs a value}; shift 2 ;;
    --node=*) OPT_NODE=${1#*=}; shift ;;
    --state-dir) OPT_STATE=${2:?--state-dir needs a value}; shift 2 ;;
    --state-dir=*) OPT_STATE=${1#*=}; shift ;;
    --base-port) OPT_BASE_PORT=${2:?--base-port needs a value}; shift 2 ;;
    --base-port=*) OPT_BASE_PORT=${1#*=}; shift ;;
    --nats-port) OPT_NATS_PORT=${2:?--nats-port needs a value}; shift 2 ;;
    --nats-port=*) OPT_NATS_PORT=${1#*=}; shift ;;
    --secure) OPT_SECURE=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *)
      if [[ -z $CMD ]]; then CMD=$1; shift
      else
        # kafka-topics / kafka-run take the rest verbatim.
        ARGS+=("$@"); break
      fi
      ;;
  esac
done
[[ -z $OPT_NODE || $OPT_NODE =~ ^[1-9]$ ]] || die "--node must be a node number (1..3)"

# Where state lives and which ports to use: options, then the environment,
# then what this state dir last used, then the defaults.
OPT_SECURE=${OPT_SECURE:-${SERVICES_SECURE:-}}
if [[ $OPT_SECURE == 1 ]]; then DEFAULT_STATE="$ROOT/.cache/secure"; else DEFAULT_STATE="$ROOT/.cache"; fi
CACHE=${OPT_STATE:-${SERVICES_STATE_DIR:-$DEFAULT_STATE}}
[[ $CACHE == /* ]] || CACHE="$PWD/$CACHE"
KAFKA_HOME="$CACHE/kafka"
NATS_HOME="$CACHE/nats"
# Which cluster shape is running; lets start-kafka after stop-kafka bring back
# the same shape without repeating --kafka-brokers. Removed by `stop`.
KAFKA_MODE_FILE="$KAFKA_HOME/mode"
PORTS_FILE="$CACHE/ports"
SAVED_BASE_PORT="" SAVED_NATS_PORT="" SAVED_SECURE=""
if [[ -s $PORTS_FILE ]]; then
  SAVED_BASE_PORT=$(sed -n 's/^KAFKA_BASE_PORT=//p' "$PORTS_FILE")
  SAVED_NATS_PORT=$(sed -n 's/^NATS_PORT=//p' "$PORTS_FILE")
  SAVED_SECURE=$(sed -n 's/^SECURE=//p' "$PORTS_FILE")
fi
# A state dir is secured or not for good: SCRAM users exist only in a Kafka
# storage formatted by the secured mode.
if [[ $OPT_SECURE == 1 && -s $PORTS_FILE && $SAVED_SECURE != 1 ]]; then
  die "$CACHE holds plain services; give the secured mode a state dir of its own (--state-dir)"
fi
SECURE=${SAVED_SECURE:-${OPT_SECURE:-0}}
if [[ $SECURE == 1 ]]; then DEFAULT_BASE_PORT=19192 DEFAULT_NATS_PORT=14322
else DEFAULT_BASE_PORT=9092 DEFAULT_NATS_PORT=4222; fi
KAFKA_BASE_PORT=${OPT_BASE_PORT:-${KAFKA_BASE_PORT:-${SAVED_BASE_PORT:-$DEFAULT_BASE_PORT}}}
NATS_PORT=${OPT_NATS_PORT:-${NATS_PORT:-${SAVED_NATS_PORT:-$DEFAULT_NATS_PORT}}}
SECRETS="$CACHE/secrets"
[[ $KAFKA_BASE_PORT =~ ^[0-9]+$ ]] && ((KAFKA_BASE_PORT > 0 && KAFKA_BASE_PORT < 65530)) ||
  die "--base-port must be a port number (got '$KAFKA_BASE_PORT')"
[[ $NATS_PORT =~ ^[0-9]+$ ]] && ((NATS_PORT > 0 && NATS_PORT < 61535)) ||
  die "--nats-port must be a port number below 61535 (got '$NATS_PORT')"
NATS_HTTP_PORT=$((NATS_PORT + 4000))
save_ports() {
  mkdir -p "$CACHE"
  printf 'KAFKA_BASE_PORT=%s\nNATS_PORT=%s\nSECURE=%s\n' "$KAFKA_BASE_PORT" "$NATS_PORT" "$SECURE" >"$PORTS_FILE"
}

case ${CMD:-} in
  install) with_lock; install_kafka; install_nats; install_promtool; check_java; say "install: done" ;;
  start)
    with_lock
    save_ports
    t_all=$(now_ms)
    install_kafka
    install_nats
    install_promtool
    # NATS first: it is up in well under a second, Kafka takes a few.
    start_nats
    start_kafka
    say "ready in $(elapsed "$t_all"): KAFKA_BOOTSTRAP_SERVERS=$(kafka_bootstrap "$(kafka_brokers)") NATS_URL=nats://127.0.0.1:$NATS_PORT"
    ;;
  stop) with_lock; stop_kafka; stop_nats; rm -f "$KAFKA_MODE_FILE" ;;
  start-kafka) with_lock; save_ports; start_kafka ;;
  stop-kafka) with_lock; stop_kafka ;;
  start-nats) with_lock; save_ports; start_nats ;;
  stop-nats) with_lock; stop_nats ;;
  status) status ;;
  kill9) with_lock; kill9_kafka ;;
  sigstop) signal_kafka STOP ;;
  sigcont) signal_kafka CONT ;;
  pid) node_pid ;;
  controller) active_controller ;;
  env)
    echo "KAFKA_BOOTSTRAP_SERVERS=$(kafka_bootstrap "$(kafka_brokers)")"
    echo "NATS_URL=nats://127.0.0.1:$NATS_PORT"
    if [[ $SECURE == 1 ]]; then
      echo "KAFKA_SASL_MECHANISM=SCRAM-SHA-512"
      echo "KAFKA_SASL_USERNAME=tastesync"
      echo "KAFKA_SASL_PASSWORD_FILE=$SECRETS/kafka-client.password"
      echo "KAFKA_SSL_CA_FILE=$SECRETS/ca.pem"
      echo "NATS_USER=tastesync"
      echo "NATS_PASSWORD_FILE=$SECRETS/nats.password"
      echo "NATS_CREDS_FILE=$SECRETS/tastesync.creds"
      echo "NATS_TLS_CA_FILE=$SECRETS/ca.pem"
      echo "HTTP_TLS_CERT_FILE=$SECRETS/server.pem"
      echo "HTTP_TLS_KEY_FILE=$SECRETS/server.key"
    fi
    ;;
  kafka-topics)
    [[ -f $KAFKA_LIBS/.pom.sha256 ]] || die "Kafka is not installed: run '$0 install'"
    client=()
    [[ $SECURE == 1 ]] && client=(--command-config "$SECRETS/client.properties")
    kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$(kafka_bootstrap "$(kafka_brokers)")" \
      "${client[@]}" "${ARGS[@]}"
    ;;
  kafka-run)
    [[ -f $KAFKA_LIBS/.pom.sha256 ]] || die "Kafka is not installed: run '$0 install'"
    ((${#ARGS[@]} > 0)) || die "usage: $0 kafka-run CLASS [ARGS...]"
    kafka_java "${ARGS[@]}"
    ;;
  clean) with_lock; clean ;;
  "") die "no command given (try --help)" ;;
  *) die "unknown command '$CMD' (try --help)" ;;
esac
