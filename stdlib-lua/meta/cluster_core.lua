---@meta vmrun.cluster.core
error('Cannot require a meta file')

-- LuaLS annotations for vmrun.cluster.core (bindings/cluster_core.c), the C half of the `cluster`
-- module: stdlib-lua/vmrun/cluster.lua re-exports every function. Playbooks use `cluster`
-- (meta/cluster.lua), where each function is documented.

local cluster_core = {}

---See `cluster.get`.
function cluster_core.get(kind, namespace, name) end

---See `cluster.list`.
function cluster_core.list(kind, opts) end

---See `cluster.count`.
function cluster_core.count(kind, opts) end

---See `cluster.get_field`.
function cluster_core.get_field(kind, namespace, name, path) end

---See `cluster.names`.
function cluster_core.names(kind, opts) end

---See `cluster.requests_by_node`.
function cluster_core.requests_by_node(since) end

---See `cluster.pod_requests`.
function cluster_core.pod_requests(namespace, name) end

---See `cluster.changed`.
function cluster_core.changed(kind, since, opts) end

---See `cluster.wait_change`.
---@async
function cluster_core.wait_change(since, timeout) end

---What this run acts on: `{real = true, identity = "cluster 'NAME' at SERVER"}` for a real
---cluster (a `vmrun serve` included), `{real = false, identity = "simulated FILE"}` for the
---simulator in this process (loading the default cluster as any cluster access does). Raises
---kind `"usage"` when there is no cluster.
---@return {real: boolean, identity: string}
function cluster_core.target() end

---See `cluster.create`.
function cluster_core.create(object) end

---See `cluster.replace`.
function cluster_core.replace(object) end

---See `cluster.patch`.
function cluster_core.patch(kind, namespace, name, patch, opts) end

---See `cluster.delete`.
function cluster_core.delete(kind, namespace, name, opts) end

---See `cluster.evict`.
function cluster_core.evict(namespace, pod, opts) end

---See `cluster.try_evict`.
function cluster_core.try_evict(namespace, pod, opts) end

---See `cluster.evacuate_cancel`: the subresource itself (namespace, VMI name, node).
function cluster_core.evacuate_cancel(namespace, vmi, node) end

---See `cluster.watch`.
function cluster_core.watch(kind, opts) end

---See `cluster.revision`.
function cluster_core.revision(kind) end
