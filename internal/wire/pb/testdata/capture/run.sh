#!/bin/sh
# Captures one PB session between Debian's buildbot 3.7 master and buildbot-worker 3.7.
set -e
cd "$(dirname "$0")"
rm -rf worker master/state.sqlite files/up.txt files/subup cap.pcap master/twistd.log*
buildbot upgrade-master master >/dev/null
tcpdump -i lo -w cap.pcap -U 'tcp port 19989' >tcpdump.log 2>&1 &
echo $! >tcpdump.pid
sleep 1
buildbot start master
buildbot-worker create-worker --keepalive=10 worker 127.0.0.1:19989 w1 pass1 >/dev/null
echo "Ada <ada@example.com>" >worker/info/admin
echo "capture host" >worker/info/host
env -i PATH=/usr/bin:/bin HOME=/tmp/pbcap LANG=C.UTF-8 buildbot-worker start worker
sleep 3
buildbot sendchange -m 127.0.0.1:19988 -W me -c cap --branch main --revision abc file.c
for i in $(seq 1 120); do
  if grep -q "Build b1 number:1 results:.*build finished" master/twistd.log; then break; fi
  sleep 1
done
buildbot sendchange -m 127.0.0.1:19988 -W me -c bye --branch bye --revision def file.c
# wait for the worker to be shut down by the master (the last build)
for i in $(seq 1 120); do
  if grep -q "Server Shut Down" worker/twistd.log 2>/dev/null; then break; fi
  sleep 1
done
sleep 1
buildbot stop master
kill "$(cat tcpdump.pid)"
