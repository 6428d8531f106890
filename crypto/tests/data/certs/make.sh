#!/bin/sh
# Regenerates the test certificates and keys (OpenSSL 3.0). Dates are fixed with
# `openssl ca -startdate/-enddate` so the tests can pass a fixed wall-clock time
# (2027-01-01T00:00:00Z) and get the same verdicts every year.
set -eu
cd "$(dirname "$0")"
rm -f ./*.pem ./*.der ./*.key
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/ca.cnf" <<CNF
[ca]
default_ca = ca_default
[ca_default]
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = policy_any
copy_extensions = none
unique_subject = no
[policy_any]
countryName = optional
organizationName = optional
commonName = supplied
[v3_ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_ee]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
subjectAltName = \$ENV::SAN
[v3_ee_nodigsig]
basicConstraints = CA:false
keyUsage = critical, keyEncipherment
[v3_req_x509]
basicConstraints = critical, CA:true
subjectKeyIdentifier = hash
[v3_self]
basicConstraints = CA:false
keyUsage = digitalSignature
subjectAltName = \$ENV::SAN
CNF
: >"$work/index.txt"
echo 01 >"$work/serial"

# issue <name> <subject> <issuer-name|self> <ext> <start> <end> [extra ca args]
issue() {
    name=$1 subj=$2 issuer=$3 ext=$4 start=$5 end=$6
    shift 6
    openssl req -new -key "$name.key.pem" -subj "$subj" -out "$work/$name.csr" 2>/dev/null
    if [ "$issuer" = self ]; then
        set -- -selfsign -keyfile "$name.key.pem" "$@"
    else
        set -- -cert "$issuer.pem" -keyfile "$issuer.key.pem" "$@"
    fi
    openssl ca -batch -notext -config "$work/ca.cnf" -extensions "$ext" \
        -startdate "$start" -enddate "$end" -in "$work/$name.csr" -out "$name.pem" "$@" 2>/dev/null
}
now_ok_start=20260101000000Z
now_ok_end=20360101000000Z

openssl genrsa -traditional -out ca-rsa.key.pem 2048 2>/dev/null
SAN=DNS:unused issue ca-rsa "/C=CH/O=iked test/CN=iked test root CA" self v3_ca $now_ok_start $now_ok_end

openssl ecparam -name prime256v1 -genkey -noout -out int-p256.key.pem
SAN=DNS:unused issue int-p256 "/C=CH/O=iked test/CN=iked test intermediate CA" ca-rsa v3_ca $now_ok_start $now_ok_end

openssl genrsa -out other-ca.key.pem 2048 2>/dev/null
SAN=DNS:unused issue other-ca "/C=CH/O=other/CN=other root CA" self v3_ca $now_ok_start $now_ok_end

# End entities. RSA 2048 with PKCS#1 key file, all SAN kinds.
openssl genrsa -traditional -out bfl-rsa.key.pem 2048 2>/dev/null
SAN="DNS:bfl.example.org,IP:192.168.50.1,IP:2001:db8::1,email:bfl@example.org" \
    issue bfl-rsa "/C=CH/O=iked test/CN=bfl" ca-rsa v3_ee $now_ok_start $now_ok_end
# ECDSA P-256 (SEC1 key) issued by the intermediate.
openssl ecparam -name prime256v1 -genkey -noout -out bfr-p256.key.pem
SAN=DNS:bfr.example.org issue bfr-p256 "/C=CH/O=iked test/CN=bfr" int-p256 v3_ee $now_ok_start $now_ok_end
# ECDSA P-384 (PKCS#8 key), signed with SHA-256 by the RSA root.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp384r1 -out p384.key.pem
SAN=DNS:p384.example.org issue p384 "/C=CH/O=iked test/CN=p384" ca-rsa v3_ee $now_ok_start $now_ok_end
# Ed25519 (PKCS#8 key).
openssl genpkey -algorithm ED25519 -out ed25519.key.pem
SAN=DNS:ed25519.example.org issue ed25519 "/C=CH/O=iked test/CN=ed25519" ca-rsa v3_ee $now_ok_start $now_ok_end
# RSA key, certificate signed by the root with RSASSA-PSS.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out pss.key.pem 2>/dev/null
SAN=DNS:pss.example.org issue pss "/C=CH/O=iked test/CN=pss" ca-rsa v3_ee $now_ok_start $now_ok_end \
    -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest
# Expired (2020) and not yet valid (2035) certificates from the root.
openssl ecparam -name prime256v1 -genkey -noout -out expired.key.pem
SAN=DNS:expired.example.org issue expired "/C=CH/O=iked test/CN=expired" ca-rsa v3_ee 20200101000000Z 20210101000000Z
openssl ecparam -name prime256v1 -genkey -noout -out future.key.pem
SAN=DNS:future.example.org issue future "/C=CH/O=iked test/CN=future" ca-rsa v3_ee 20350101000000Z 20360101000000Z
# Same name as bfl, issued by another CA.
openssl ecparam -name prime256v1 -genkey -noout -out wrong-ca.key.pem
SAN=DNS:bfl.example.org issue wrong-ca "/C=CH/O=iked test/CN=bfl" other-ca v3_ee $now_ok_start $now_ok_end
# keyUsage without digitalSignature.
openssl ecparam -name prime256v1 -genkey -noout -out nodigsig.key.pem
SAN=DNS:unused issue nodigsig "/C=CH/O=iked test/CN=nodigsig" ca-rsa v3_ee_nodigsig $now_ok_start $now_ok_end
# Issued by an end entity (bfl, CA:false).
openssl ecparam -name prime256v1 -genkey -noout -out by-ee.key.pem
SAN=DNS:unused issue by-ee "/C=CH/O=iked test/CN=by-ee" bfl-rsa v3_ee $now_ok_start $now_ok_end
# Self-signed end entity, as `ovs-pki self-sign` makes for the OVS remote_cert case.
openssl ecparam -name prime256v1 -genkey -noout -out self.key.pem
SAN=DNS:self.example.org issue self "/C=CH/O=iked test/CN=self" self v3_self $now_ok_start $now_ok_end
openssl genrsa -out self-rsa.key.pem 2048 2>/dev/null
SAN=DNS:self-rsa.example.org issue self-rsa "/C=CH/O=iked test/CN=self-rsa" self v3_self $now_ok_start $now_ok_end
# Self-signed CA:TRUE without keyUsage, as `openssl req -x509` (default v3_ca) makes them; CN only.
openssl ecparam -name prime256v1 -genkey -noout -out self-ca.key.pem
SAN=DNS:unused issue self-ca "/CN=host2" self v3_req_x509 $now_ok_start $now_ok_end

# Key encodings: DER forms, PKCS#8 and an encrypted PKCS#8 (passphrase "correct horse").
openssl pkey -in bfl-rsa.key.pem -outform DER -out bfl-rsa.key.der
openssl pkey -in bfr-p256.key.pem -outform DER -out bfr-p256.key.der
openssl pkcs8 -topk8 -nocrypt -in bfr-p256.key.pem -out bfr-p256.pkcs8.pem
openssl pkcs8 -topk8 -v2 aes-256-cbc -passout 'pass:correct horse' -in bfr-p256.key.pem -out bfr-p256.enc.pem
openssl x509 -in bfr-p256.pem -outform DER -out bfr-p256.der
openssl pkey -in bfr-p256.key.pem -pubout -out bfr-p256.pub.pem
