#!/bin/sh
# A one-node Ceph (one mon, one osd on memstore, radosgw) in a temp dir, to run the S3 suites against
# Ceph's radosgw by hand (not in CI):
#
#   sudo apt-get install -y radosgw ceph-mon ceph-osd        # Debian 12: Ceph 16 (pacific)
#   eval "$(sh scripts/radosgw.sh start)"                       # prints the exports below, leaves Ceph running
#   pnpm exec vitest run --maxWorkers=1 packages/blobs-s3/test/contract.test.ts packages/blobs-s3/test/s3-uploads.test.ts
#   sh scripts/radosgw.sh stop "$BERTH_CEPH_DIR"
#
# The suites that share one S3 server use BERTH_TEST_S3_ENDPOINT and the AWS_* keys instead of starting
# Swift (packages/blobs-s3/test/support/swift.ts). The osd keeps its objects in memory (memstore, 2 GiB).
set -eu

stop() {
  dir=$1
  for pidfile in "$dir"/run/*.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 1
  for pidfile in "$dir"/run/*.pid; do
    [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
  done
  rm -rf "$dir"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  dir=$(mktemp -d /tmp/berth-ceph.XXXXXX)
  mkdir -p "$dir/mon" "$dir/osd" "$dir/run" "$dir/log" "$dir/rgw"
  fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  mon_port=$(free_port)
  rgw_port=$(free_port)
  conf=$dir/ceph.conf
  cat > "$conf" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
osd objectstore = memstore
memstore device bytes = 2147483648
osd data = $dir/osd
mon data = $dir/mon
[osd]
keyring = $dir/osd/keyring
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $dir/rgw
rgw dns name = 127.0.0.1
EOF
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.rgw.a --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null
  monmaptool --create --addv a "[v1:127.0.0.1:$mon_port]" --fsid "$fsid" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"
  ceph-mon -c "$conf" -i a
  osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  osd_id=$(ceph -c "$conf" osd new "$osd_uuid")
  ceph-osd -c "$conf" -i "$osd_id" --mkfs --mkkey --no-mon-config --osd-uuid "$osd_uuid" 2>>"$dir/log/mkfs.log"
  ceph -c "$conf" auth add "osd.$osd_id" osd 'allow *' mon 'allow profile osd' -i "$dir/osd/keyring" >/dev/null 2>&1
  ceph-osd -c "$conf" -i "$osd_id"
  radosgw -c "$conf" -n client.rgw.a
  access_key=berth-test
  secret_key=berth-test-secret
  # radosgw creates its pools on start; the user can only be made once they exist.
  tries=0
  until radosgw-admin -c "$conf" user create --uid=berth --display-name=berth --access-key=$access_key --secret-key=$secret_key >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ $tries -gt 120 ] && { echo "radosgw-admin user create failed; logs in $dir/log" >&2; exit 1; }
    sleep 1
  done
  tries=0
  until python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$rgw_port/')" 2>/dev/null; do
    tries=$((tries + 1))
    [ $tries -gt 120 ] && { echo "radosgw does not answer on $rgw_port; logs in $dir/log" >&2; exit 1; }
    sleep 1
  done
  echo "export BERTH_CEPH_DIR=$dir BERTH_TEST_S3_ENDPOINT=http://127.0.0.1:$rgw_port AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret_key AWS_REGION=us-east-1"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:?the dir start printed as BERTH_CEPH_DIR}" ;;
  *) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
