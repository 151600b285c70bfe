// `show ssl cert`, `set ssl cert`, `commit ssl cert`, `abort ssl cert`: replacing a certificate
// at run time without a reload, with HAProxy's transaction and its answers (management.txt).
// A `set` builds the new PEM in a transaction (the payload's certificate and chain, with its own
// key or else the current one; the key must match); `commit` sends it to every data shard, which
// rebuilds the contexts that load that file (new handshakes use it, established connections keep
// theirs). A committed certificate lives in memory: a reload loads the files again.
#include <cctype>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "edgeshard/control/cli.hpp"
#include "edgeshard/shard/mailbox.hpp"
#include "edgeshard/tls/certinfo.hpp"
#include "edgeshard/tls/tickets.hpp"

namespace es::control {

namespace {

bool no_store(const Context& ctx, std::string& out) {
    if (ctx.services.certs) return false;
    out.append("TLS certificates are not available.\n");
    return true;
}

// "\*name" names a file whose name starts with '*'; "*name" the transaction on it
std::string unescape(std::string_view w, bool& tx) {
    tx = false;
    if (w.starts_with("\\*")) return std::string(w.substr(1));
    if (w.starts_with("*")) {
        tx = true;
        return std::string(w.substr(1));
    }
    return std::string(w);
}

void cmd_show_cert(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (no_store(ctx, out)) return;
    CertStore& cs = *ctx.services.certs;
    if (args.empty()) {
        out.append("# transaction\n");
        if (!cs.tx_path.empty()) out.append("*").append(cs.tx_path).append("\n");
        out.append("# filename\n");
        for (const std::string& f : cs.files) out.append(f).append("\n");
        return;
    }
    bool tx = false;
    const std::string name = unescape(args[0], tx);
    const int i = cs.find(name);
    if (i < 0 || (tx && cs.tx_path != name)) {
        out.append("Can't display the certificate: Not found or the certificate is a bundle!\n");
        return;
    }
    std::string error;
    const std::string details = tls::describe_cert(tx ? cs.tx_pem : cs.pem[std::size_t(i)], error);
    out.append("Filename: ").append(tx ? "*" : "").append(name).append("\n");
    out.append(tx ? "Status: Unused\n" : "Status: Used\n");
    if (details.empty()) out.append("(").append(error).append(")\n");
    out.append(details);
}

void cmd_set_cert(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (no_store(ctx, out)) return;
    CertStore& cs = *ctx.services.certs;
    if (args.empty() || ctx.payload.empty()) {
        out.append("'set ssl cert' expects a filename and a certificate as a payload\n");
        return;
    }
    const std::string name(args[0]);
    const int i = cs.find(name);
    if (i < 0) {
        out.append("Can't replace a certificate which is not referenced by the configuration!\n");
        return;
    }
    if (!cs.tx_path.empty() && cs.tx_path != name) {
        out.append("The ongoing transaction is about '").append(cs.tx_path).append("' but you are trying to set '")
            .append(name).append("'\n");
        return;
    }
    const bool update = !cs.tx_path.empty();
    std::string merged, error;
    if (!tls::merge_cert_payload(update ? cs.tx_pem : cs.pem[std::size_t(i)], ctx.payload, merged, error)) {
        out.append("unable to load the payload: ").append(error).append("\n");
        return;
    }
    cs.tx_path = name;
    cs.tx_pem = std::move(merged);
    out.append(update ? "Transaction updated for certificate " : "Transaction created for certificate ")
        .append(name).append("!\n");
}

void cmd_commit_cert(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (no_store(ctx, out)) return;
    CertStore& cs = *ctx.services.certs;
    if (args.empty()) {
        out.append("'commit ssl cert' expects a filename\n");
        return;
    }
    if (cs.tx_path.empty()) {
        out.append("No ongoing transaction! !\n");
        return;
    }
    if (cs.tx_path != args[0]) {
        out.append("The ongoing transaction is about '").append(cs.tx_path).append("' but you are trying to set '")
            .append(args[0]).append("'\n");
        return;
    }
    out.append("Committing ").append(cs.tx_path);
    const std::string error = ctx.services.commit_cert ? ctx.services.commit_cert(cs.tx_path, cs.tx_pem)
                                                       : std::string("the data shards are not reachable");
    if (!error.empty()) {
        out.append("\n").append(error).append("\n");
        return;
    }
    cs.pem[std::size_t(cs.find(cs.tx_path))] = std::move(cs.tx_pem);
    cs.tx_path.clear();
    cs.tx_pem.clear();
    out.append("\nSuccess!\n");
}

// `set ssl ocsp-response <base64>` (or the base64 as a payload): the DER response is matched to
// the certificate it is about and checked as a `.ocsp` file is at load, then every data shard
// staples it for that certificate's contexts. HAProxy's answers.
void cmd_set_ocsp(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (no_store(ctx, out)) return;
    std::string b64;
    for (char c : args.empty() ? std::string_view(ctx.payload) : args[0])
        if (!std::isspace(static_cast<unsigned char>(c))) b64.push_back(c);
    if (b64.empty()) {
        out.append("'set ssl ocsp-response' expects response in base64 encoding.\n");
        return;
    }
    std::string der;
    if (!tls::base64_decode(b64, der)) {
        out.append("'set ssl ocsp-response' expects response in base64 encoding.\n");
        return;
    }
    CertStore& cs = *ctx.services.certs;
    std::string error;
    const int i = tls::match_ocsp(der, cs.files, cs.pem, error);
    if (i < 0) {
        out.append(error).append("\n");
        return;
    }
    error = ctx.services.update_ocsp ? ctx.services.update_ocsp(cs.files[std::size_t(i)], der)
                                     : std::string("the data shards are not reachable");
    if (!error.empty()) {
        out.append(error).append("\n");
        return;
    }
    out.append("OCSP Response updated!\n");
}

void cmd_abort_cert(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (no_store(ctx, out)) return;
    CertStore& cs = *ctx.services.certs;
    if (cs.tx_path.empty() || args.empty() || cs.tx_path != args[0]) {
        out.append("No ongoing transaction!\n");
        return;
    }
    out.append("Transaction aborted for certificate '").append(cs.tx_path).append("'!\n");
    cs.tx_path.clear();
    cs.tx_pem.clear();
}

}  // namespace

CertStore load_cert_store(const config::Config& cfg) {
    CertStore cs;
    for (const auto& fe : cfg.frontends)
        for (const auto& b : fe.binds) {
            if (!b.tls) continue;
            for (const std::string& f : tls::cert_files(b.tls->o)) {
                if (cs.find(f) >= 0) continue;
                std::string text;
                if (FILE* fp = std::fopen(f.c_str(), "r")) {
                    char buf[8192];
                    std::size_t n;
                    while ((n = std::fread(buf, 1, sizeof buf, fp)) > 0) text.append(buf, n);
                    std::fclose(fp);
                }
                cs.files.push_back(f);
                cs.pem.push_back(std::move(text));
            }
        }
    return cs;
}

std::string post_cert_update(shard::Runtime& rt, const std::string& path, const std::string& pem,
                             const std::string* ocsp) {
    const std::size_t n = rt.shard_count();
    auto* u = new tls::CertUpdate;
    u->path = path;
    u->pem = pem;
    if (ocsp) {
        u->ocsp = *ocsp;
        u->ocsp_only = true;
    }
    u->pending.store(int(n));
    shard::Message m;
    m.kind = shard::Message::kCertUpdate;
    m.a = reinterpret_cast<std::uintptr_t>(u);
    std::string missed;
    for (std::size_t i = 0; i < n; ++i) {
        if (rt.post_patiently(i, m)) continue;
        if (!missed.empty()) missed.append(", ");
        missed.append(std::to_string(i));
        if (u->pending.fetch_sub(1) == 1) delete u;
    }
    if (!missed.empty()) return "shard(s) " + missed + " did not take the certificate (mailbox full); commit it again";
    return {};
}

void register_ssl_commands(CommandTable& t) {
    t.add({{"show", "ssl", "cert"}, "[[*][\\]<certfile>]", "display the TLS certificates used in memory, or the details of one",
           Level::Operator, cmd_show_cert});
    t.add({{"set", "ssl", "cert"}, "<certfile> <payload>", "replace a certificate file (a transaction)", Level::Admin,
           cmd_set_cert});
    t.add({{"commit", "ssl", "cert"}, "<certfile>", "commit a certificate file: new handshakes use it", Level::Admin,
           cmd_commit_cert});
    t.add({{"abort", "ssl", "cert"}, "<certfile>", "abort a transaction for a certificate file", Level::Admin,
           cmd_abort_cert});
    t.add({{"set", "ssl", "ocsp-response"}, "<resp|payload>", "update a certificate's OCSP response (base64 DER)",
           Level::Admin, cmd_set_ocsp});
}

}  // namespace es::control
