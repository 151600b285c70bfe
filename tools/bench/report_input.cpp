// `edgeshard-bench report`, input half: result files (one object, or JSON Lines) -> RunView
// records, checked against what result.schema.json requires; every problem names the file, the
// JSON Lines record's line and the field.
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <set>

#include "report.hpp"
#include "report_text.hpp"

namespace es::bench {

namespace {

using report_text::strf;

// ---------------------------------------------------------------------------------------------
// Input: rapidjson values -> RunView, checked against result.schema.json's requirements
// ---------------------------------------------------------------------------------------------

using rapidjson::Value;

struct InputError {
    std::string msg;
};

[[noreturn]] void fail(const std::string& path, const std::string& why) {
    throw InputError{path.empty() ? why : path + ": " + why};
}

std::string join_path(const std::string& path, const char* key) {
    return path.empty() ? std::string(key) : path + "." + key;
}

const Value* find(const Value& obj, const char* key) {
    const auto it = obj.FindMember(key);
    return it == obj.MemberEnd() ? nullptr : &it->value;
}

const Value& need(const Value& obj, const char* key, const std::string& path) {
    const Value* v = find(obj, key);
    if (v == nullptr) fail(path, std::string("missing required field \"") + key + "\"");
    return *v;
}

const Value& need_object(const Value& v, const std::string& path) {
    if (!v.IsObject()) fail(path, "must be an object");
    return v;
}

const Value& need_array(const Value& v, const std::string& path) {
    if (!v.IsArray()) fail(path, "must be an array");
    return v;
}

std::string as_string(const Value& v, const std::string& path) {
    if (!v.IsString()) fail(path, "must be a string");
    return std::string(v.GetString(), v.GetStringLength());
}

double as_number(const Value& v, const std::string& path, double min = -HUGE_VAL) {
    if (!v.IsNumber()) fail(path, "must be a number");
    const double d = v.GetDouble();
    if (!std::isfinite(d)) fail(path, "must be a finite number");
    if (d < min) fail(path, strf("must be at least %g", min));
    return d;
}

int64_t as_int(const Value& v, const std::string& path, int64_t min) {
    int64_t i = 0;
    if (v.IsInt64()) {
        i = v.GetInt64();
    } else if (v.IsUint64()) {
        fail(path, "integer too large");
    } else if (v.IsDouble() && std::isfinite(v.GetDouble()) && std::trunc(v.GetDouble()) == v.GetDouble() &&
               std::fabs(v.GetDouble()) < 9e18) {
        i = static_cast<int64_t>(v.GetDouble());
    } else {
        fail(path, "must be an integer");
    }
    if (i < min) fail(path, strf("must be at least %lld", static_cast<long long>(min)));
    return i;
}

uint64_t as_count(const Value& v, const std::string& path) {
    if (v.IsUint64()) return v.GetUint64();
    if (v.IsInt64()) fail(path, "must not be negative");
    if (v.IsDouble() && std::isfinite(v.GetDouble()) && std::trunc(v.GetDouble()) == v.GetDouble() &&
        v.GetDouble() >= 0 && v.GetDouble() < 1.8e19)
        return static_cast<uint64_t>(v.GetDouble());
    fail(path, "must be a non-negative integer");
}

bool as_bool(const Value& v, const std::string& path) {
    if (!v.IsBool()) fail(path, "must be true or false");
    return v.GetBool();
}

std::string json_text(const Value& v) {
    if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    v.Accept(w);
    return std::string(sb.GetString(), sb.GetSize());
}

std::vector<NamedCount> counts(const Value& obj, const std::string& path,
                               std::initializer_list<const char*> required) {
    need_object(obj, path);
    for (const char* k : required) need(obj, k, path);
    std::vector<NamedCount> out;
    for (const auto& m : obj.GetObject()) {
        const std::string key(m.name.GetString(), m.name.GetStringLength());
        out.push_back({key, as_count(m.value, path + "." + key)});
    }
    return out;
}

void read_settings(const Value& s, RunView& r) {
    const std::string p = "settings";
    need_object(s, p);
    r.target = as_string(need(s, "target", p), p + ".target");
    r.threads = as_int(need(s, "threads", p), p + ".threads", 1);
    r.connections = as_int(need(s, "connections", p), p + ".connections", 1);
    r.duration_s = as_number(need(s, "duration_s", p), p + ".duration_s", 0);
    if (!(r.duration_s > 0)) fail(p + ".duration_s", "must be greater than 0");
    for (const char* k : {"ring_entries", "buffers", "buffer_size", "batch"})
        as_int(need(s, k, p), join_path(p, k), 1);
    for (const char* k : {"busy_poll_us", "napi_busy_poll_us", "send_zc_threshold"})
        as_int(need(s, k, p), join_path(p, k), 0);
    as_bool(need(s, "registered_buffers", p), p + ".registered_buffers");
    as_string(need(s, "pin", p), p + ".pin");
    if (const Value* m = find(s, "mode")) {
        r.mode = as_string(*m, p + ".mode");
        if (r.mode != "closed" && r.mode != "open") fail(p + ".mode", "must be \"closed\" or \"open\"");
    }
    if (const Value* v = find(s, "rate")) r.rate = as_number(*v, p + ".rate", 0);
    for (const auto& m : s.GetObject())
        r.settings.push_back({std::string(m.name.GetString(), m.name.GetStringLength()), json_text(m.value)});
}

void read_host(const Value& h, HostView& host) {
    const std::string p = "host";
    need_object(h, p);
    host.hostname = as_string(need(h, "hostname", p), p + ".hostname");
    host.kernel = as_string(need(h, "kernel", p), p + ".kernel");
    host.cpu_model = as_string(need(h, "cpu_model", p), p + ".cpu_model");
    host.cpus = as_int(need(h, "cpus", p), p + ".cpus", 1);
    const Value& nics = need_array(need(h, "nics", p), p + ".nics");
    for (rapidjson::SizeType i = 0; i < nics.Size(); ++i) {
        const std::string q = strf("host.nics[%u]", i);
        const Value& n = need_object(nics[i], q);
        NicView nic;
        nic.name = as_string(need(n, "name", q), q + ".name");
        nic.driver = as_string(need(n, "driver", q), q + ".driver");
        nic.rx_queues = as_int(need(n, "rx_queues", q), q + ".rx_queues", 0);
        nic.tx_queues = as_int(need(n, "tx_queues", q), q + ".tx_queues", 0);
        if (const Value* v = find(n, "speed_mbps")) nic.speed_mbps = as_int(*v, q + ".speed_mbps", INT64_MIN);
        if (const Value* v = find(n, "mtu")) nic.mtu = as_int(*v, q + ".mtu", INT64_MIN);
        host.nics.push_back(std::move(nic));
    }
}

void read_results(const Value& res, RunView& r) {
    const std::string p = "results";
    need_object(res, p);
    r.elapsed_s = as_number(need(res, "elapsed_s", p), p + ".elapsed_s", 0);
    r.bytes_sent = as_count(need(res, "bytes_sent", p), p + ".bytes_sent");
    r.bytes_received = as_count(need(res, "bytes_received", p), p + ".bytes_received");
    r.errors =
        counts(need(res, "errors", p), p + ".errors", {"connect", "read", "write", "timeout", "parse"});
    if (const Value* v = find(res, "requests")) r.requests = as_count(*v, p + ".requests");
    if (const Value* v = find(res, "responses")) r.responses = as_count(*v, p + ".responses");
    if (const Value* v = find(res, "rps")) r.rps = as_number(*v, p + ".rps", 0);
    if (const Value* v = find(res, "gbps")) r.gbps = as_number(*v, p + ".gbps", 0);
    if (const Value* v = find(res, "status"))
        r.status = counts(*v, p + ".status", {"1xx", "2xx", "3xx", "4xx", "5xx"});
    if (const Value* v = find(res, "fairness")) {
        r.fairness = as_number(*v, p + ".fairness", 0);
        if (*r.fairness > 1) fail(p + ".fairness", "must be at most 1");
    }
    if (const Value* v = find(res, "latency_us")) {
        const std::string q = p + ".latency_us";
        need_object(*v, q);
        LatencySummary l;
        const std::pair<const char*, double*> fields[] = {
            {"count", &l.count}, {"min", &l.min}, {"mean", &l.mean},   {"p50", &l.p50},
            {"p90", &l.p90},     {"p99", &l.p99}, {"p99_9", &l.p99_9}, {"max", &l.max}};
        for (const auto& [k, dst] : fields) *dst = as_number(need(*v, k, q), join_path(q, k), 0);
        for (const auto& m : v->GetObject())
            as_number(m.value, q + "." + std::string(m.name.GetString(), m.name.GetStringLength()), 0);
        r.latency = l;
    }
    if (const Value* v = find(res, "latency_percentiles")) {
        const std::string q = p + ".latency_percentiles";
        need_array(*v, q);
        for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
            const std::string e = strf("%s[%u]", q.c_str(), i);
            const Value& pair = (*v)[i];
            if (!pair.IsArray() || pair.Size() != 2) fail(e, "must be a [percentile, microseconds] pair");
            const double pct = as_number(pair[0], e + "[0]");
            const double us = as_number(pair[1], e + "[1]", 0);
            if (pct < 0 || pct > 100) fail(e + "[0]", "percentile must lie in 0..100");
            r.percentiles.emplace_back(pct, us);
        }
        const bool fractions = std::all_of(r.percentiles.begin(), r.percentiles.end(),
                                           [](const auto& x) { return x.first <= 1.0; });
        if (fractions && !r.percentiles.empty())
            for (auto& x : r.percentiles) x.first *= 100.0;
        std::stable_sort(r.percentiles.begin(), r.percentiles.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    const Value& tl = need_array(need(res, "timeline", p), p + ".timeline");
    for (rapidjson::SizeType i = 0; i < tl.Size(); ++i) {
        const std::string q = strf("results.timeline[%u]", i);
        const Value& e = need_object(tl[i], q);
        TimelinePoint pt;
        pt.t = as_number(need(e, "t", q), q + ".t");
        pt.completed = as_count(need(e, "completed", q), q + ".completed");
        pt.bytes = as_count(need(e, "bytes", q), q + ".bytes");
        if (const Value* v = find(e, "p99_us")) pt.p99_us = as_number(*v, q + ".p99_us", 0);
        r.timeline.push_back(pt);
    }
    if (const Value* v = find(res, "flows")) {
        need_array(*v, p + ".flows");
        for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
            const std::string q = strf("results.flows[%u]", i);
            const Value& e = need_object((*v)[i], q);
            FlowView f;
            f.id = as_int(need(e, "id", q), q + ".id", INT64_MIN);
            f.bytes_sent = as_count(need(e, "bytes_sent", q), q + ".bytes_sent");
            f.bytes_received = as_count(need(e, "bytes_received", q), q + ".bytes_received");
            r.flows.push_back(f);
        }
    }
}

RunView read_run(const Value& doc, const std::string& file, size_t line) {
    if (!doc.IsObject()) fail("", "a result must be a JSON object");
    const Value* schema = find(doc, "schema");
    if (schema == nullptr) fail("", "not an edgeshard-bench result: missing required field \"schema\"");
    if (!schema->IsString() || std::strcmp(schema->GetString(), "edgeshard-bench/1") != 0)
        fail("schema", "must be \"edgeshard-bench/1\" (got " +
                           (schema->IsString() ? "\"" + json_text(*schema) + "\"" : json_text(*schema)) +
                           ")");
    RunView r;
    r.file = file;
    r.line = line;
    r.source = line == 0 ? file : file + ":" + std::to_string(line);
    const Value& tool = need_object(need(doc, "tool", ""), "tool");
    if (as_string(need(tool, "name", "tool"), "tool.name") != "edgeshard-bench")
        fail("tool.name", "must be \"edgeshard-bench\"");
    r.tool_version = as_string(need(tool, "version", "tool"), "tool.version");
    r.started_at = as_string(need(doc, "started_at", ""), "started_at");
    r.scenario = as_string(need(doc, "scenario", ""), "scenario");
    if (r.scenario != "http" && r.scenario != "tcp") fail("scenario", "must be \"http\" or \"tcp\"");
    if (const Value* v = find(doc, "label")) r.label = as_string(*v, "label");
    if (const Value* v = find(doc, "command")) r.command = as_string(*v, "command");
    read_settings(need(doc, "settings", ""), r);
    if (const Value* sw = find(doc, "sweep")) {
        need_object(*sw, "sweep");
        r.sweep_point = as_int(need(*sw, "point", "sweep"), "sweep.point", 1);
        r.sweep_points = as_int(need(*sw, "points", "sweep"), "sweep.points", 1);
        const Value& vars = need_object(need(*sw, "vars", "sweep"), "sweep.vars");
        for (const auto& m : vars.GetObject()) {
            const std::string key(m.name.GetString(), m.name.GetStringLength());
            if (!m.value.IsString() && !m.value.IsNumber() && !m.value.IsBool())
                fail("sweep.vars." + key, "must be a string, number or boolean");
            r.sweep_vars.push_back({key, json_text(m.value)});
        }
    }
    const Value& sk = need_array(need(doc, "skipped", ""), "skipped");
    for (rapidjson::SizeType i = 0; i < sk.Size(); ++i) {
        const std::string q = strf("skipped[%u]", i);
        const Value& e = need_object(sk[i], q);
        r.skipped.push_back({as_string(need(e, "setting", q), q + ".setting"),
                             as_string(need(e, "reason", q), q + ".reason")});
    }
    read_host(need(doc, "host", ""), r.host);
    read_results(need(doc, "results", ""), r);
    return r;
}

constexpr unsigned kParseFlags = rapidjson::kParseValidateEncodingFlag;

size_t line_of(std::string_view text, size_t offset) {
    offset = std::min(offset, text.size());
    return 1 + static_cast<size_t>(
                   std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

std::string parse_message(const rapidjson::Document& d) {
    return std::string("invalid JSON: ") + rapidjson::GetParseError_En(d.GetParseError());
}

}  // namespace

bool parse_result_text(std::string_view text, const std::string& name, std::vector<RunView>& out,
                       std::string& error) {
    std::vector<RunView> runs;
    rapidjson::Document whole;
    whole.Parse<kParseFlags>(text.data(), text.size());
    if (!whole.HasParseError()) {
        try {
            runs.push_back(read_run(whole, name, 0));
        } catch (const InputError& e) {
            error = name + ": " + e.msg;
            return false;
        }
    } else if (whole.GetParseError() == rapidjson::kParseErrorDocumentEmpty) {
        error = name + ": no result object (the file is empty)";
        return false;
    } else if (whole.GetParseError() != rapidjson::kParseErrorDocumentRootNotSingular) {
        error =
            name + ":" + std::to_string(line_of(text, whole.GetErrorOffset())) + ": " + parse_message(whole);
        return false;
    } else {
        // JSON Lines: one complete object per line
        size_t line_no = 0;
        for (size_t pos = 0; pos <= text.size();) {
            const size_t nl = text.find('\n', pos);
            const std::string_view line =
                text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
            pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
            ++line_no;
            if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
            const std::string where = name + ":" + std::to_string(line_no);
            rapidjson::Document d;
            d.Parse<kParseFlags>(line.data(), line.size());
            if (d.HasParseError()) {
                error = where + ": " + parse_message(d) +
                        " (JSON Lines: each line must hold one complete result object)";
                return false;
            }
            try {
                runs.push_back(read_run(d, name, line_no));
            } catch (const InputError& e) {
                error = where + ": " + e.msg;
                return false;
            }
        }
    }
    for (auto& r : runs) out.push_back(std::move(r));
    return true;
}

}  // namespace es::bench
