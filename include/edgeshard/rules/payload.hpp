// What mode tcp rules read in the client's first bytes before a backend is chosen: the TLS record
// header and the ClientHello (server name, handshake type, record version). Pure and bounded: every
// length read from the input is checked against what is there before it is used, nothing allocates,
// and a result never points outside `b`. The caller holds the bytes (proxy/tcp_session.cpp) and asks
// again as more arrive.
#pragma once

#include <cstdint>
#include <string_view>

namespace es::rules {

// Found: the value is known and will not change with more bytes. NeedMore: the bytes held so far are a
// prefix of what could still carry the value (a record longer than what is buffered counts as "not
// yet"). Absent: these bytes cannot carry it (not TLS, not a ClientHello, no server_name extension,
// or malformed).
enum class Peek : std::uint8_t { Found, NeedMore, Absent };

// The largest TLS record accepted as a hello: 2^14 bytes of plaintext plus the 2048 bytes RFC 5246
// allows for expansion. A record header announcing more is not TLS.
inline constexpr std::uint32_t kMaxTlsRecord = 16384 + 2048;

// req.ssl_hello_type: a handshake record (type 22, version 3.x) whose first handshake message header
// is complete; `type` is its handshake type (1 = ClientHello, 2 = ServerHello). The message must be
// held whole (or the whole record when the message runs past it).
Peek ssl_hello_type(std::string_view b, int& type);

// req.ssl_ver: the record layer's version of a record of type 20..23 with version 3.x, as
// major * 65536 + minor (TLS 1.0 = 3.1 = 196609), once the whole record is held. TLS 1.3 clients
// announce 3.1 here. SSLv2-format hellos are Absent.
Peek ssl_record_version(std::string_view b, std::int64_t& version);

// req.ssl_sni: the host_name of the server_name extension of a ClientHello held whole in the first
// record (a hello spread over several records is Absent). `name` points into `b`; 1..255 bytes.
Peek ssl_sni(std::string_view b, std::string_view& name);

}  // namespace es::rules
