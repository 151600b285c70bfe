// What the files of the rules room share (not an interface of the room: rules.hpp is).
#pragma once

#include <string_view>
#include <vector>

#include "edgeshard/core/int_text.hpp"
#include "edgeshard/rules/rules.hpp"

namespace es::rules::detail {

// Expands a log-format value (rules.cpp): plain text as is, anything with '%' built in the arena.
// False when the arena is full.
bool expand(const Txn& t, std::string_view fmt, std::string_view& out);
// A header value or request line part must stay one line whatever a sample brought in.
bool single_line(std::string_view v);
// set-header / add-header / del-header on `msg` (rules.cpp).
bool header_action(const config::HttpRule& r, http::MessageHead* msg, Txn& t);
// replace-header / replace-value (on the request, or the response with `response`), the request line's
// rewrites, set-status, strict-mode (rewrite.cpp). False: the rewrite failed (no room).
bool rewrite_action(const config::HttpRule& r, Txn& t, bool response);
// HAProxy's exp_replace: `fmt` with \0..\9 (the match, its groups), \xHH and \<c> (rewrite.cpp).
// False on a lone '\' at the end or a bad \x.
bool put_replacement(ArenaWriter& w, std::string_view fmt, const std::vector<std::string_view>& groups);

// A sample expression's value written by `w` (rules.cpp): false for one not evaluated; `present`: a sample.
bool sample_value(const Txn& t, std::string_view expr, ArenaWriter& w, bool& present);
// Control characters (but TAB) and DEL written since `mark` become %XX (HAProxy's http encoding).
void escape_controls(ArenaWriter& w, std::size_t mark);
// A version 4 UUID in lower-case text, written by `w` (unique_id.cpp).
std::string_view uuid4(ArenaWriter& w);

// One converter other than `map*` applied to the value written since `mark` (converters.cpp). False:
// not one of them. `present` false: no sample (then left so).
// `name` and `args` are the converter's, read once from its text `conv` (rules.cpp's per-thread Program).
bool convert(const Txn& t, std::string_view name, std::uint8_t id, const config::ConvArgs& args, std::string_view conv,
             ArenaWriter& w, std::size_t mark, bool& present);

// The type of the sample being built (typed.cpp): its text form is in the arena, an integer in decimal,
// an address as text; what a converter casts its input from (HAProxy's sample_casts).
enum class SmpType : std::uint8_t { Str, Bin, Int, Bool, Ip4, Ip6 };
extern thread_local SmpType g_smp_type;
// HAProxy's read_int64 (core/int_text.hpp, shared with the stick tables' keys)
using core::read_int64;
// The sample `v` (of type g_smp_type) cast: to an integer (false: it has none), to bytes (integers 8
// bytes big-endian, addresses in network order; `buf` holds them), to a string (bytes end at a NUL).
bool smp_int(std::string_view v, std::int64_t& out);
std::string_view smp_bin(std::string_view v, char (&buf)[16]);
std::string_view smp_str(std::string_view v);
// The typed converters (hashes, hex, bytes, trims, concat, json, integer operators, ipmask) on the value
// written since `mark`; false: not one of them.
bool convert_typed(const Txn& t, std::uint8_t id, const config::ConvArgs& a, ArenaWriter& w, std::size_t mark,
                   bool& present);
// The id convert_typed knows a converter by (0: not a typed one), found once when the expression is read.
std::uint8_t typed_conv_id(std::string_view name);
// The typed fetches (int, str, bool, bin, req.hdr_cnt, req.hdr_ip, base, base32, base32+src,
// req.body_size); false: not one of them. `present`: 1 a sample, 0 none.
bool fetch_typed(const Txn& t, std::string_view expr, ArenaWriter& w, int& present);
// The same with its name and arguments read already (rules.cpp's Program); is_typed_fetch: one of them.
bool fetch_typed(const Txn& t, std::string_view name, const config::ConvArgs& args, ArenaWriter& w, int& present);
bool is_typed_fetch(std::string_view name);
// A stick counter's fetch (sc_*, sc<N>_*, src_*) as a sample, read once with its expression (rules.cpp's Program);
// its named table is found again only when the configuration snapshot changes.
struct StickSample {
    mutable config::Acl acl;  // (stick_table set per call: the proxy's own table depends on the rules running)
    mutable const config::Config* cfg = nullptr;
    mutable int named = -1;
};
bool fetch_stick(const Txn& t, const StickSample& s, ArenaWriter& w, int& present);
// A table_* converter step (the same Program): the input sample (its text and g_smp_type) cast to the table's key and
// looked up; an integer (0 for an absent key) or no sample (no key, a datum the table does not store).
struct TableStep {
    const config::TableConv* conv = nullptr;
    mutable const config::Config* cfg = nullptr;  // the named table's id is this snapshot's
    mutable int named = -1;
};
void convert_table(const Txn& t, const TableStep& s, const config::ConvArgs& a, ArenaWriter& w, std::size_t mark,
                   bool& present);
// A typed sample as a stick-table key's source (stick.cpp); `ss` holds an address.
bool key_source(std::string_view text, stick::KeySource& v, sockaddr_storage& ss);

}  // namespace es::rules::detail
