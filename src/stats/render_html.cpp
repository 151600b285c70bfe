// The `stats uri` page: HTML modelled on HAProxy's stats page, plus its ";csv" and ";json" exports.
//
// The HTML is self-contained (inline CSS, no script, no external resource) so it renders behind
// any proxy and any Content-Security-Policy. Every name from the configuration is HTML-escaped.
#include <algorithm>
#include <charconv>

#include "edgeshard/core/version.hpp"
#include "edgeshard/stats/render.hpp"
#include "order.hpp"

namespace es::stats {

namespace {

void append_escaped(std::string& out, std::string_view s) {
    for (char c : s) {
        switch (c) {
            case '&':
                out.append("&amp;");
                break;
            case '<':
                out.append("&lt;");
                break;
            case '>':
                out.append("&gt;");
                break;
            case '"':
                out.append("&quot;");
                break;
            case '\'':
                out.append("&#39;");
                break;
            default:
                out.push_back(c);
        }
    }
}

void append_int(std::string& out, long long v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

constexpr std::string_view kStyle = R"(
body{font-family:arial,helvetica,sans-serif;font-size:12px;font-weight:normal;color:#000;background:#fff}
h1{font-size:18px;color:#fff;background:#20a0ff;padding:4px 8px;margin:0 0 8px 0}
h2{font-size:14px;margin:14px 0 4px 0}
table.px{border-collapse:collapse;margin-bottom:8px}
table.px th,table.px td{border:1px solid #999;padding:1px 4px;text-align:right;white-space:nowrap}
table.px th{background:#b0b0ff;font-weight:bold}
table.px th.pxname{background:#4040a0;color:#ffff40;text-align:left}
table.px td.name{text-align:left;font-weight:bold}
tr.frontend td{background:#e8e8d0}
tr.backend td{background:#e8e8d0}
tr.up td{background:#c0ffc0}
tr.down td{background:#ff9090}
tr.maint td{background:#c0c0ff}
tr.nocheck td{background:#e0e0e0}
tr.going_up td{background:#ffd020}
tr.going_down td{background:#ffffa0}
tr.draining td{background:#20a0ff}
table.info td{padding:1px 8px 1px 0;text-align:left}
div.active_up{background:#c0ffc0;padding:2px 4px}
div.active_going_down{background:#ffffa0;padding:2px 4px}
div.active_down{background:#ff9090;padding:2px 4px}
div.active_no_check{background:#e0e0e0;padding:2px 4px}
a{color:#0000c0}
)";

// Columns shown per object: (group, label, `show stat` position).
struct Column {
    std::string_view group;
    std::string_view label;
    std::size_t pos;
};

// clang-format off
constexpr Column kColumns[] = {
    {"Queue", "Cur", st::qcur}, {"Queue", "Max", st::qmax}, {"Queue", "Limit", st::qlimit},
    {"Sessions", "Cur", st::scur}, {"Sessions", "Max", st::smax}, {"Sessions", "Limit", st::slim},
    {"Sessions", "Total", st::stot}, {"Sessions", "LbTot", st::lbtot},
    {"Bytes", "In", st::bin}, {"Bytes", "Out", st::bout},
    {"Denied", "Req", st::dreq}, {"Denied", "Resp", st::dresp},
    {"Errors", "Req", st::ereq}, {"Errors", "Conn", st::econ}, {"Errors", "Resp", st::eresp},
    {"Warnings", "Retr", st::wretr}, {"Warnings", "Redis", st::wredis},
    {"HTTP", "Req", st::req_tot}, {"HTTP", "1xx", st::hrsp_1xx}, {"HTTP", "2xx", st::hrsp_2xx},
    {"HTTP", "3xx", st::hrsp_3xx}, {"HTTP", "4xx", st::hrsp_4xx}, {"HTTP", "5xx", st::hrsp_5xx},
    {"HTTP", "Other", st::hrsp_other},
    {"Time (ms)", "Queue", st::qtime}, {"Time (ms)", "Conn", st::ctime}, {"Time (ms)", "Resp", st::rtime},
    {"Time (ms)", "Total", st::ttime},
    {"Server", "Status", st::status}, {"Server", "Wght", st::weight}, {"Server", "Act", st::act},
    {"Server", "Bck", st::bck},
};
// clang-format on

void table_header(std::string& out, std::string_view pxname, bool admin) {
    out.append("<table class=\"px\">\n<tr>");
    if (admin) out.append("<th rowspan=\"2\"></th>");  // the servers' checkboxes
    out.append("<th class=\"pxname\" rowspan=\"2\">");
    append_escaped(out, pxname);
    out.append("</th>");
    std::size_t i = 0;
    constexpr std::size_t n = std::size(kColumns);
    while (i < n) {
        std::size_t j = i;
        while (j < n && kColumns[j].group == kColumns[i].group) ++j;
        out.append("<th colspan=\"");
        append_int(out, static_cast<long long>(j - i));
        out.append("\">");
        append_escaped(out, kColumns[i].group);
        out.append("</th>");
        i = j;
    }
    out.append("</tr>\n<tr>");
    for (const Column& c : kColumns) {
        out.append("<th>");
        append_escaped(out, c.label);
        out.append("</th>");
    }
    out.append("</tr>\n");
}

std::string_view row_class(ObjType t, const StatRow& row) {
    if (t == ObjType::Frontend) return "frontend";
    if (t == ObjType::Backend) return row[st::status].s == "DOWN" ? "down" : "backend";
    const std::string_view s = row[st::status].s;
    if (s.substr(0, 5) == "MAINT") return "maint";  // "MAINT (resolution)" too
    if (s == "no check") return "nocheck";
    if (s.substr(0, 4) == "DOWN") return s == "DOWN" ? "down" : "going_up";
    if (s.substr(0, 4) == "NOLB" || s.substr(0, 5) == "DRAIN") return "draining";
    if (s.substr(0, 3) == "UP ") return "going_down";
    return "up";
}

void table_row(std::string& out, ObjType t, const StatRow& row, bool admin) {
    out.append("<tr class=\"");
    out.append(row_class(t, row));
    out.append("\">");
    if (admin) {
        // HAProxy's form fields: s=<server> per checked server (its checkbox class names the proxy)
        out.append("<td>");
        if (t == ObjType::Server) {
            out.append("<input class='");
            append_escaped(out, row[st::pxname].s);
            out.append("-checkbox' type=\"checkbox\" name=\"s\" value=\"");
            append_escaped(out, row[st::svname].s);
            out.append("\">");
        }
        out.append("</td>");
    }
    out.append("<td class=\"name\">");
    append_escaped(out, row[st::svname].s);
    out.append("</td>");
    std::string cell;
    for (const Column& c : kColumns) {
        out.append("<td>");
        cell.clear();
        append_value_text(row[c.pos], cell);
        append_escaped(out, cell);
        out.append("</td>");
    }
    out.append("</tr>\n");
}

// The end of a backend's admin form: the action, the backend (by its id, as HAProxy's `b=#<iid>`)
// and the button. Values and labels are HAProxy 2.6's.
void form_end(std::string& out, std::uint32_t iid) {
    static constexpr std::string_view kActions[][2] = {
        {"", ""},
        {"ready", "Set state to READY"},
        {"drain", "Set state to DRAIN"},
        {"maint", "Set state to MAINT"},
        {"dhlth", "Health: disable checks"},
        {"ehlth", "Health: enable checks"},
        {"hrunn", "Health: force UP"},
        {"hnolb", "Health: force NOLB"},
        {"hdown", "Health: force DOWN"},
        {"dagent", "Agent: disable checks"},
        {"eagent", "Agent: enable checks"},
        {"arunn", "Agent: force UP"},
        {"adown", "Agent: force DOWN"},
        {"shutdown", "Kill Sessions"},
    };
    out.append("<p>Choose the action to perform on the checked servers : <select name=action>");
    for (const auto& a : kActions) {
        out.append("<option value=\"");
        out.append(a[0]);
        out.append("\">");
        out.append(a[1]);
        out.append("</option>");
    }
    out.append("</select><input type=\"hidden\" name=\"b\" value=\"#");
    append_int(out, iid);
    out.append("\">&nbsp;<input type=\"submit\" value=\"Apply\"></p></form>\n");
}

// The message for `<uri>;st=<code>` (HAProxy's texts); the [X] link goes back to the plain page.
void result_message(std::string& out, std::string_view uri, AdminResult r) {
    std::string_view cls = "active_down", text;
    switch (r) {
        case AdminResult::Done:
            cls = "active_up";
            text = "Action processed successfully.";
            break;
        case AdminResult::Part:
            cls = "active_going_down";
            text = "Action partially processed.<br>Some server names are probably unknown or ambiguous (duplicated "
                   "names in the backend).";
            break;
        case AdminResult::None:
            cls = "active_going_down";
            text = "Nothing has changed.";
            break;
        case AdminResult::Errp:
            text = "Action not processed because of invalid parameters.<ul><li>The action is maybe unknown.</li>"
                   "<li>Invalid key parameter (empty or too long).</li><li>The backend name is probably unknown or "
                   "ambiguous (duplicated names).</li><li>Some server names are probably unknown or ambiguous "
                   "(duplicated names in the backend).</li></ul>";
            break;
        case AdminResult::Excd:
            text = "<b>Action not processed : the buffer couldn't store all the data.<br>You should retry with less "
                   "servers at a time.</b>";
            break;
        case AdminResult::Deny:
            text = "<b>Action denied.</b>";
            break;
        case AdminResult::Ival:
            text = "<b>Invalid requests (unsupported method or chunked encoded request).</b>";
            break;
        default:
            cls = "active_no_check";
            text = "Unexpected result.";
            break;
    }
    out.append("<p><div class=");
    out.append(cls);
    out.append("><a class=lfsb href=\"");
    append_escaped(out, uri);
    out.append("\" title=\"Remove this message\">[X]</a> ");
    out.append(text);
    out.append("</div>\n");
}

}  // namespace

void render_html(const Snapshot& snap, std::string_view uri, int refresh_s, std::string& out, const PageOptions& opt) {
    const ProcessView& p = snap.process;
    out.append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n");
    if (refresh_s > 0) {
        out.append("<meta http-equiv=\"refresh\" content=\"");
        append_int(out, refresh_s);
        out.append("\">\n");
    }
    out.append("<title>Statistics Report for ");
    out.append(kProduct);
    out.append("</title>\n<style>");
    out.append(kStyle);
    out.append("</style></head>\n<body>\n<h1>");
    out.append(kProduct);
    out.append(" statistics report</h1>\n<table class=\"info\">\n");

    auto info_row = [&](std::string_view k, std::string_view v) {
        out.append("<tr><td><b>");
        append_escaped(out, k);
        out.append("</b></td><td>");
        append_escaped(out, v);
        out.append("</td></tr>\n");
    };
    std::string v;
    if (!opt.hide_version)
        info_row("version", p.version.empty() ? std::string_view(kVersion) : std::string_view(p.version));
    v = std::to_string(p.pid);
    info_row("pid", v);
    info_row("uptime", snap.uptime_text);
    v = std::to_string(snap.shards.size());
    info_row("shards", v);
    v = std::to_string(snap.shard_total.conns);
    if (p.maxconn > 0) v.append(" / maxconn ").append(std::to_string(p.maxconn));
    info_row("current connections", v);
    if (!p.tier.empty()) info_row("io_uring tier", p.tier);
    {
        // HAProxy's process lines, in its words (what page readers such as netdata's look for: "idle = N %")
        const std::vector<InfoField> info = info_fields(snap);
        auto num = [&](std::string_view name) {
            for (const InfoField& f : info)
                if (f.name == name) return f.value.u;
            return std::uint64_t(0);
        };
        auto n = [&](std::string_view name) { return std::to_string(num(name)); };
        v = "memmax = unlimited; ulimit-n = " + n("Ulimit-n");
        info_row("system limits", v);
        v = "maxsock = " + n("Maxsock") + "; maxconn = " + n("Maxconn") + "; maxpipes = " + n("Maxpipes");
        info_row("limits", v);
        char kbps[32];
        std::snprintf(kbps, sizeof kbps, "%.3f", double(num("BytesOutRate")) * 8.0 / 1000.0);
        v = "current conns = " + n("CurrConns") + "; current pipes = " + n("PipesUsed") + "/" +
            std::to_string(num("PipesUsed") + num("PipesFree")) + "; conn rate = " + n("ConnRate") +
            "/sec; bit rate = " + kbps + " kbps";
        info_row("activity", v);
        v = "Running tasks: " + n("Run_queue") + "/" + n("Tasks") + "; idle = " + n("Idle_pct") + " %";
        info_row("tasks", v);
    }
    out.append("</table>\n<p><a href=\"");
    append_escaped(out, uri);
    out.append(";csv\">CSV export</a> &middot; <a href=\"");
    append_escaped(out, uri);
    out.append(";json\">JSON export</a>");
    if (refresh_s > 0) {
        out.append(" &middot; <a href=\"");
        append_escaped(out, uri);
        out.append(";norefresh\">Disable refresh</a>");
    }
    out.append("</p>\n");
    if (opt.result != AdminResult::Init) result_message(out, uri, opt.result);

    // One table per proxy: a frontend opens a table; a backend with the same id (a `listen`
    // section) and its servers stay in it; any other backend opens its own.
    // With the admin level, a proxy that has servers is one form (HAProxy's): a checkbox per server,
    // the action to take and the backend's id.
    const auto order = detail::object_order(snap);
    StatRow row;
    std::vector<std::uint32_t> with_servers;
    if (opt.admin)
        for (const detail::ObjRef& o : order)
            if (o.type == ObjType::Server) {
                detail::fill_row(snap, o, -1, row);
                with_servers.push_back(std::uint32_t(row[st::iid].u));
            }
    bool open = false, form = false;
    std::uint32_t open_iid = 0;
    auto close = [&] {
        out.append("</table>\n");
        if (form) form_end(out, open_iid);
    };
    StatFilter shown;
    shown.up = opt.up;
    shown.no_maint = opt.no_maint;
    for (const detail::ObjRef& o : order) {
        if (o.type == ObjType::Server && !stat_server_shown(snap, o.a, o.b, shown)) continue;
        detail::fill_row(snap, o, -1, row);
        if (!detail::in_scope(opt.scope, row[st::pxname].s)) continue;
        const std::uint32_t iid = std::uint32_t(row[st::iid].u);
        if (!open || iid != open_iid) {
            if (open) close();
            form = std::find(with_servers.begin(), with_servers.end(), iid) != with_servers.end();
            if (form) out.append("<form method=\"post\">\n");
            out.append("<h2>");
            append_escaped(out, row[st::pxname].s);
            out.append("</h2>\n");
            table_header(out, row[st::pxname].s, form);
            open = true;
            open_iid = iid;
        }
        table_row(out, o.type, row, form);
    }
    if (open) close();
    out.append("</body></html>\n");
}

std::string render_html(const Snapshot& snap, std::string_view uri, int refresh_s) {
    std::string out;
    render_html(snap, uri, refresh_s, out);
    return out;
}

std::string_view render_stats_page(const Snapshot& snap, std::string_view uri, std::string_view target,
                                   int refresh_s, std::string& out, const PageOptions& opt) {
    // HAProxy's reading (http_handle_stats): each option is looked for anywhere after the page's uri, so
    // "/stats;csv;norefresh", "/stats/;csv" and "/haproxy?stats;csv" all work; the later formats win
    bool csv = false, typed = false, json = false, schema = false;
    StatFilter filter{opt.scope};
    if (target.size() >= uri.size()) {
        const std::string_view rest = target.substr(uri.size());
        auto has = [&](std::string_view o) { return rest.find(o) != std::string_view::npos; };
        filter.up = has(";up");
        filter.no_maint = has(";no-maint");
        if (has(";norefresh")) refresh_s = 0;
        csv = has(";csv");
        typed = has(";typed");
        json = has(";json");
        schema = has(";json-schema");
    }
    if (schema) {
        render_schema_json(out);
        return "application/json";
    }
    if (json) {
        render_stat_json(snap, false, out, filter);
        return "application/json";
    }
    if (typed) {
        render_stat_typed(snap, out, filter);
        return "text/plain; charset=utf-8";
    }
    if (csv) {
        render_stat_csv(snap, false, out, filter);
        return "text/plain; charset=utf-8";
    }
    PageOptions o = opt;
    o.up = filter.up;
    o.no_maint = filter.no_maint;
    o.result = admin_result_in(uri, target);
    render_html(snap, uri, refresh_s, out, o);
    return "text/html; charset=utf-8";
}

}  // namespace es::stats
