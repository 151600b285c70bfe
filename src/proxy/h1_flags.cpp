// Renderers of the HTTP/1 flag words (h1_types.hpp), for debug output.
#include "edgeshard/core/flags.hpp"
#include "edgeshard/proxy/h1_types.hpp"

namespace es::proxy {

std::string show_h1_flags(std::uint16_t flags) {
    static constexpr core::FlagName kNames[] = {
        {kH1Released, "RELD"}, {kH1CountedConn, "CNTC"}, {kH1CountedBe, "CNTB"}, {kH1Pending, "PEND"},
        {kH1Linger, "LINGER"}, {kH1CloseAfter, "CLOSE"}, {kH1FirstReq, "FIRST"}, {kH1InParse, "PARSE"},
        {kH1Tls, "TLS"},       {kH1Ktls, "KTLS"},         {kH1KtlsWait, "KTLSW"}, {kH1Upgraded, "TCPUPG"},
    };
    return core::show_flags(flags, kNames);
}

std::string show_h1s_flags(std::uint16_t flags) {
    static constexpr core::FlagName kNames[] = {
        {kH1SQueued, "QUEUED"}, {kH1SReplied, "LOCAL"},   {kH1SUpgrade, "UPG"},  {kH1SExpect, "EXP"},
        {kH1SHead, "HEAD"},     {kH1SSrvClose, "SCLOSE"}, {kH1SForceNew, "NEW"}, {kH1SLogged, "LOGGED"},
        {kH1SHttp10, "H10"},
        {kH1SCookieKept, "CKKEEP"}, {kH1SStats, "STATS"}, {kH1SStatsBe, "STATSBE"},
    };
    return core::show_flags(flags, kNames);
}

std::string show_c1_flags(std::uint8_t flags) {
    static constexpr core::FlagName kNames[] = {
        {kC1NoSplice, "NOSPL"}, {kC1Spliced, "SPLD"}, {kC1Big, "BIG"},          {kC1Reused, "REUSED"},
        {kC1Released, "RELD"},  {kC1Counted, "CNT"},  {kC1Established, "EST"},
    };
    return core::show_flags(flags, kNames);
}

}  // namespace es::proxy
