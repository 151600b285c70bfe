// control room: the reload handoff, protocol v1 (src/control/README.md "Reload").
// The state block (encode/decode, and decode on hostile input), then both ends of the exchange
// over a real Unix stream socket in one process: a thread plays the running process (accepts,
// reads `_handoff 1`, send_listeners(), answers or refuses `_commit`), take_over() and commit()
// run on the test thread. The descriptors handed over are real listening sockets; each received
// one must be the same socket (same inode, same local address) as the one sent, in seq order.
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <fcntl.h>
#include <dirent.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "edgeshard/control/handoff.hpp"

using namespace es::control;
using es::shard::ListenerRecord;
using es::shard::ServerAdmin;

using namespace std::string_literals;

namespace {

handoff::State sample_state() {
    handoff::State s;
    s.pid = 4242;
    s.generation = 7;
    s.reloads = 3;
    s.servers.push_back({"be app", "srv 1", 10, ServerAdmin::Ready});
    s.servers.push_back({"be%25", "s\nnewline", 0, ServerAdmin::Drain});
    s.servers.push_back({"", "", 256, ServerAdmin::Maint});  // empty names travel as "%"
    s.servers.push_back({"tab\there", "hash#and\x7f\xff", 1, ServerAdmin::Maint});
    // the totals text is carried by length: lines that look like the block's own keywords are data
    s.totals = "fe,conn,12\nend\nserver x y 1 0\ntotals 99\n\0binary"s;
    s.ticket_keys = "0 QUJD QUJD";  // carried as text; tls::TicketKeys::decode judges it
    return s;
}

void check_same(const handoff::State& a, const handoff::State& b) {
    CHECK(a.pid == b.pid);
    CHECK(a.generation == b.generation);
    CHECK(a.reloads == b.reloads);
    REQUIRE(a.servers.size() == b.servers.size());
    for (std::size_t i = 0; i < a.servers.size(); ++i) {
        CAPTURE(i);
        CHECK(a.servers[i].backend == b.servers[i].backend);
        CHECK(a.servers[i].server == b.servers[i].server);
        CHECK(a.servers[i].weight == b.servers[i].weight);
        CHECK(a.servers[i].admin == b.servers[i].admin);
    }
    CHECK(a.totals == b.totals);
    CHECK(a.ticket_keys == b.ticket_keys);
}

// decode_state on `text`: "" when it decodes, else "throws"; any other exception type fails.
std::string decode_outcome(std::string_view text) {
    try {
        (void)handoff::decode_state(text);
        return "";
    } catch (const std::runtime_error&) {
        return "throws";
    }
}

int open_fd_count() {
    int n = 0;
    if (DIR* d = opendir("/proc/self/fd")) {
        while (const dirent* e = readdir(d))
            if (e->d_name[0] != '.') ++n;
        closedir(d);
    }
    return n;
}

// ---- sockets

int tcp_listener(int& port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(fd, 16) == 0);
    socklen_t len = sizeof a;
    REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
    return fd;
}

int unix_listener(const std::string& path) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof sun.sun_path);
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    unlink(path.c_str());
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0);
    REQUIRE(listen(fd, 16) == 0);
    return fd;
}

ino_t inode_of(int fd) {
    struct stat st {};
    REQUIRE(fstat(fd, &st) == 0);
    return st.st_ino;
}

std::string local_name(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0);
    if (ss.ss_family == AF_INET) return "port " + std::to_string(ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port));
    if (ss.ss_family == AF_UNIX) return std::string("unix ") + reinterpret_cast<sockaddr_un*>(&ss)->sun_path;
    return "family " + std::to_string(ss.ss_family);
}

bool wait_readable(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, ms) == 1;
}

// One line from a blocking-with-timeout read, byte by byte ("" on EOF or timeout).
std::string read_line(int fd) {
    std::string l;
    for (;;) {
        if (!wait_readable(fd, 5000)) return l;
        char c;
        if (recv(fd, &c, 1, 0) != 1) return l;
        if (c == '\n') return l;
        l.push_back(c);
    }
}

