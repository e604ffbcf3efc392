---@meta vmrun.cbt
error('Cannot require a meta file')

-- LuaLS annotations for the `cbt` module (stdlib-lua/vmrun/cbt.lua over bindings/cbt_core.c).

---The `cbt` module: VMware change-tracking (CBT) checks. A global loaded on first use; also
---`require("vmrun.cbt")`. docs/cbt.md describes the checks.
cbt = {}

---@class vmrun.VmxEntry
---@field key string the key as written
---@field value string the value, `|XX` escapes decoded
---@field line integer
---@field quoted boolean false when the value was written without quotes

---@class vmrun.VmxIssue
---@field line integer
---@field message string

---@class vmrun.VmxDisk
---@field node string "scsi0:1"
---@field bus "scsi"|"sata"|"ide"|"nvme"
---@field controller integer
---@field unit integer
---@field present boolean `<node>.present` true and its controller not switched off
---@field disk boolean a hard disk (not a CD-ROM image or a passthrough device)
---@field device_type? string
---@field file? string `fileName`
---@field mode string "persistent" when not set
---@field independent boolean mode independent-persistent or independent-nonpersistent
---@field ctk_enabled? boolean nil when unset or not a boolean
---@field line integer the line of its first key

---@class vmrun.VmxFile
---@field path string
---@field entries vmrun.VmxEntry[] every key in file order (the first of duplicates)
---@field values table<string, string> value by lower-cased key
---@field issues vmrun.VmxIssue[] odd lines, duplicates, keys that are also namespaces

---@class vmrun.Vmx: vmrun.VmxFile
---@field disks vmrun.VmxDisk[] the devices on the disk buses, by bus, controller and unit

---Reads a .vmx file. Odd lines never fail the parse: they are `issues` with their line numbers.
---Raises kind `"input"` when the file cannot be read, `"decode"` ("PATH:LINE: what") when it is
---binary or a VMDK image or descriptor.
---@param path string
---@return vmrun.Vmx
function cbt.parse_vmx(path) end

---@class vmrun.VmsdSnapshot
---@field slot integer the N of `snapshotN.` (an internal slot, not the hierarchy)
---@field uid? string
---@field display_name? string
---@field description? string
---@field filename? string the .vmsn state file
---@field parent? string the parent's uid
---@field type? string
---@field line integer
---@field disks {index: integer, file?: string, node?: string}[]

---@class vmrun.Vmsd: vmrun.VmxFile
---@field snapshots vmrun.VmsdSnapshot[] by slot
---@field num_snapshots? integer `snapshot.numSnapshots`
---@field current? integer `snapshot.current`: the uid the VM runs on
---@field need_consolidate boolean `snapshot.needConsolidate`

---Reads a .vmsd snapshot database (same syntax as .vmx; may be empty). Raises as
---`cbt.parse_vmx`.
---@param path string
---@return vmrun.Vmsd
function cbt.parse_vmsd(path) end

---@class vmrun.VmdkExtent
---@field access string RW, RDONLY or NOACCESS
---@field sectors integer size in 512-byte sectors
---@field type string FLAT, SPARSE, ZERO, VMFS, VMFSSPARSE, VMFSRDM, VMFSRAW, SESPARSE, ...
---@field file? string nil for ZERO extents
---@field line integer

---@class vmrun.Vmdk: vmrun.VmxFile
---@field version? integer the descriptor version: 3 while CBT is on, 1 otherwise
---@field create_type? string vmfs, vmfsSparse, seSparse, vmfsRawDeviceMap, ...
---@field change_track_path? string the `-ctk.vmdk` file of a tracked disk
---@field cid? string
---@field parent_cid? string "ffffffff" for a base disk
---@field parent_file_name_hint? string a delta's parent descriptor
---@field rdm? "physical"|"virtual" raw device mapping; physical mode cannot be tracked
---@field embedded boolean read from inside a monolithic sparse image
---@field extents vmrun.VmdkExtent[]

---Reads a VMDK disk descriptor: the text `<disk>.vmdk` next to a flat or delta extent, or the
---descriptor inside a monolithic sparse image (only its header and descriptor are read). Raises
---kind `"input"` when the file cannot be read, `"decode"` naming the file (and line) when it holds
---no descriptor: a flat extent, a sparse image without one, a .vmx.
---@param path string
---@return vmrun.Vmdk
function cbt.parse_vmdk(path) end

