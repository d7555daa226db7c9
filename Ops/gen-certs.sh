#!/usr/bin/env bash
# Makes a small PKI for crmgate with openssl, for operators without their own:
#   a CA, a server certificate, and ERP client certificates (CN = the tenant, for --tls-client-ca).
#   Ops/gen-certs.sh [--out DIR] [--name DNS-or-IP]... [--client TENANT]... [--days 825]
# Writes DIR/ca.pem ca.key server.pem server.key clients/TENANT.pem clients/TENANT.key (keys 0600).
# An existing DIR/ca.key is reused, so clients can be added later. Then:
#   crmgate --tls-cert DIR/server.pem --tls-key DIR/server.key --tls-client-ca DIR/ca.pem
# Rotate the server certificate: run it again with --renew-server, then `systemctl reload crmgate`.
set -euo pipefail

out=./crmgate-pki days=825 renew=0
names=() clients=()
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out=$2; shift ;;
    --name) names+=("$2"); shift ;;
    --client) clients+=("$2"); shift ;;
    --days) days=$2; shift ;;
    --renew-server) renew=1 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ "${#names[@]}" -gt 0 ] || names=(localhost 127.0.0.1 ::1)
umask 077
mkdir -p "$out/clients"

if [ ! -f "$out/ca.key" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$out/ca.key"
    openssl req -x509 -new -key "$out/ca.key" -sha256 -days 3650 -subj "/O=crmgate/CN=crmgate CA" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$out/ca.pem"
    echo "made the CA: $out/ca.pem"
fi

sign() { # key, certificate, subject, extensions file
    openssl ecparam -name prime256v1 -genkey -noout -out "$1"
    openssl req -new -key "$1" -subj "$3" -out "$1.csr"
    openssl x509 -req -in "$1.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial -sha256 \
        -days "$days" -extfile "$4" -out "$2" 2>/dev/null
    rm -f "$1.csr" "$4"
    chmod 600 "$1"
    chmod 644 "$2"
}

if [ ! -f "$out/server.pem" ] || [ "$renew" -eq 1 ]; then
    san=()
    for name in "${names[@]}"; do
        if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then san+=("IP:$name"); else san+=("DNS:$name"); fi
    done
    ext=$(mktemp)
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=serverAuth"
        echo "subjectAltName=$(IFS=,; echo "${san[*]}")"
    } >"$ext"
    sign "$out/server.key" "$out/server.pem" "/O=crmgate/CN=${names[0]}" "$ext"
    echo "made the server certificate for ${names[*]}: $out/server.pem"
fi

for tenant in "${clients[@]}"; do
    [[ $tenant =~ ^[a-z0-9][a-z0-9_-]{0,62}$ ]] || { echo "not a tenant name: $tenant" >&2; exit 2; }
    ext=$(mktemp)
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$ext"
    sign "$out/clients/$tenant.key" "$out/clients/$tenant.pem" "/O=crmgate/CN=$tenant" "$ext"
    echo "made the ERP client certificate of tenant $tenant: $out/clients/$tenant.pem"
done