void write_raw(int fd, std::string_view s) {
    REQUIRE(send(fd, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size()));
}

// Sends `text` with `fds` attached (SCM_RIGHTS), as a misbehaving peer would.
void write_with_fds(int fd, std::string_view text, const std::vector<int>& fds) {
    iovec iov{const_cast<char*>(text.data()), text.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    std::vector<char> cbuf(CMSG_SPACE(sizeof(int) * fds.size()));
    if (!fds.empty()) {
        msg.msg_control = cbuf.data();
        msg.msg_controllen = cbuf.size();
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    REQUIRE(sendmsg(fd, &msg, MSG_NOSIGNAL) == ssize_t(text.size()));
}

// The running process's side: a Unix listening socket at a fresh path; serve() accepts one
// client in a thread and runs `script` on it, then closes it. The destructor joins the thread.
struct FakeOld {
    std::string dir, path;
    int lfd = -1;
    std::thread th;

    FakeOld() {
        char tmpl[] = "/tmp/es-handoff-test-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        path = dir + "/admin.sock";
        lfd = unix_listener(path);
    }

    void serve(std::function<void(int)> script) {
        th = std::thread([this, script = std::move(script)] {
            if (!wait_readable(lfd, 10000)) return;
            const int c = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) return;
            script(c);
            close(c);
        });
    }

    void join() {
        if (th.joinable()) th.join();
    }

    ~FakeOld() {
        join();
        if (lfd >= 0) close(lfd);
        unlink(path.c_str());
        rmdir(dir.c_str());
    }
};

void close_taken(handoff::Taken& t) {
    for (auto& l : t.listeners) close(l.fd);
    t.listeners.clear();
    if (t.fd >= 0) close(t.fd);
    t.fd = -1;
}

// A script for the running process: reads `_handoff 1`, sends `ls` and `st`.
void greet(int c, const std::vector<ListenerRecord>& ls, const handoff::State& st) {
    REQUIRE(read_line(c) == "_handoff 1");
    REQUIRE(handoff::send_listeners(c, ls, st) == "");
}

std::string take_over_error(const std::string& path) {
    try {
        handoff::Taken t = handoff::take_over(path);
        close_taken(t);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("handoff state: encode/decode round trip keeps names, admin states, weights, totals") {
    const handoff::State s = sample_state();
    const std::string text = handoff::encode_state(s);
    CHECK(text.starts_with("es-state 1\n"));
    CHECK(text.ends_with("end\n"));
    // names are single words: no raw space, newline or '%' from a name survives into the text
    CHECK(text.find("be app") == std::string::npos);
    CHECK(text.find("be%2525") != std::string::npos);
    check_same(handoff::decode_state(text), s);

    handoff::State empty;
    check_same(handoff::decode_state(handoff::encode_state(empty)), empty);
    CHECK(handoff::decode_state(handoff::encode_state(empty)).generation == 1);
}

TEST_CASE("handoff state: every admin state and the weight bounds travel") {
    for (const ServerAdmin a : {ServerAdmin::Ready, ServerAdmin::Drain, ServerAdmin::Maint})
        for (const int w : {0, 1, 100, 256}) {
            handoff::State s;
            s.servers.push_back({"b", "s", w, a});
            const handoff::State d = handoff::decode_state(handoff::encode_state(s));
            REQUIRE(d.servers.size() == 1);
            CHECK(d.servers[0].weight == w);
            CHECK(d.servers[0].admin == a);
        }
}

TEST_CASE("handoff state: every truncation of a valid block is rejected") {
    const std::string text = handoff::encode_state(sample_state());
    for (std::size_t n = 0; n < text.size(); ++n) {
        CAPTURE(n);
        CHECK(decode_outcome(std::string_view(text).substr(0, n)) == "throws");
    }
    CHECK(decode_outcome(text) == "");
}

TEST_CASE("handoff state: bad versions, numbers, admin values and escapes are rejected") {
    const auto wrap = [](const std::string& body) { return "es-state 1\n" + body + "end\n"; };
    CHECK(decode_outcome("") == "throws");
    CHECK(decode_outcome("es-state 2\nend\n") == "throws");
    CHECK(decode_outcome("es-state\nend\n") == "throws");
    CHECK(decode_outcome("es-state 1 \nend\n") == "throws");
    CHECK(decode_outcome(wrap("pid x\n")) == "throws");
    CHECK(decode_outcome(wrap("pid 12x\n")) == "throws");
    CHECK(decode_outcome(wrap("pid +5\n")) == "throws");
    CHECK(decode_outcome(wrap("pid 99999999999999999999\n")) == "throws");
    CHECK(decode_outcome(wrap("generation 1.5\n")) == "throws");
    CHECK(decode_outcome(wrap("reloads -\n")) == "throws");
    CHECK(decode_outcome(wrap("server b s 257 0\n")) == "throws");
    CHECK(decode_outcome(wrap("server b s -1 0\n")) == "throws");
    CHECK(decode_outcome(wrap("server b s ten 0\n")) == "throws");
    CHECK(decode_outcome(wrap("server b s 1 3\n")) == "throws");
    CHECK(decode_outcome(wrap("server b s 1 -1\n")) == "throws");
    CHECK(decode_outcome(wrap("server b s 1 maint\n")) == "throws");
    CHECK(decode_outcome(wrap("server b%G0 s 1 0\n")) == "throws");
    CHECK(decode_outcome(wrap("server b% s 1 0\n")) == "throws");  // '%' alone only as a whole name
    CHECK(decode_outcome(wrap("server b s%4 1 0\n")) == "throws");
    CHECK(decode_outcome(wrap("totals 1000000\nabc\n")) == "throws");
    CHECK(decode_outcome(wrap("totals -1\n")) == "throws");
    CHECK(decode_outcome("es-state 1\npid 1\n") == "throws");  // no end

    // a newer sender's lines (unknown keywords, other arities) are skipped, not errors
    const handoff::State d = handoff::decode_state(wrap("pid 9\nfuture-field 1 2 3\n\npid 1 2\npool 0 p -1\n"));
    CHECK(d.pid == 9);
    // lower-case hex escapes are accepted
    const handoff::State e = handoff::decode_state(wrap("server a%20b c 1 2\n"));
    REQUIRE(e.servers.size() == 1);
    CHECK(e.servers[0].backend == "a b");
    CHECK(e.servers[0].admin == ServerAdmin::Maint);
    const handoff::State t = handoff::decode_state(wrap("totals 4\nab\ncd\n"));
    CHECK(t.totals == "ab\nc");  // exactly the length given; the rest is the next line ("d")
}

TEST_CASE("handoff state: random and mutated input never crashes the decoder") {
    std::mt19937 rng(12345);
    const std::string valid = handoff::encode_state(sample_state());
    int decoded = 0, rejected = 0;
    for (int i = 0; i < 3000; ++i) {
        std::string t;
        if (i % 3 == 0) {
            t.resize(rng() % 200);
            for (auto& c : t) c = char(rng());
            if (i % 2) t = "es-state 1\n" + t;
        } else {
            t = valid;
            const int flips = 1 + int(rng() % 4);
            for (int k = 0; k < flips; ++k) {
                const std::size_t at = rng() % t.size();
                switch (rng() % 3) {
                case 0: t[at] = char(rng()); break;
                case 1: t.erase(at, 1 + rng() % 8); break;
                default: t.insert(at, 1, "\n %0123456789-"[rng() % 15]); break;
                }
            }
        }
        const std::string r = decode_outcome(t);
        (r.empty() ? decoded : rejected)++;
    }
    CHECK(decoded + rejected == 3000);
    CHECK(rejected > 1000);
}

TEST_CASE("handoff: send_listeners + take_over hand the same sockets over, in seq order") {
    FakeOld old;
    int p1 = 0, p2 = 0, p3 = 0;
    const int t1 = tcp_listener(p1), t2 = tcp_listener(p2), t3 = tcp_listener(p3);
    const std::string upath = old.dir + "/l.sock";
    const int u1 = unix_listener(upath);

    std::vector<ListenerRecord> ls;
    const int fds[] = {t1, t2, t3, u1};
    const char* frontends[] = {"fe_http", "fe with space", "fe#hash%pct", "fe_unix"};
    for (int i = 0; i < 4; ++i) {
        ListenerRecord r;
        r.seq = i;
        r.shard = i % 2;
        r.frontend = frontends[i];
        r.bind = i * 3;
        r.addr = i < 3 ? "127.0.0.1:" + std::to_string(i == 0 ? p1 : i == 1 ? p2 : p3) : "unix@" + upath;
        r.fd = fds[i];
        ls.push_back(r);
    }
    const handoff::State st = sample_state();
    std::string commit_line;
    old.serve([&](int c) {
        greet(c, ls, st);
        commit_line = read_line(c);
        write_raw(c, "committed\n");
        // after the commit: frames on the same connection
        CHECK(handoff::send_frame(c, "olds", "1"));
        CHECK(handoff::send_frame(c, "totals", "a\nb\n\0c"s));
        // hold the connection until the other side has read the frames
        (void)wait_readable(c, 5000);
    });

    handoff::Taken t = handoff::take_over(old.path);
    CHECK(t.pid == st.pid);
    REQUIRE(t.listeners.size() == 4);
    for (int i = 0; i < 4; ++i) {
        CAPTURE(i);
        const ListenerRecord& got = t.listeners[std::size_t(i)];
        CHECK(got.seq == i);
        CHECK(got.shard == ls[std::size_t(i)].shard);
        CHECK(got.frontend == ls[std::size_t(i)].frontend);
        CHECK(got.bind == ls[std::size_t(i)].bind);
        CHECK(got.addr == ls[std::size_t(i)].addr);
        REQUIRE(got.fd >= 0);
        CHECK(got.fd != fds[i]);  // our own copy
        CHECK(inode_of(got.fd) == inode_of(fds[i]));
        CHECK(local_name(got.fd) == local_name(fds[i]));
        CHECK((fcntl(got.fd, F_GETFD) & FD_CLOEXEC) != 0);  // not leaked into a later exec
        int acc = 0;
        socklen_t len = sizeof acc;
        CHECK(getsockopt(got.fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0);
        CHECK(acc == 1);
    }
    check_same(t.state, st);

    handoff::commit(t, {0, 2, 3});
    std::string kind, payload;
    REQUIRE(handoff::read_frame(t.fd, kind, payload, 2000));
    CHECK(kind == "olds");
    CHECK(payload == "1");
    REQUIRE(handoff::read_frame(t.fd, kind, payload, 2000));
    CHECK(kind == "totals");
    CHECK(payload == "a\nb\n\0c"s);

    // a client of the original socket is accepted on the received copy: one queue, two holders
    const int cl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(std::uint16_t(p2));
    REQUIRE(connect(cl, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(wait_readable(t.listeners[1].fd, 2000));
    const int acc = accept4(t.listeners[1].fd, nullptr, nullptr, SOCK_CLOEXEC);
    CHECK(acc >= 0);
    if (acc >= 0) close(acc);
    close(cl);

    close_taken(t);
    old.join();
    CHECK(commit_line == "_commit 0,2,3");
    for (const int fd : fds) close(fd);
    unlink(upath.c_str());
}

TEST_CASE("handoff: more listeners than one SCM_RIGHTS batch") {
    // 450 records over 4 real sockets: the same socket may be sent several times, and each
    // arrives as its own descriptor; 450 > 2 * kBatch makes three batches
    rlimit rl{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_cur < 2048 && rl.rlim_max >= 2048) {
        rl.rlim_cur = 2048;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_cur < 1024) {
        MESSAGE("RLIMIT_NOFILE below 1024: batching not exercised");
        return;
    }
    constexpr int kCount = 450;
    static_assert(kCount > 2 * int(handoff::kBatch));
    FakeOld old;
    int ports[3];
    int base[4];
    for (int i = 0; i < 3; ++i) base[i] = tcp_listener(ports[i]);
    const std::string upath = old.dir + "/l.sock";
    base[3] = unix_listener(upath);
    std::vector<ListenerRecord> ls;
    for (int i = 0; i < kCount; ++i) {
        ListenerRecord r;
        r.seq = i;
        r.shard = i / 4;
        r.frontend = "fe" + std::to_string(i % 4);
        r.bind = 0;
        r.addr = i % 4 == 3 ? "unix@" + upath : "127.0.0.1:" + std::to_string(ports[i % 4]);
        r.fd = base[i % 4];
        ls.push_back(r);
    }
    const int before = open_fd_count();
    old.serve([&](int c) {
        greet(c, ls, handoff::State{});
        if (read_line(c) == "_commit -") write_raw(c, "committed\n");
    });
    handoff::Taken t = handoff::take_over(old.path);
    REQUIRE(t.listeners.size() == std::size_t(kCount));
    for (int i = 0; i < kCount; ++i) {
        CAPTURE(i);
        const ListenerRecord& got = t.listeners[std::size_t(i)];
        CHECK(got.seq == i);
        CHECK(got.shard == i / 4);
        CHECK(inode_of(got.fd) == inode_of(base[i % 4]));
        CHECK(local_name(got.fd) == local_name(base[i % 4]));
    }
    handoff::commit(t, {});  // nothing adopted: "_commit -"
    close_taken(t);
    old.join();
    CHECK(open_fd_count() == before);  // every received descriptor was ours to close, and was closed
    for (const int fd : base) close(fd);
    unlink(upath.c_str());
}

TEST_CASE("handoff: commit is refused or the running process goes away") {
    int port = 0;
    const int l = tcp_listener(port);
    std::vector<ListenerRecord> ls{{0, 0, "fe", 0, "127.0.0.1:" + std::to_string(port), l}};

    SUBCASE("closed instead of answering") {
        FakeOld old;
        old.serve([&](int c) {
            greet(c, ls, handoff::State{});
            (void)read_line(c);
        });
        handoff::Taken t = handoff::take_over(old.path);
        CHECK_THROWS_AS(handoff::commit(t, {0}), std::runtime_error);
        close_taken(t);
    }
    SUBCASE("refused") {
        FakeOld old;
        old.serve([&](int c) {
            greet(c, ls, handoff::State{});
            (void)read_line(c);
            write_raw(c, "refused: this process is already stopping\n");
        });
        handoff::Taken t = handoff::take_over(old.path);
        std::string what;
        try {
            handoff::commit(t, {0});
        } catch (const std::runtime_error& e) {
            what = e.what();
        }
        CHECK(what.find("already stopping") != std::string::npos);
        close_taken(t);
    }
    close(l);
}

TEST_CASE("handoff: take_over rejects refusals and broken peers, leaving nothing open") {
    int port = 0;
    const int l = tcp_listener(port);
    const std::string line = "L 0 0 fe#0 127.0.0.1:" + std::to_string(port) + "\n";
    const std::string state = handoff::encode_state(handoff::State{});
    const std::string state_block = "state " + std::to_string(state.size()) + "\n" + state;

    struct Case {
        const char* name;
        std::function<void(int)> script;
        const char* expect;  // part of the error text
    };
    const std::vector<Case> cases = {
        {"not admin",
         [](int c) {
             (void)read_line(c);
             write_raw(c, "refused: the stats socket needs 'level admin'\n");
         },
         "level admin"},
        {"closed at once", [](int c) { (void)read_line(c); }, "closed"},
        {"other version",
         [](int c) {
             (void)read_line(c);
             write_raw(c, "handoff 2 pid=1 gen=1 listeners=0\n");
         },
         "version"},
        {"a listener line without its socket",
         [&](int c) {
             (void)read_line(c);
             write_raw(c, "handoff 1 pid=1 gen=1 listeners=1\n" + line);
         },
         "without its socket"},
        {"fewer listeners than announced",
         [&](int c) {
             (void)read_line(c);
             write_with_fds(c, "handoff 1 pid=1 gen=1 listeners=2\n" + line, {l});
         },
         "closed"},
        {"garbled listener line",
         [&](int c) {
             (void)read_line(c);
             write_with_fds(c, "handoff 1 pid=1 gen=1 listeners=1\nL x 0 fe#0 a\n", {l});
         },
         "seq"},
        {"bind identity without '#'",
         [&](int c) {
             (void)read_line(c);
             write_with_fds(c, "handoff 1 pid=1 gen=1 listeners=1\nL 0 0 fe 127.0.0.1:1\n", {l});
         },
         "bind identity"},
        {"absurd listener count",
         [](int c) {
             (void)read_line(c);
             write_raw(c, "handoff 1 pid=1 gen=1 listeners=9999999\n");
         },
         "listener count"},
        {"state too large",
         [&](int c) {
             (void)read_line(c);
             write_with_fds(c, "handoff 1 pid=1 gen=1 listeners=1\n" + line + "state 99999999999\n", {l});
         },
         "too large"},
        {"bad state",
         [&](int c) {
             (void)read_line(c);
             write_with_fds(c, "handoff 1 pid=1 gen=1 listeners=1\n" + line + "state 12\nes-state 9\n\nend\n", {l});
         },
         "unknown version"},
        {"no end",
         [&](int c) {
             (void)read_line(c);
             write_with_fds(c, "handoff 1 pid=1 gen=1 listeners=1\n" + line + state_block + "more\n", {l});
         },
         "end"},
    };
    for (const Case& k : cases) {
        CAPTURE(k.name);
        const int before = open_fd_count();
        std::string what;
        {
            FakeOld old;
            old.serve(k.script);
            what = take_over_error(old.path);
        }
        CHECK(what.find(k.expect) != std::string::npos);
        CHECK(what.find("-x ") == 0);  // says which option failed
        CHECK(open_fd_count() == before);
    }

    // no such socket
    CHECK(take_over_error("/nonexistent/edgeshard-handoff.sock").find("cannot reach") != std::string::npos);
    close(l);
}

TEST_CASE("handoff frames: round trip, several in a row, and rejection of bad ones") {
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    std::string kind, payload;

    REQUIRE(handoff::send_frame(sv[0], "final", "x\ny"));
    REQUIRE(handoff::send_frame(sv[0], "answer", ""));
    const std::string big(1 << 20, 'z');
    std::thread writer([&] { CHECK(handoff::send_frame(sv[0], "totals", big)); });
    REQUIRE(handoff::read_frame(sv[1], kind, payload, 2000));
    CHECK(kind == "final");
    CHECK(payload == "x\ny");
    REQUIRE(handoff::read_frame(sv[1], kind, payload, 2000));
    CHECK(kind == "answer");
    CHECK(payload.empty());
    REQUIRE(handoff::read_frame(sv[1], kind, payload, 5000));
    writer.join();
    CHECK(kind == "totals");
    CHECK(payload == big);

    const auto bad = [&](const std::string& raw) {
        int p[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) == 0);
        write_raw(p[0], raw);
        close(p[0]);
        std::string k, v;
        const bool ok = handoff::read_frame(p[1], k, v, 1000);
        close(p[1]);
        return !ok;
    };
    CHECK(bad("totals 99999999999\n"));                                            // over kMaxState
    CHECK(bad("totals " + std::to_string(handoff::kMaxState + 1) + "\n"));        // just over
    CHECK(bad("totals\n"));                                                       // no length
    CHECK(bad("totals 1 2\n"));                                                   // extra word
    CHECK(bad("totals 12x\nabc\n"));                                              // not a number
    CHECK(bad("totals -1\n"));
    CHECK(bad(std::string(100, 'k') + " 1\nx"));                                  // header too long
    CHECK(bad("totals 10\nshort"));                                               // EOF in the payload
    CHECK(bad(""));                                                               // EOF
    CHECK(!bad("totals 3\nabc"));                                                 // the control: valid

    // nothing arrives: false once the timeout has passed, not before, not much after
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(!handoff::read_frame(sv[1], kind, payload, 200));
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    CHECK(ms >= 150);
    CHECK(ms < 3000);
    close(sv[0]);
    close(sv[1]);
}
