#!/usr/bin/env bash
# Makes a development PKI in DIR (default deploy/certs): a CA, a server
# certificate for the services (SANs: localhost, freedumb, *.freedumb.svc,
# 127.0.0.1, ::1), a client certificate for Envoy to present to them
# (mTLS), and an edge certificate for Envoy's public listener. For
# development and tests only: production certificates come from your PKI.
set -euo pipefail

dir="${1:-deploy/certs}"
days="${DAYS:-30}"
mkdir -p "$dir"
cd "$dir"

subject() { printf '/O=FREEDUMB dev/CN=%s' "$1"; }

openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
  -keyout ca.key -out ca.pem -subj "$(subject 'FREEDUMB dev CA')" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# name, extended key usage, SANs
issue() {
  local name=$1 usage=$2 sans=$3
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$name.key" -out "$name.csr" \
    -subj "$(subject "$name")" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
    "$usage" "$sans" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days "$days" -sha256 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

issue server serverAuth 'DNS:localhost,DNS:freedumb,DNS:*.freedumb.svc,IP:127.0.0.1,IP:::1'
issue envoy clientAuth 'DNS:envoy'
issue edge serverAuth 'DNS:localhost,IP:127.0.0.1'
rm -f ca.srl
chmod 600 ./*.key
echo "certificates in $dir: ca.pem, server.{pem,key}, envoy.{pem,key} (client), edge.{pem,key}"
