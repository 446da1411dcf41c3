#!/bin/sh
# mkcerts.sh DIR -- test certificates for the integration tests and the demo.
#
# Everything is generated at run time (no key material lives in the repo):
#   ca.pem ca.key                  test CA (the one tests put in tls_ca_file)
#   server.pem server.key          localhost: SAN DNS:localhost, IP:127.0.0.1, IP:::1
#   wrongname.pem wrongname.key    signed by the CA, only SAN DNS:wrong.example.org
#   untrusted-ca.pem untrusted-ca.key   a second CA that nobody trusts
#   untrusted.pem untrusted.key    localhost, signed by the untrusted CA
#   expired.pem expired.key        localhost, signed by the CA, expired in 2021
#   future.pem future.key          localhost, signed by the CA, valid from 2099
#   client.pem client.key          a client certificate signed by the CA
#
# EC P-256 keys, OpenSSL 3.0 CLI. Quiet on success. Idempotent: when every
# file is already there nothing is done; otherwise the whole set is made
# again in a scratch directory and moved into place, so the set is always
# consistent (one CA). Set MKCERTS_FORCE=1 to regenerate.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 64
fi
dir=$1

files="ca.pem ca.key server.pem server.key wrongname.pem wrongname.key
untrusted-ca.pem untrusted-ca.key untrusted.pem untrusted.key
expired.pem expired.key future.pem future.key client.pem client.key"

if [ "${MKCERTS_FORCE:-0}" != 1 ]; then
	missing=0
	for f in $files; do
		[ -s "$dir/$f" ] || missing=1
	done
	[ "$missing" = 0 ] && exit 0
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
work=$(mktemp -d "$dir/.mkcerts.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM
umask 077

die() {
	echo "mkcerts.sh: $*" >&2
	if [ -s "$work/log" ]; then
		cat "$work/log" >&2
	fi
	exit 1
}

# Run openssl quietly; show its output only when it fails.
ossl() {
	openssl "$@" >"$work/log" 2>&1 || die "openssl $1 failed"
}

# A minimal config, so the system openssl.cnf plays no part.
cat >"$work/openssl.cnf" <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused

[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1

[ wrongname_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.example.org

[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

# "openssl ca" is the 3.0 way to choose arbitrary validity dates.
[ ca ]
default_ca = testca
[ testca ]
dir = .
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none
[ policy_any ]
commonName = supplied
EOF

cd "$work"
export OPENSSL_CONF="$work/openssl.cnf"
mkdir newcerts
: >index.txt
echo 1000 >serial

# mkkey NAME
mkkey() {
	ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1.key"
}

# mkca NAME CN
mkca() {
	mkkey "$1"
	ossl req -new -x509 -config openssl.cnf -key "$1.key" -subj "/CN=$2" \
	    -days 3650 -sha256 -extensions ca_ext -out "$1.pem"
}

# mkleaf NAME CN EXTENSIONS CANAME [STARTDATE ENDDATE]
mkleaf() {
	mkkey "$1"
	ossl req -new -config openssl.cnf -key "$1.key" -subj "/CN=$2" \
	    -out "$1.csr"
	if [ $# -ge 6 ]; then
		ossl ca -batch -notext -config openssl.cnf -cert "$4.pem" \
		    -keyfile "$4.key" -extfile openssl.cnf -extensions "$3" \
		    -startdate "$5" -enddate "$6" -in "$1.csr" -out "$1.pem"
	else
		ossl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" \
		    -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
		    -days 825 -sha256 -extfile openssl.cnf -extensions "$3" \
		    -out "$1.pem"
	fi
	rm -f "$1.csr"
}

mkca ca "relaymail test CA"
mkca untrusted-ca "relaymail untrusted test CA"
mkleaf server localhost server_ext ca
mkleaf wrongname wrong.example.org wrongname_ext ca
mkleaf untrusted localhost server_ext untrusted-ca
mkleaf expired localhost server_ext ca 20200101000000Z 20210101000000Z
mkleaf future localhost server_ext ca 20990101000000Z 21000101000000Z
mkleaf client "relaymail test client" client_ext ca

# Certificates are public; keys stay 0600.
chmod 644 ./*.pem
for f in $files; do
	mv -f "$f" "$dir/$f"
done
