#!/bin/sh
# The files a secured Tessera cluster reads, made once (docker-compose.secure.yml runs this in its
# one-shot `secrets` service, `tessera dev up --secure` into <data>/secrets; anyone may run it for
# a test cluster of their own):
#
#   ca.crt         a private CA, valid 825 days (its key is deleted once the certificate is signed)
#   tls.crt/.key   one certificate for server and client use, naming every host given, plus
#                  localhost and 127.0.0.1: NATS's TLS, the peers' mutual TLS, every HTTPS port
#   api-token      bearer token of the consensus and storage-manager HTTP APIs (64 hex characters)
#   nats-password  the NATS user's password (48 hex characters)
#
# usage: make-secrets.sh DIR HOST...     (needs openssl; files already there are kept, so a
#                                        restart does not rotate them; delete DIR to do that)
# Run as root, it gives the files to OWNER=uid:gid (default 1000:1000, the image's `node` user;
# OWNER= keeps root's); keys are 0640.
set -eu

dir=${1:?usage: make-secrets.sh DIR HOST...}
shift
if [ -s "$dir/ca.crt" ] && [ -s "$dir/tls.crt" ] && [ -s "$dir/tls.key" ] \
  && [ -s "$dir/api-token" ] && [ -s "$dir/nats-password" ]; then
  echo "make-secrets: $dir already holds them; kept"
  exit 0
fi
mkdir -p "$dir"
cd "$dir"
umask 077

san="IP:127.0.0.1,DNS:localhost"
for host in "$@"; do san="$san,DNS:$host"; done

openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=Tessera development CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=tessera" -keyout tls.key -out tls.csr 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' \
  "$san" > tls.ext
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
  -extfile tls.ext -out tls.crt 2>/dev/null
openssl rand -hex 32 > api-token
openssl rand -hex 24 > nats-password
# Nothing can be signed with this CA any more: a new cluster makes a new one.
rm -f ca.key ca.srl tls.csr tls.ext

chmod 0644 ca.crt tls.crt
chmod 0640 tls.key api-token nats-password
owner=${OWNER-1000:1000}
if [ "$(id -u)" = 0 ] && [ -n "$owner" ]; then
  chown "$owner" ca.crt tls.crt tls.key api-token nats-password
fi
echo "make-secrets: wrote ca.crt, tls.crt, tls.key, api-token, nats-password to $dir for $san"
