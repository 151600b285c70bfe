// The checks a stapled OCSP response passes, at load (`<crt>.ocsp`, BindTls::load_ocsp) and at run
// time (`set ssl ocsp-response`, match_ocsp in certinfo.cpp). Private to the tls room.
#pragma once

#include <openssl/x509.h>

#include <string>
#include <string_view>

namespace es::tls {

enum class OcspCheck {
    Ok,           // staple it
    NotThisCert,  // a sound response about another certificate
    NoIssuer,     // a sound response, but no issuer to tell which certificate it is about
    Refused,      // `why` says what is wrong with it
};

// A DER response: successful, exactly one status, about `leaf` (issued by `issuer`, which may be
// null: then NoIssuer once the response itself is sound), good, and within its validity (5
// minutes of clock skew allowed).
OcspCheck check_ocsp(std::string_view der, X509* leaf, X509* issuer, std::string& why);

}  // namespace es::tls
