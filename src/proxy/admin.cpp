// Worker: runtime server states (`set server`, `set weight`), applied from control messages.
#include "edgeshard/proxy/worker.hpp"

namespace es::proxy {

void Worker::apply_initial_server_states() {}

void Worker::on_server_admin(const shard::Message&) {}

}  // namespace es::proxy
