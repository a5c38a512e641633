#!/usr/bin/env bash
# Starts three certctl nodes on 127.0.0.1, joined into one cluster, and stops
# them all on Ctrl-C. Data lives in a temporary directory removed on exit.
set -euo pipefail

bin=${1:-bin/certctl}
base=${CERTCTL_CLUSTER_DIR:-$(mktemp -d -t certctl-cluster-XXXXXX)}
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$base"
admin_key="cck_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$admin_key" >"$base/admin.key"
chmod 600 "$base/admin.key"
api=(127.0.0.1:18441 127.0.0.1:18442 127.0.0.1:18443)
raft=(127.0.0.1:18301 127.0.0.1:18302 127.0.0.1:18303)
pids=()

stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping nodes..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
  rm -rf "$base"
}
trap stop INT TERM EXIT

# ready asks GET /ready with bash alone: a fresh machine may lack curl.
ready() {
  local host=${1%:*} port=${1##*:} status
  { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
  printf 'GET /ready HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" >&3
  read -r _ status _ <&3 || true
  exec 3>&-
  [ "$status" = 200 ]
}

wait_ready() {
  local addr=$1
  for _ in $(seq 1 200); do
    if ready "$addr"; then return 0; fi
    sleep 0.1
  done
  echo "node at $addr did not become ready; see $base/*.log" >&2
  return 1
}

for i in 0 1 2; do
  id="n$((i + 1))"
  args=(server --node-id "$id" --data-dir "$base/$id" --api-addr "${api[$i]}" --raft-addr "${raft[$i]}" --join-token "$token")
  if [ "$i" -eq 0 ]; then
    args+=(--bootstrap --admin-key-file "$base/admin.key")
  else
    args+=(--join "${api[0]}")
  fi
  "$bin" "${args[@]}" >"$base/$id.log" 2>&1 &
  pids+=($!)
  wait_ready "${api[$i]}"
done

cat <<MSG
certctl cluster of three nodes is up (data and logs in $base):

  n1  api http://${api[0]}  raft ${raft[0]}
  n2  api http://${api[1]}  raft ${raft[1]}
  n3  api http://${api[2]}  raft ${raft[2]}

  join token: $token
  admin key:  $admin_key
  try:        $bin --server http://${api[1]} --api-key $admin_key status

Ctrl-C stops all three.
MSG
wait
