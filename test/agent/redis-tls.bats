#!/usr/bin/env bats
# Redis/Valkey over TLS: REDIS_TARGET carries redis-cli's TLS arguments to every call, and a failed handshake
# is named as a TLS problem with redis.tls to check, never taken for a stopped server. (The handshake against
# a real server that takes only TLS is in test/integration/redis.test.ts.)
load redis-helpers

setup() {
  redis_setup
  setting_array REDIS_TARGET -h 127.0.0.1 -p 6380 --tls --cacert "$TMP/etc/ca.crt" --cert "$TMP/etc/client.crt" \
    --key "$TMP/etc/client.key"
  # redis-cli as it answers when the handshake fails: the reason on stdout, exit status 1
  mkdir -p "$TMP/wrap"
  cat >"$TMP/wrap/redis-cli" <<FAKE
#!/usr/bin/env bash
printf '%s\n' "\$*" >>"$TMP/cli-calls"
verify_failed="Could not connect to Redis at 127.0.0.1:6380: SSL_connect failed: certificate verify failed"
printf '%s\n' "\${FAKE_REDIS_REPLY:-\$verify_failed}"
exit 1
FAKE
  chmod +x "$TMP/wrap/redis-cli"
  setting REDIS_CLI "$TMP/wrap/redis-cli"
}
teardown() { redis_teardown; }

@test "a certificate the CA does not verify: backup-redis names TLS and redis.tls, writes nothing" {
  run "$AGENT/backup-redis"
  [ "$status" -eq 1 ]
  [[ $output == *"TLS to the server failed (check redis.tls"*"certificate verify failed"* ]]
  [[ $output != *"does not answer"* ]]
  [ -z "$(find "$TMP/backups" -name 'dump_*')" ]
  # every call carried the TLS arguments, the key as a path
  local tls="--tls --cacert $TMP/etc/ca.crt --cert $TMP/etc/client.crt --key $TMP/etc/client.key"
  grep -qx -- "-h 127.0.0.1 -p 6380 $tls PING" "$TMP/cli-calls"
}

@test "apply-redis-settings fails the same way, and so does a CA file redis-cli cannot load" {
  echo "include $TMP/etc/drkit-testsvc.conf" >"$TMP/etc/redis.conf"
  run "$AGENT/apply-redis-settings"
  [ "$status" -eq 1 ]
  [[ $output == *"TLS to the server failed (check redis.tls"* ]]
  FAKE_REDIS_REPLY="Could not create an SSL context: Invalid CA Certificate File/Directory" run "$AGENT/backup-redis"
  [ "$status" -eq 1 ]
  [[ $output == *"TLS to the server failed"*"Invalid CA Certificate"* ]]
}

@test "a reset connection (a plain client at a TLS port) is still 'does not answer', not a TLS error" {
  FAKE_REDIS_REPLY="Error: Connection reset by peer" run "$AGENT/backup-redis"
  [ "$status" -eq 1 ]
  [[ $output == *"does not answer PING"* ]]
  [[ $output != *"TLS to the server failed"* ]]
}
