// The one op table of the proxy: every operation a data shard's proxy puts on its ring, as named
// in the completion's user_data (shard::UserData::op), and which object the completion belongs to.
// Dispatch (Worker::on_cqe) reads the owner from this table, not from numeric ranges spread over
// several headers; debug output names an op with op_name().
#pragma once

#include <cstdint>

namespace es::proxy {

enum Op : std::uint8_t {
    // listeners (obj = listener index)
    kOpAccept = 8,  // shard::kFirstHandlerOp
    kOpCancelAccept,
    // L4 session (obj = Session*): side 0 is the client, 1 the server
    kOpSocket,
    kOpSockopt,
    kOpConnect,
    kOpConnTimeout,
    kOpRecv0,
    kOpRecv1,
    kOpSend0,  // send to side 0 / 1
    kOpSend1,
    kOpShut0,
    kOpShut1,
    kOpPollIn0,
    kOpPollIn1,
    kOpPollOut0,
    kOpPollOut1,
    kOpInstall0,
    kOpInstall1,
    kOpCancel,
    kOpClose,
    kOpPpSend,  // the PROXY header to the server, before anything else
    // HTTP client connection (obj = H1Conn*)
    kHOpCliRecv,
    kHOpCliSend,
    kHOpCliShut,
    kHOpCliCancel,
    kHOpCliInstall,  // FIXED_FD_INSTALL: a regular fd for splice(2)
    kHOpCliPollOut,  // room on the client socket for spliced bytes
    kHOpCliClose,
    // HTTP server connection (obj = H1SrvConn*)
    kHOpSrvSocket,
    kHOpSrvSockopt,
    kHOpSrvConnect,
    kHOpSrvTimeout,
    kHOpSrvRecv,
    kHOpSrvSend,
    kHOpSrvCancel,
    kHOpSrvClose,
    kHOpSrvInstall,
    kHOpSrvPollIn,  // bytes on the server socket for the spliced body
    kHOpSrvShut,    // SHUT_WR: the client half-closed a tunnel
    // a connection before its protocol starts (obj = Preface*): PROXY header, local address
    kOpPpPeek,
    kOpPpEat,
    kOpPpInstall,
    kOpPpCancel,
    kOpPpClose,
    kOpEnd
};

enum class OpOwner : std::uint8_t { None, Listener, L4Session, HttpClient, HttpServer, Preface };

namespace detail {
// owners apart from names: dispatch reads one byte per completion from a 256-byte table
struct OpTable {
    OpOwner owner[256]{};
    const char* name[256]{};
    constexpr OpTable() {
        for (auto& n : name) n = "?";
        auto set = [this](Op op, OpOwner o, const char* n) {
            owner[op] = o;
            name[op] = n;
        };
        set(kOpAccept, OpOwner::Listener, "accept");
        set(kOpCancelAccept, OpOwner::Listener, "cancel-accept");
        set(kOpSocket, OpOwner::L4Session, "socket");
        set(kOpSockopt, OpOwner::L4Session, "sockopt");
        set(kOpConnect, OpOwner::L4Session, "connect");
        set(kOpConnTimeout, OpOwner::L4Session, "connect-timeout");
        set(kOpRecv0, OpOwner::L4Session, "recv-client");
        set(kOpRecv1, OpOwner::L4Session, "recv-server");
        set(kOpSend0, OpOwner::L4Session, "send-client");
        set(kOpSend1, OpOwner::L4Session, "send-server");
        set(kOpShut0, OpOwner::L4Session, "shut-client");
        set(kOpShut1, OpOwner::L4Session, "shut-server");
        set(kOpPollIn0, OpOwner::L4Session, "pollin-client");
        set(kOpPollIn1, OpOwner::L4Session, "pollin-server");
        set(kOpPollOut0, OpOwner::L4Session, "pollout-client");
        set(kOpPollOut1, OpOwner::L4Session, "pollout-server");
        set(kOpInstall0, OpOwner::L4Session, "install-client");
        set(kOpInstall1, OpOwner::L4Session, "install-server");
        set(kOpCancel, OpOwner::L4Session, "cancel");
        set(kOpClose, OpOwner::L4Session, "close");
        set(kOpPpSend, OpOwner::L4Session, "pp-send");
        set(kHOpCliRecv, OpOwner::HttpClient, "h1-cli-recv");
        set(kHOpCliSend, OpOwner::HttpClient, "h1-cli-send");
        set(kHOpCliShut, OpOwner::HttpClient, "h1-cli-shut");
        set(kHOpCliCancel, OpOwner::HttpClient, "h1-cli-cancel");
        set(kHOpCliInstall, OpOwner::HttpClient, "h1-cli-install");
        set(kHOpCliPollOut, OpOwner::HttpClient, "h1-cli-pollout");
        set(kHOpCliClose, OpOwner::HttpClient, "h1-cli-close");
        set(kHOpSrvSocket, OpOwner::HttpServer, "h1-srv-socket");
        set(kHOpSrvSockopt, OpOwner::HttpServer, "h1-srv-sockopt");
        set(kHOpSrvConnect, OpOwner::HttpServer, "h1-srv-connect");
        set(kHOpSrvTimeout, OpOwner::HttpServer, "h1-srv-connect-timeout");
        set(kHOpSrvRecv, OpOwner::HttpServer, "h1-srv-recv");
        set(kHOpSrvSend, OpOwner::HttpServer, "h1-srv-send");
        set(kHOpSrvCancel, OpOwner::HttpServer, "h1-srv-cancel");
        set(kHOpSrvClose, OpOwner::HttpServer, "h1-srv-close");
        set(kHOpSrvInstall, OpOwner::HttpServer, "h1-srv-install");
        set(kHOpSrvPollIn, OpOwner::HttpServer, "h1-srv-pollin");
        set(kHOpSrvShut, OpOwner::HttpServer, "h1-srv-shut");
        set(kOpPpPeek, OpOwner::Preface, "pp-peek");
        set(kOpPpEat, OpOwner::Preface, "pp-eat");
        set(kOpPpInstall, OpOwner::Preface, "pp-install");
        set(kOpPpCancel, OpOwner::Preface, "pp-cancel");
        set(kOpPpClose, OpOwner::Preface, "pp-close");
    }
};
inline constexpr OpTable kOpTable{};
}  // namespace detail

constexpr OpOwner op_owner(std::uint8_t op) { return detail::kOpTable.owner[op]; }
constexpr const char* op_name(std::uint8_t op) { return detail::kOpTable.name[op]; }

static_assert(kOpEnd <= 64, "ops fit the user_data op byte with room for the reactor's");
static_assert(op_owner(kOpClose) == OpOwner::L4Session && op_owner(kHOpCliClose) == OpOwner::HttpClient &&
              op_owner(kHOpSrvShut) == OpOwner::HttpServer);

}  // namespace es::proxy
