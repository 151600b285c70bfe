// edgeshard: boot only. Parse the command line, load and check the configuration, start the
// data shards, then become the control shard until SIGINT/SIGTERM.
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "edgeshard/config/parser.hpp"
#include "edgeshard/rules/rules.hpp"
#include "edgeshard/log/access_log.hpp"
#include "edgeshard/control/control_shard.hpp"
#include "edgeshard/control/handoff.hpp"
#include "edgeshard/control/master.hpp"
#include "edgeshard/stats/carry.hpp"
#include "edgeshard/core/version.hpp"
#include "edgeshard/tls/context.hpp"
#include "edgeshard/origin/demo_origin.hpp"
#include "edgeshard/shard/probe.hpp"
#include "edgeshard/shard/runtime.hpp"

namespace {

void usage(FILE* out) {
    std::fprintf(out,
                 "Usage: edgeshard [-f CONFIG]... [-c] [-v] [-q]\n"
                 "  -f FILE   load a configuration file (repeatable, read in order); without -f the\n"
                 "            embedded default configuration runs (a TCP proxy on 127.0.0.1:8080 in front of\n"
                 "            the built-in demo origin on 127.0.0.1:8081, control socket /tmp/edgeshard.sock)\n"
                 "  -c        check the configuration and exit (0 valid, 1 invalid)\n"
                 "  -v        print the version and the io_uring tier this kernel supports\n"
                 "  -q        quiet: no warnings on stderr\n"
                 "  -dD       diagnostic mode: the configuration's .diag directives speak\n"
                 "  -dr       a server whose host name does not resolve starts in maintenance instead of\n"
                 "            failing the load (HAProxy's -dr)\n"
                 "  -W, -Ws   master-worker mode (HAProxy's): a small master process keeps the PID, runs the\n"
                 "            worker, reloads it without downtime on SIGUSR2 or SIGHUP and speaks systemd's\n"
                 "            readiness protocol (both flags; the global 'master-worker' keyword does the same)\n"
                 "  -S PATH[,mode,600][,level,admin]  master-worker mode: the master CLI's unix socket\n"
                 "            (show proc, reload, @1 <command>, @!<pid> <command>)\n"
                 "  -db, -d   accepted for HAProxy compatibility (the process runs in the foreground)\n"
                 "  -dW       zero-warning: a configuration with warnings does not start (HAProxy's)\n"
                 "  -dS       no splice(2) (as 'nosplice')\n"
                 "  -de, -dp, -dk, -dv, -dG, -dM, -dR, -dL, -dZ  HAProxy's poller, getaddrinfo, memory and\n"
                 "            SO_REUSEPORT switches: accepted with a warning, they have no equivalent here\n"
                 "  -D        daemon: detach once the configuration is read; the command returns when the\n"
                 "            process serves (0) or failed to start (1); its output then goes to /dev/null\n"
                 "  -p FILE   write the process's PID to FILE once it serves (HAProxy's pidfile)\n"
                 "  -x SOCKET take the listening sockets and the runtime state of the process serving this\n"
                 "            control socket (level admin), start, then tell it to stop accepting and drain\n"
                 "            (zero-downtime reload)\n"
                 "  -sf PID... once started, ask these processes to stop softly (SIGUSR1: drain, then exit)\n"
                 "  -st PID... once started, stop these processes now (SIGTERM)\n");
}

// `edgeshardctl reload` passes a pipe in EDGESHARD_STARTUP_FD: what we say while starting goes
// there too, and closing it tells the caller the start is over (ready, or failed).
int g_startup_fd = -1;

void startup_say(const std::string& line) {
    if (g_startup_fd < 0) return;
    std::string l = line;
    if (l.empty() || l.back() != '\n') l.push_back('\n');
    (void)!::write(g_startup_fd, l.data(), l.size());
}

void startup_done() {
    if (g_startup_fd >= 0) ::close(g_startup_fd);
    g_startup_fd = -1;
}

int fail(const std::string& msg) {
    std::fprintf(stderr, "edgeshard: %s\n", msg.c_str());
    startup_say("edgeshard: " + msg);
    return 1;
}

bool parse_pids(int argc, char** argv, int& i, std::vector<int>& out) {
    bool any = false;
    while (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') {
        out.push_back(std::atoi(argv[++i]));
        any = true;
    }
    return any;
}

}  // namespace

