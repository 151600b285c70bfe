#include "edgeshard/shard/topology.hpp"

#include <hwloc.h>

#include <algorithm>
#include <stdexcept>

namespace es::shard {

struct Topology::Impl {
    hwloc_topology_t topo = nullptr;
    hwloc_bitmap_t allowed = nullptr;  // where this process may run
};

Topology::Topology() : impl_(new Impl) {
    if (hwloc_topology_init(&impl_->topo) != 0 || hwloc_topology_load(impl_->topo) != 0) {
        delete impl_;
        throw std::runtime_error("hwloc: cannot load the machine topology");
    }
    impl_->allowed = hwloc_bitmap_alloc();
    // the process binding reflects taskset and sched_setaffinity; the topology itself already
    // excludes what cgroup cpusets forbid
    if (hwloc_get_cpubind(impl_->topo, impl_->allowed, HWLOC_CPUBIND_PROCESS) != 0 ||
        hwloc_bitmap_iszero(impl_->allowed)) {
        hwloc_bitmap_copy(impl_->allowed, hwloc_topology_get_allowed_cpuset(impl_->topo));
    }
    hwloc_bitmap_and(impl_->allowed, impl_->allowed, hwloc_topology_get_allowed_cpuset(impl_->topo));
}

Topology::~Topology() {
    hwloc_bitmap_free(impl_->allowed);
    hwloc_topology_destroy(impl_->topo);
    delete impl_;
}

std::vector<int> Topology::allowed_cpus() const {
    std::vector<int> first, rest;
    const int ncores = hwloc_get_nbobjs_by_type(impl_->topo, HWLOC_OBJ_CORE);
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    for (int i = 0; i < ncores; ++i) {
        hwloc_obj_t core = hwloc_get_obj_by_type(impl_->topo, HWLOC_OBJ_CORE, i);
        hwloc_bitmap_and(set, core->cpuset, impl_->allowed);
        bool firstpu = true;
        for (int pu = hwloc_bitmap_first(set); pu != -1; pu = hwloc_bitmap_next(set, pu)) {
            (firstpu ? first : rest).push_back(pu);
            firstpu = false;
        }
    }
    hwloc_bitmap_free(set);
    if (first.empty()) {  // no core objects (unusual VMs): fall back to PUs
        for (int pu = hwloc_bitmap_first(impl_->allowed); pu != -1; pu = hwloc_bitmap_next(impl_->allowed, pu))
            first.push_back(pu);
    }
    first.insert(first.end(), rest.begin(), rest.end());
    return first;
}

std::vector<CpuSlot> Topology::place(const config::Global& g) const {
    const std::vector<int> cpus = allowed_cpus();
    if (cpus.empty()) throw std::runtime_error("no CPU is available to this process");
    int per_core = 0;
    {
        const int ncores = hwloc_get_nbobjs_by_type(impl_->topo, HWLOC_OBJ_CORE);
        per_core = ncores > 0 ? std::min<int>(ncores, int(cpus.size())) : int(cpus.size());
    }
    int n = g.nbthread > 0 ? g.nbthread : std::max(1, per_core);
    std::vector<CpuSlot> out(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) out[std::size_t(i)].cpu = cpus[std::size_t(i) % cpus.size()];
    // cpu-map: a shard given one CPU is pinned there; shards given the same set of CPUs (HAProxy's
    // "1/all 0-3" or "1/1-4 0-3") are spread over that set in shard order, one PU each
    std::vector<std::pair<std::vector<int>, int>> seen;  // set -> shards placed in it so far
    for (const auto& m : g.cpu_maps) {
        if (m.shard < 0 || m.shard >= n) continue;  // HAProxy ignores maps of threads that do not exist
        if (m.cpus.empty()) continue;
        int k = 0;
        auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& e) { return e.first == m.cpus; });
        if (it == seen.end()) seen.emplace_back(m.cpus, 1);
        else k = it->second++;
        const int cpu = m.cpus[std::size_t(k) % m.cpus.size()];
        if (!hwloc_bitmap_isset(impl_->allowed, unsigned(cpu)))
            throw std::runtime_error(m.where.file + ":" + std::to_string(m.where.line) + ": cpu-map: CPU " +
                                     std::to_string(cpu) + " is not available to this process");
        out[std::size_t(m.shard)].cpu = cpu;
    }
    for (auto& s : out) s.numa_node = numa_node_of(s.cpu);
    return out;
}

int Topology::numa_node_of(int cpu) const {
    hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(impl_->topo, unsigned(cpu));
    if (!pu) return -1;
    hwloc_bitmap_t nodes = hwloc_bitmap_alloc();
    hwloc_cpuset_to_nodeset(impl_->topo, pu->cpuset, nodes);
    const int node = hwloc_bitmap_first(nodes);
    hwloc_bitmap_free(nodes);
    return node;
}

std::string Topology::pin_current_thread(int cpu) const {
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    hwloc_bitmap_only(set, unsigned(cpu));
    std::string err;
    if (hwloc_set_cpubind(impl_->topo, set, HWLOC_CPUBIND_THREAD | HWLOC_CPUBIND_STRICT) != 0 &&
        hwloc_set_cpubind(impl_->topo, set, HWLOC_CPUBIND_THREAD) != 0) {
        err = "cannot pin to CPU " + std::to_string(cpu);
    } else {
        // first-touch memory of this thread goes to the CPU's node; failure (no NUMA support,
        // single node) is harmless, so it is not an error
        hwloc_set_membind(impl_->topo, set, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_THREAD);
    }
    hwloc_bitmap_free(set);
    return err;
}

std::string Topology::summary() const {
    const int cores = hwloc_get_nbobjs_by_type(impl_->topo, HWLOC_OBJ_CORE);
    const int pus = hwloc_get_nbobjs_by_type(impl_->topo, HWLOC_OBJ_PU);
    const int nodes = hwloc_get_nbobjs_by_type(impl_->topo, HWLOC_OBJ_NUMANODE);
    return std::to_string(cores) + " cores, " + std::to_string(pus) + " PUs, " + std::to_string(nodes) +
           " NUMA node" + (nodes == 1 ? "" : "s") + ", " + std::to_string(hwloc_bitmap_weight(impl_->allowed)) +
           " CPUs allowed";
}

}  // namespace es::shard
