// The stats sockets' files (see cli_listener.hpp).
#include "cli_listener.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace es::control {

namespace {

std::runtime_error sock_error(const std::string& what, const std::string& path, int err) {
    return std::runtime_error("stats socket " + path + ": " + what + ": " + std::strerror(err));
}

}  // namespace

CliListener open_cli_listener(const config::StatsSocket& s) {
    CliListener l;
    l.path = s.path;
    l.level = socket_level(s.level);
    if (s.fd >= 0) {  // fd@N: the socket we were given (checked when the configuration was read)
        l.fd = ::fcntl(s.fd, F_DUPFD_CLOEXEC, 3);
        if (l.fd < 0) throw sock_error("dup", "fd@" + std::to_string(s.fd), errno);
        ::fcntl(l.fd, F_SETFL, ::fcntl(l.fd, F_GETFL) | O_NONBLOCK);
        return l;
    }
    const std::string tmp = s.path + "." + std::to_string(getpid()) + ".tmp";
    sockaddr_un sun{};
    if (tmp.size() >= sizeof sun.sun_path) throw sock_error("path too long", s.path, ENAMETOOLONG);

    struct stat st {};
    if (lstat(s.path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
        throw std::runtime_error("stats socket " + s.path +
                                 ": exists and is not a socket, not replacing it");

    l.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l.fd < 0) throw sock_error("socket", s.path, errno);
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, tmp.c_str(), tmp.size() + 1);
    unlink(tmp.c_str());  // a leftover from a crashed start with our pid
    auto fail = [&](const char* what) {
        const int err = errno;
        ::close(l.fd);
        unlink(tmp.c_str());
        return sock_error(what, s.path, err);
    };
    if (bind(l.fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) < 0) throw fail("bind");
    if (chmod(tmp.c_str(), s.mode) < 0) throw fail("chmod");
    if (listen(l.fd, 64) < 0) throw fail("listen");
    l.tmp = tmp;
    return l;
}

void publish_cli_listener(CliListener& l) {
    if (l.path.empty()) return;  // fd@N: nothing to put in place
    if (rename(l.tmp.c_str(), l.path.c_str()) < 0) {
        std::fprintf(stderr, "edgeshard: stats socket %s: rename into place: %s\n", l.path.c_str(), std::strerror(errno));
        unlink(l.tmp.c_str());
        return;
    }
    struct stat st {};
    if (lstat(l.path.c_str(), &st) == 0) {
        l.dev = st.st_dev;
        l.ino = st.st_ino;
    }
}

void close_cli_listener(const CliListener& l, bool published) {
    ::close(l.fd);
    if (l.path.empty()) return;  // fd@N: no file of ours
    if (!published) {
        unlink(l.tmp.c_str());
        return;
    }
    // not the file of a newer process that renamed its own over ours
    struct stat st {};
    if (lstat(l.path.c_str(), &st) == 0 && st.st_dev == l.dev && st.st_ino == l.ino) unlink(l.path.c_str());
}

}  // namespace es::control
