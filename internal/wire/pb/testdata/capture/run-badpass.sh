#!/bin/sh
# Captures a login with a wrong password against Debian's buildbot 3.7 master.
set -e
cd "$(dirname "$0")"
rm -rf badworker master/state.sqlite badpass.pcap master/twistd.log*
buildbot upgrade-master master >/dev/null
tcpdump -i lo -w badpass.pcap -U 'tcp port 19989' >tcpdump.log 2>&1 &
echo $! >tcpdump.pid
sleep 1
buildbot start master
buildbot-worker create-worker --keepalive=10 badworker 127.0.0.1:19989 w1 wrongpass >/dev/null
env -i PATH=/usr/bin:/bin HOME=/tmp/pbcap LANG=C.UTF-8 buildbot-worker start badworker || true
for i in $(seq 1 30); do
  if grep -q "unauthorized login" badworker/twistd.log 2>/dev/null; then break; fi
  sleep 1
done
buildbot-worker stop badworker || true
buildbot stop master
sleep 1
kill "$(cat tcpdump.pid)"
