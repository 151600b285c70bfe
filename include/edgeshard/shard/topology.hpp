// CPU choice and pinning with hwloc (DESIGN.md §1): one shard per core, one PU per core
// (SMT siblings never share a shard), restricted to the CPUs this process may run on
// (taskset, cgroup cpusets), unless `cpu-map` names CPUs explicitly.
#pragma once

#include <string>
#include <vector>

#include "edgeshard/config/config.hpp"

namespace es::shard {

struct CpuSlot {
    int cpu = -1;        // OS index of the PU
    int numa_node = -1;  // OS index of its NUMA node, -1 if unknown
};

class Topology {
public:
    Topology();  // loads the machine topology; throws std::runtime_error on failure
    ~Topology();
    Topology(const Topology&) = delete;
    Topology& operator=(const Topology&) = delete;

    // The CPUs this process may run on, one PU per core first, then the remaining PUs.
    std::vector<int> allowed_cpus() const;
    // Shard placement: nbthread (0 = one per allowed core) and cpu-map entries. Throws
    // std::runtime_error naming the cpu-map line when it names a CPU the process cannot use.
    std::vector<CpuSlot> place(const config::Global& g) const;
    // Pins the calling thread to `cpu` and binds its memory allocations to that CPU's node.
    // Returns an empty string on success, else what failed.
    std::string pin_current_thread(int cpu) const;
    int numa_node_of(int cpu) const;
    std::string summary() const;  // "2 cores, 2 PUs, 1 NUMA node"

private:
    struct Impl;
    Impl* impl_;
};

}  // namespace es::shard
