#!/usr/bin/env bash
# Starts three certctl nodes on 127.0.0.1, joined into one cluster, and stops
# them all on Ctrl-C. Data lives in a temporary directory removed on exit.
set -euo pipefail

bin=${1:-bin/certctl}
base=${CERTCTL_CLUSTER_DIR:-$(mktemp -d -t certctl-cluster-XXXXXX)}
mkdir -p "$base"
# Every node of a cluster shares one key-encryption key.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$base/kek"
chmod 600 "$base/kek"
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

# ready asks the node over HTTPS, trusting the cluster CA, with the CLI
# itself: a fresh machine may lack curl.
ready() {
  [ -s "$base/ca.pem" ] || cp "$base/n1/tls/ca.crt" "$base/ca.pem" 2>/dev/null || return 1
  "$bin" --server "https://$1" --ca-file "$base/ca.pem" --api-key "$admin_key" status >/dev/null 2>&1
}

wait_ready() {
  local addr=$1
  for _ in $(seq 1 300); do
    if ready "$addr"; then return 0; fi
    sleep 0.1
  done
  echo "node at $addr did not become ready; see $base/*.log" >&2
  return 1
}

for i in 0 1 2; do
  id="n$((i + 1))"
  args=(server --node-id "$id" --data-dir "$base/$id" --api-addr "${api[$i]}" --raft-addr "${raft[$i]}" --kek-file "$base/kek")
  if [ "$i" -eq 0 ]; then
    args+=(--bootstrap --admin-key-file "$base/admin.key")
  else
    if [ ! -s "$base/join-token" ]; then
      "$bin" --server "https://${api[0]}" --ca-file "$base/ca.pem" --api-key "$admin_key" \
        operator join-token create --ttl 10m --uses 2 --out "$base/join-token" >/dev/null
    fi
    args+=(--join "${api[0]}" --join-token-file "$base/join-token")
  fi
  "$bin" "${args[@]}" >"$base/$id.log" 2>&1 &
  pids+=($!)
  wait_ready "${api[$i]}"
done

cat <<MSG
certctl cluster of three nodes is up (data and logs in $base):

  n1  api https://${api[0]}  raft ${raft[0]}
  n2  api https://${api[1]}  raft ${raft[1]}
  n3  api https://${api[2]}  raft ${raft[2]}

  cluster CA: $base/ca.pem
  admin key:  $admin_key
  try:        $bin --server https://${api[1]} --ca-file $base/ca.pem --api-key $admin_key status

Ctrl-C stops all three.
MSG
wait