---@class vmrun.CbtFinding
---@field id string VMX-PARSE, CBT-HWVER, CBT-VM, CBT-DISALLOWED, CBT-DISK, CBT-DISK-MODE, CBT-RDM, CBT-DESCRIPTOR, CBT-CTK-FILES, SNAP-NONE, SNAP-CONSOLIDATE, VMSD-PARSE, SHARED-DISK, PASSTHRU, DISK-MISSING, DISK-ELSEWHERE; from inventories also CBT-RESET and INVENTORY-CONFIG
---@field severity "critical"|"warning"|"info" as Forklift grades it for a warm migration
---@field file string the file it was found in (a name inside the VM's folder)
---@field line? integer
---@field message string
---@field fix? string what to do about it
---@field disk? string the disk's node ("scsi0:1") for per-disk findings

---@class vmrun.CbtReport
---@field vmx string the .vmx checked
---@field name? string its displayName
---@field findings vmrun.CbtFinding[] critical first, then by file and line
---@field counts {critical: integer, warning: integer, info: integer}
---@field disks vmrun.VmxDisk[]

---Checks a VM's folder (or its .vmx) for what stands in the way of change tracking: the checks of
---docs/cbt.md. Reads files only. Raises kind `"input"` when the folder holds no .vmx or several,
---or a file cannot be read, `"decode"` when the .vmx is not one.
---@param dir_or_vmx string
---@return vmrun.CbtReport
function cbt.check_vm(dir_or_vmx) end

---@class vmrun.CbtEnableOptions
---@field force? boolean go ahead despite snapshots, lock files or ctkDisallowed
---@field dry_run? boolean only compute the changes and the diff

---@class vmrun.CbtEnableResult
---@field vmx string
---@field changed boolean whether any line needed a change
---@field written boolean whether the file was rewritten
---@field backup? string the copy of the original, when written
---@field changes {key: string, line?: integer, old?: string, new: string}[]
---@field diff string the changes as a diff ("" when none)
---@field skipped string[] disks that cannot be tracked (independent)
---@field blockers string[] what force went past
---@field note string when the change takes effect

---Switches change tracking on in a .vmx: `ctkEnabled` and the `ctkEnabled` of every present,
---dependent hard disk. Changes only those lines (or appends them), keeps a backup of the original,
---and replaces the file crash-safely; idempotent. Raises kind `"refused"` (nothing written) while
---snapshots exist, the VM looks powered on (`.lck` files) or `ctkDisallowed` is set, unless
---`force`; kind `"input"`/`"decode"` as `cbt.parse_vmx`; kind `"usage"` on bad arguments.
---@param vmx string
---@param opts? vmrun.CbtEnableOptions
---@return vmrun.CbtEnableResult
function cbt.enable(vmx, opts) end

---@class vmrun.CbtInventoryVm
---@field name string
---@field findings vmrun.CbtFinding[] each also with `vm`, the VM's name
---@field counts {critical: integer, warning: integer, info: integer}
---@field disks {node: string, file?: string, ctk_enabled?: boolean, mode?: string, change_id?: string}[]

---@class vmrun.CbtInventoryReport
---@field file string
---@field vms vmrun.CbtInventoryVm[]
---@field counts {critical: integer, warning: integer, info: integer}

---The checks of `cbt.check_vm`, as far as a vSphere inventory export allows: the JSON that
---`govc vm.info -json` prints (`{virtualMachines = [...]}` in either casing, a list of VMs, or one
---VM). With `previous` (an earlier export), a disk whose changeId UUID changed is reported as
---CBT-RESET: the next copy is a full one. Raises kind `"input"`/`"decode"` as `json.decode_file`,
---`"decode"` when the document holds no VMs, `"usage"` on bad arguments.
---@param file string
---@param opts? {previous?: string}
---@return vmrun.CbtInventoryReport
function cbt.check_inventory(file, opts) end

---@class vmrun.CbtClusterReport
---@field feature_gate boolean the KubeVirt CR turns IncrementalBackup on
---@field vms {vm: string, chosen: boolean, state?: string}[] "ns/name"; chosen by the selectors
---@field findings {id: string, severity: string, vm?: string, message: string, fix?: string}[]
---@field counts {critical: integer, warning: integer, info: integer}

---KubeVirt's own change tracking on the current cluster: the `IncrementalBackup` feature gate
---(KV-FG), the KubeVirt CR's `changedBlockTrackingLabelSelectors`, and for each VM they choose its
---`status.changedBlockTracking.state` (KV-STATE) and its VirtualMachineBackupTracker checkpoint
---(KV-TRACKER). Raises kind `"usage"` when no cluster is loaded.
---@return vmrun.CbtClusterReport
function cbt.check_cluster() end

---@class vmrun.CbtTrackOptions
---@field block_size? integer bytes: a power of two from 4096 to 67108864; default the tracking file's, or 65536
---@field state? string the tracking file; default `image .. ".vmrun-cbt"`
---@field reset? boolean start a new epoch (needed to change block_size)

---@class vmrun.CbtTrackInfo
---@field change_id string "UUID/sequence"
---@field previous? string the change ID this pass continued from (nil when an epoch started)
---@field reset? string why a new epoch started over a tracking file that was there
---@field size integer the image's size in bytes
---@field block_size integer
---@field blocks integer
---@field changed_blocks integer blocks whose bytes changed in this pass (all of them in a new epoch)
---@field data_blocks integer blocks that hold data (not entirely a hole)
---@field bytes_read integer read from the image (holes are not read)
---@field state string the tracking file

---Hashes a disk image (or any regular file) block by block with XXH3 and updates its tracking
---file crash-safely, on a worker thread while the task waits; returns the new change ID "UUID/sequence". Holes are not read. A damaged
---tracking file, or one made for another file, starts a new epoch (`info.reset` says why). Raises
---kind `"input"` when the image cannot be read or the tracking file written (or has a newer
---format), `"conflict"` while another pass holds the image's lock, `"usage"` on bad arguments.
---@async
---@param image string
---@param opts? vmrun.CbtTrackOptions
---@return string change_id
---@return vmrun.CbtTrackInfo info
function cbt.track(image, opts) end

---@class vmrun.CbtChangedInfo
---@field change_id string the tracking file's current change ID
---@field size integer the image's size at the last `cbt.track`
---@field block_size integer
---@field blocks integer
---@field bytes integer the extents' total length
---@field state string the tracking file

---The byte ranges of `image` that changed after change ID `since`, up to the last `cbt.track`:
---merged, in order, none past the image's size, none longer than `max_length` (default 64 MiB; 0
---for no limit). `since = "*"` gives the blocks that held data at the last track. Raises kind
---`"reset_required"` (copy the whole image) when `since` is from another epoch or newer than the
---tracking file, or the file is missing, damaged or made for another file; `"input"` for a
---malformed change ID or a file that cannot be read; `"usage"` on bad arguments.
---@async
---@param image string
---@param since string "UUID/sequence" or "*"
---@param opts? {state?: string, max_length?: integer}
---@return {start: integer, length: integer}[] extents
---@return vmrun.CbtChangedInfo info
function cbt.changed(image, since, opts) end