int main(int argc, char** argv) {
    if (const char* sfd = std::getenv("EDGESHARD_STARTUP_FD")) {
        g_startup_fd = std::atoi(sfd);
        if (g_startup_fd <= 2) g_startup_fd = -1;
        else ::fcntl(g_startup_fd, F_SETFD, FD_CLOEXEC);
        unsetenv("EDGESHARD_STARTUP_FD");
    }
    std::vector<std::string> files;
    bool check = false, quiet = false;
    es::config::LoadOptions load;
    std::string takeover;  // -x
    std::string pidfile;   // -p
    bool daemon_mode = false;  // -D
    bool master_flag = false;  // -W, -Ws
    bool zero_warning = false;  // -dW
    bool no_splice = false;     // -dS
    es::control::master::Options mopt;  // -S
    // a master's worker: the master's options are not ours (src/control/master.cpp)
    std::string worker_socket;
    if (const char* ws = std::getenv("EDGESHARD_WORKER_SOCKET")) {
        worker_socket = ws;
        unsetenv("EDGESHARD_WORKER_SOCKET");
    }
    std::vector<int> soft_pids, hard_pids;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-f") {
            if (++i >= argc) return fail("-f needs a file name");
            files.emplace_back(argv[i]);
        } else if (a == "-c") {
            check = true;
        } else if (a == "-q") {
            quiet = true;
        } else if (a == "-v" || a == "-vv" || a == "--version") {
            std::printf("%s version %s\n", es::kProduct, es::kVersion);
            const es::shard::ProbeResult p = es::shard::probe_io_uring();
            if (p.ok) std::printf("io_uring tier: %s (%s)\n", p.tier.c_str(), p.details.c_str());
            else std::printf("io_uring tier: none: %s\n", p.error.c_str());
            std::printf("TLS: %s\n", es::tls::tier().c_str());
            return 0;
        } else if (a == "-h" || a == "--help") {
            usage(stdout);
            return 0;
        } else if (a == "-dD") {
            load.diag = true;  // the configuration's .diag directives speak
        } else if (a == "-dr") {
            load.ignore_resolve_failures = true;  // HAProxy's: unresolvable servers start in maintenance
        } else if (a == "-db" || a == "-d") {
            // the process stays in the foreground (it always does unless -D)
        } else if (a == "-dW") {
            zero_warning = true;  // HAProxy's: any warning is fatal
        } else if (a == "-dS") {
            no_splice = true;  // HAProxy's: no splice(2), as `nosplice`
        } else if (a == "-de" || a == "-dp" || a == "-dk" || a == "-dv" || a == "-dG" || a.starts_with("-dM") ||
                   a == "-dR" || a == "-dL" || a == "-dZ") {
            // HAProxy's switches for its pollers, getaddrinfo, memory poisoning, SO_REUSEPORT, library dumps: they
            // name mechanisms edgeshard does not have (io_uring, one listener per shard that needs SO_REUSEPORT)
            if (!quiet) std::fprintf(stderr, "[WARNING] %s is accepted and ignored: it has no equivalent in edgeshard\n", a.c_str());
        } else if (a == "-dV") {
            return fail("-dV is not supported: write 'ssl-server-verify none' in the global section (or 'verify none' "
                        "on the servers) to stop verifying servers' certificates");
        } else if (a == "-W" || a == "-Ws") {
            master_flag = true;
        } else if (a == "-S") {
            if (++i >= argc) return fail("-S needs the path of the master CLI's socket");
            if (const std::string e = es::control::master::parse_cli_spec(argv[i], mopt); !e.empty()) return fail(e);
        } else if (a == "-D") {
            daemon_mode = true;
        } else if (a == "-p") {
            if (++i >= argc) return fail("-p needs the path of the PID file");
            pidfile = argv[i];
        } else if (a == "-x") {
            if (++i >= argc) return fail("-x needs the path of the running process's control socket");
            takeover = argv[i];
        } else if (a == "-sf") {
            if (!parse_pids(argc, argv, i, soft_pids)) return fail("-sf needs one or more PIDs");
        } else if (a == "-st") {
            if (!parse_pids(argc, argv, i, hard_pids)) return fail("-st needs one or more PIDs");
        } else {
            usage(stderr);
            return fail("unknown option '" + a + "'");
        }
    }

    // HAProxy's banner: the version and the binary's path, once, before the first start-up message
    bool bannered = false;
    auto banner = [&] {
        if (bannered || quiet) return;
        bannered = true;
        char exe[4096];
        const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        char text[4400];
        std::snprintf(text, sizeof text, "[NOTICE] edgeshard version is %s\n[NOTICE] path to executable is %s\n",
                      es::kVersion, n > 0 ? exe : argv[0]);
        std::fputs(text, stderr);
        es::control::startup_log() += text;
    };
    es::control::install_crash_handlers();  // a crash prints its thread and backtrace (not under ASan)
    std::shared_ptr<es::config::Config> cfg;
    try {
        cfg = std::make_shared<es::config::Config>(
            files.empty() ? es::config::load_text(es::config::kEmbeddedDefault, "<embedded>", load)
                          : es::config::load_files(files, load));
    } catch (const std::exception& e) {
        banner();
        std::fprintf(stderr, "%s\n", e.what());
        startup_say(e.what());
        if (check) std::fprintf(stderr, "Configuration file has errors\n");
        return 1;
    }
    if (no_splice) cfg->global.splice = false;
    if (!cfg->warnings.empty() || !cfg->notices.empty()) banner();
    if (zero_warning && !cfg->warnings.empty()) {
        // HAProxy's -dW: the warnings, then the refusal
        for (const auto& w : cfg->warnings) std::fprintf(stderr, "[WARNING] %s\n", w.c_str());
        const std::string m = "-dW (zero-warning) is set and " + std::to_string(cfg->warnings.size()) +
                              " warning(s) were emitted: not starting";
        std::fprintf(stderr, "%s\n", m.c_str());
        startup_say(m);
        if (check) std::fprintf(stderr, "Configuration file has errors\n");
        return 1;
    }
    if (!quiet)
        for (const auto& n : cfg->notices) {
            std::fprintf(stderr, "%s\n", n.c_str());
            startup_say(n);
            es::control::startup_log() += n + "\n";
        }
    if (!quiet)
        for (const auto& w : cfg->warnings) {
            std::fprintf(stderr, "[WARNING] %s\n", w.c_str());
            startup_say("[WARNING] " + w);
            es::control::startup_log() += "[WARNING] " + w + "\n";
        }
    // access-log formats compile once here, so a bad one is reported with its place before anything starts
    for (const auto& fe : cfg->frontends) {
        if (fe.log_format.empty()) continue;
        try {
            es::log::Format f(fe.log_format);
        } catch (const std::exception& e) {
            // the line that holds the format (a defaults section's when the frontend inherits it)
            const es::config::Location& at = fe.log_format_where.line > 0 ? fe.log_format_where : fe.where;
            banner();
            std::fprintf(stderr, "%s:%d: frontend '%s': log-format: %s\n", at.file.c_str(), at.line,
                         fe.name.c_str(), e.what());
            startup_say(at.file + ":" + std::to_string(at.line) + ": frontend '" + fe.name + "': log-format: " + e.what());
            if (check) std::fprintf(stderr, "Configuration file has errors\n");
            return 1;
        }
        if (fe.logs.empty() && !quiet) {
            banner();
            std::fprintf(stderr, "[WARNING] %s:%d: frontend '%s' has a log format but no log target: nothing is logged\n",
                         fe.where.file.c_str(), fe.where.line, fe.name.c_str());
        }
    }
    if (check) {
        if (quiet) return 0;  // HAProxy's -c -q: the status alone (errors above are still printed)
        if (!cfg->warnings.empty()) std::printf("Warnings were found.\n");
        std::printf("Configuration file is valid\n");
        return 0;
    }
    // master-worker (-W, -Ws, `master-worker`): this process becomes the master once detached (-D); its
    // workers run this command line without the master's options, and find their private admin socket in
    // EDGESHARD_WORKER_SOCKET (the master's way in, and the next worker's for the reload handoff)
    const bool worker = !worker_socket.empty();
    if (pidfile.empty()) pidfile = cfg->global.pidfile;
    const bool master_mode = !worker && (master_flag || cfg->global.master_worker);
    if (!master_mode && !worker && !mopt.cli_path.empty() && !quiet)
        std::fprintf(stderr, "[WARNING] a master CLI socket was defined (-S), but master-worker mode (-W) is not "
                             "enabled: it is not opened\n");
    if (worker) {
        es::config::StatsSocket s;
        s.path = worker_socket;
        s.mode = 0600;
        s.level = es::config::StatsLevel::Admin;
        s.level_admin = true;
        s.where.file = "<master>";
        cfg->global.stats_sockets.push_back(std::move(s));
        es::config::assign_proxy_ids(*cfg);  // (HAProxy's worker has its CLI proxy too: the ids follow it)
        signal(SIGUSR2, SIG_IGN);  // the master's signals (a reload), should one reach us
        signal(SIGHUP, SIG_IGN);
    }
    if (master_mode) {
        mopt.pidfile = pidfile;
        mopt.daemon = daemon_mode;
        mopt.exit_on_failure = cfg->global.master_exit_on_failure;
        char exe[4096];
        const ssize_t el = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (el <= 0) return fail(std::string("master-worker: cannot find our own binary: ") + std::strerror(errno));
        mopt.exe.assign(exe, std::size_t(el));
        mopt.worker_args.emplace_back(argv[0]);
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            if (a == "-W" || a == "-Ws" || a == "-D") continue;
            if (a == "-S" || a == "-p" || a == "-x") {
                ++i;
                continue;
            }
            if (a == "-sf" || a == "-st") {
                std::vector<int> pids;  // (a master signals no one: its workers reload through it)
                parse_pids(argc, argv, i, pids);
                continue;
            }
            mopt.worker_args.push_back(a);
        }
        cfg.reset();  // the workers load it; the master keeps nothing of it
    }
    // -D (HAProxy's daemon mode): the process detaches before any thread starts; the parent stays until the child
    // is ready (the child's start-up lines come through a pipe, as a reload helper's do) and exits 0 once it is, 1
    // if it failed. The child prints on the terminal until it is ready, then its stdio goes to /dev/null.
    if (daemon_mode) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) return fail(std::string("-D: pipe: ") + std::strerror(errno));
        const pid_t child = ::fork();
        if (child < 0) return fail(std::string("-D: fork: ") + std::strerror(errno));
        if (child > 0) {
            ::close(p[1]);
            std::string got;
            es::control::read_startup(p[0], 0, got);
            // (the child printed its lines on the terminal itself; a reload helper waiting on us gets them)
            if (!got.empty()) startup_say(got);
            return got.find(es::control::kReadyMark) != std::string::npos ? 0 : 1;
        }
        ::close(p[0]);
        ::setsid();
        if (g_startup_fd >= 0) ::close(g_startup_fd);  // (a reload helper's: the parent passes the lines on)
        g_startup_fd = p[1];
        const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            ::dup2(null, 0);
            ::dup2(null, 1);
            ::close(null);
        }
    }

    if (master_mode) {
        mopt.startup_fd = g_startup_fd;
        g_startup_fd = -1;
        return es::control::master::run(mopt);
    }

    // SIGINT/SIGTERM are taken by the control shard through a signalfd; blocked before any thread
    // starts so every shard inherits the mask. SIGPIPE never kills us (sends use MSG_NOSIGNAL;
    // this covers splice and the control socket).
    // a shell starts background jobs with SIGINT ignored, and an ignored signal never reaches a
    // signalfd: restore the default disposition before blocking
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);  // soft stop
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);
    const int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) return fail(std::string("signalfd: ") + std::strerror(errno));

    // -x: the running process's sockets and state. Nothing of it changes until we commit.
    es::control::handoff::Taken taken;
    es::control::Lineage lineage;
    if (!takeover.empty()) {
        try {
            taken = es::control::handoff::take_over(takeover);
        } catch (const std::exception& e) {
            banner();
            return fail(e.what());
        }
        lineage.generation = taken.state.generation + 1;
        lineage.predecessor_fd = taken.fd;
        lineage.predecessor_pid = taken.pid;
        lineage.inherited_totals = taken.state.totals;
        lineage.inherited_health = taken.state.health;
    }

    // TLS session ticket keys for every shard: the running process's, rotated (tls/tickets.hpp)
    {
        es::tls::TicketKeys carried;
        if (!taken.state.ticket_keys.empty() && !es::tls::TicketKeys::decode(taken.state.ticket_keys, carried))
            startup_say("[WARNING] the running process's TLS ticket keys were unreadable: new ones are made");
        es::tls::set_process_ticket_keys(std::make_shared<const es::tls::TicketKeys>(es::tls::TicketKeys::rotate(carried)));
    }
    std::unique_ptr<es::origin::DemoOrigin> origin;
    es::log::publish_utc_offset();  // log dates, before any shard formats one
    es::shard::Runtime rt(cfg);
    // runtime server states set on the old process continue here, matched by name
    for (const auto& sv : taken.state.servers) {
        const es::config::Backend* be = cfg->find_backend(sv.backend);
        if (!be) continue;
        for (std::size_t k = 0; k < be->servers.size(); ++k)
            if (be->servers[k].name == sv.server) {
                auto& r = rt.server_runtime()[std::size_t(be->id)][k];
                r.weight = sv.weight;
                r.admin = sv.admin;
                r.maxconn = sv.maxconn;
            }
    }
    // a server the old process's checks had DOWN starts DOWN here (its checks must pass again)
    for (const auto& h : taken.state.health) {
        const es::config::Backend* be = cfg->find_backend(h.backend);
        if (!be) continue;
        for (std::size_t k = 0; k < be->servers.size(); ++k)
            if (be->servers[k].name == h.server && (be->servers[k].check.enabled || be->servers[k].check.agent))
                rt.server_runtime()[std::size_t(be->id)][k].down = !h.state.up;
    }
    if (!taken.state.totals.empty()) {
        // the pools start at the size the old process was using, not empty
        es::stats::Carried c;
        if (es::stats::import_totals(taken.state.totals, c)) {
            std::vector<std::pair<std::string, std::uint64_t>> hints;
            for (const auto& [name, by_size] : c.pool_needed) {
                std::uint64_t sum = 0;
                for (const auto& [size, need] : by_size) sum += need;
                hints.emplace_back(name, sum);
            }
            rt.set_pool_hints(std::move(hints));
        }
    }
    std::unique_ptr<es::control::ControlShard> ctl;
    try {
        if (!cfg->global.demo_origin.empty()) {
            const auto addr = es::config::parse_addr(cfg->global.demo_origin);
            if (!addr) return fail("es.demo-origin: bad address '" + cfg->global.demo_origin + "'");
            origin = std::make_unique<es::origin::DemoOrigin>(*addr);
            origin->start();
        }
        (void)es::rules::error_reply(400, nullptr, nullptr);  // builds the built-in reply table before the shards run
        const bool reload = !takeover.empty();
        rt.start(std::move(taken.listeners), reload);
        taken.listeners.clear();
        ctl = std::make_unique<es::control::ControlShard>(rt, lineage);
        ctl->prepare();
        if (reload) {
            // the point of no return: the old process stops accepting and drains
            es::control::handoff::commit(taken, rt.adopted());
            // systemd learns the new main PID before the old process can exit
            es::control::sd_notify("MAINPID=" + std::to_string(getpid()) + "\n");
            rt.resume_accept();
        }
        ctl->publish();
    } catch (const std::exception& e) {
        ctl.reset();
        rt.stop();
        if (taken.fd >= 0) close(taken.fd);
        banner();
        return fail(e.what());
    }
    for (const int pid : soft_pids)
        if (pid > 0 && pid != getpid()) kill(pid_t(pid), SIGUSR1);
    for (const int pid : hard_pids)
        if (pid > 0 && pid != getpid()) kill(pid_t(pid), SIGTERM);
    std::string cpus;
    for (std::size_t i = 0; i < rt.shard_count(); ++i)
        cpus += (i ? "," : "") + std::to_string(rt.shard_info(i).cpu);
    std::string lin;
    if (!takeover.empty())
        lin = ", generation " + std::to_string(lineage.generation) + ", took over from PID " +
              std::to_string(lineage.predecessor_pid);
    // -p: HAProxy's PID file, written once the process serves and before it says so (with -D, the command
    // returns on that word: the file is there when a start-stop-daemon looks)
    if (!pidfile.empty() && !es::control::write_pid_file(pidfile))
        std::fprintf(stderr, "[WARNING] cannot write the PID file %s: %s\n", pidfile.c_str(), std::strerror(errno));
    std::fprintf(stderr, "edgeshard[%d]: ready: %zu shards (CPUs %s), io_uring tier %s, maxconn %d%s\n", int(getpid()),
                 rt.shard_count(), cpus.c_str(), rt.tier().c_str(), rt.global_maxconn(), lin.c_str());
    {
        char ready[512];
        std::snprintf(ready, sizeof ready, "edgeshard[%d]: ready: %zu shards (CPUs %s), io_uring tier %s, maxconn %d%s",
                      int(getpid()), rt.shard_count(), cpus.c_str(), rt.tier().c_str(), rt.global_maxconn(), lin.c_str());
        startup_say(ready);
        startup_done();
    }
    if (daemon_mode) {  // detached: the terminal no longer hears from us
        const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            ::dup2(null, 2);
            ::close(null);
        }
    }
    es::control::sd_notify("READY=1\nMAINPID=" + std::to_string(getpid()) + "\n");

    int rc = 0;
    try {
        ctl->run(sfd);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "edgeshard: %s\n", e.what());
        rc = 1;
    }
    ctl.reset();
    rt.stop();
    if (origin) origin->stop();
    close(sfd);
    return rc;
}
