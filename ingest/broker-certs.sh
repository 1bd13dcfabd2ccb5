#!/bin/sh
# The broker's TLS files, as docs/OPERATIONS.md makes them: a CA of your own and a server
# certificate signed by it whose subject alternative names are every name and address devices
# connect to (a device checks the broker's name against them).
#
#   sh ingest/broker-certs.sh CA_DIR CERTS_DIR DNS:broker.example.com [IP:203.0.113.7 …]
#
# CA_DIR keeps ca.key and ca.crt (the key stays off the broker: keep it offline); a CA already
# there is reused, so renewing the server certificate changes nothing on the devices.
# CERTS_DIR gets what docker-compose.yml mounts (MOSQUITTO_CERTS_DIR): ca.crt, server.crt and
# server.key. Devices get ca.crt only. Needs openssl.
set -eu
if [ $# -lt 3 ]; then
    echo "usage: $0 CA_DIR CERTS_DIR DNS:name|IP:address ..." >&2
    exit 2
fi
ca_dir=$1
certs_dir=$2
shift 2
sans=$(printf '%s,' "$@")
sans=${sans%,}
days=${CERT_DAYS:-825}
umask 077
mkdir -p "$ca_dir" "$certs_dir"

if [ ! -s "$ca_dir/ca.key" ]; then
    openssl req -x509 -newkey rsa:4096 -sha256 -nodes -days "${CA_DAYS:-3650}" \
        -keyout "$ca_dir/ca.key" -out "$ca_dir/ca.crt" -subj "/CN=Forestall broker CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
fi

openssl req -newkey rsa:2048 -sha256 -nodes -keyout "$certs_dir/server.key.new" \
    -out "$certs_dir/server.csr" -subj "/CN=${1#*:}"
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
    "$sans" >"$certs_dir/server.ext"
openssl x509 -req -sha256 -days "$days" -in "$certs_dir/server.csr" -CA "$ca_dir/ca.crt" \
    -CAkey "$ca_dir/ca.key" -CAcreateserial -out "$certs_dir/server.crt.new" -extfile "$certs_dir/server.ext"
rm -f "$certs_dir/server.csr" "$certs_dir/server.ext"
mv "$certs_dir/server.key.new" "$certs_dir/server.key"
mv "$certs_dir/server.crt.new" "$certs_dir/server.crt"
cp "$ca_dir/ca.crt" "$certs_dir/ca.crt"
# The broker reads them as the image's mosquitto user (uid 1883): certificates are public, the
# key is for that user alone.
chmod 0644 "$certs_dir/ca.crt" "$certs_dir/server.crt"
chmod 0600 "$certs_dir/server.key"
if [ "$(id -u)" = 0 ]; then
    chown 1883 "$certs_dir/server.key"
fi
openssl x509 -in "$certs_dir/server.crt" -noout -subject -ext subjectAltName -enddate
