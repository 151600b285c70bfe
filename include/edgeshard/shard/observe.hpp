// What a data shard saw of a server, for the passive checks (`server ... observe layer4|layer7
// error-limit N on-error ...`): HAProxy's analyzer statuses. A shard sends each error of such a
// server as a Message::kObserved to the control shard, and the first success after them; the
// control shard's checker counts the consecutive errors and applies the on-error action at the
// server's error-limit.
#pragma once

#include <cstdint>

namespace es::shard {

enum class Observed : std::uint8_t {
    L4Ok = 1,     // a connection was made (layer4: resets the count)
    L4Err,        // a connection failed
    HttpOk,       // a valid response (layer7: resets the count): 100-499, 501, 505
    HttpSts,      // another status
    HttpHdrRsp,   // a response whose head does not parse
    HttpRsp,      // another invalid response
    ReadError,    // the server's connection failed before its response
    ReadTimeout,  // no response in time
    BrokenPipe,   // the server closed before responding
};

// Whether `o` counts as an error (1), resets the count (2) or is ignored (0) for a server observed
// at `layer` 4 or 7 (HAProxy's table: layer4 counts connections only, layer7 responses and failed
// connections).
inline int observed_effect(Observed o, int layer) {
    switch (o) {
        case Observed::L4Ok:
            return layer == 4 ? 2 : 0;
        case Observed::L4Err:
            return 1;
        case Observed::HttpOk:
            return layer == 7 ? 2 : 0;
        default:
            return layer == 7 ? 1 : 0;
    }
}

// HAProxy's valid statuses for `observe layer7`: 100-499, 501 and 505.
inline Observed observed_status(int status) {
    return (status >= 100 && status <= 499) || status == 501 || status == 505 ? Observed::HttpOk : Observed::HttpSts;
}

}  // namespace es::shard
