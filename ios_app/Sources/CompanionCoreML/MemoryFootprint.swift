// Apple APIs used in this file (review list; minimum OS that introduced each):
// - Darwin/Mach `task_info(_:_:_:_:)` with flavor `TASK_VM_INFO` and `task_vm_info_data_t.phys_footprint`
//   (iOS 7 / macOS 10.9; the figure Xcode's memory gauge and jetsam use)
// - `task_self_trap()` (Mach trap behind `mach_task_self()`, all OS versions)
#if canImport(CoreML)
    import Darwin

    /// The task port of this process, read once. `mach_task_self_` is a mutable C global that Swift 6 refuses
    /// to read from nonisolated code on older SDKs; the trap returns the same port name.
    private let currentTaskPort: mach_port_t = task_self_trap()

    /// The process's physical memory footprint in bytes (`phys_footprint`), or `nil` when the kernel refuses.
    public func physicalFootprintBytes() -> Int? {
        var info = task_vm_info_data_t()
        var count = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<integer_t>.size)
        let result = withUnsafeMutablePointer(to: &info) { pointer in
            pointer.withMemoryRebound(to: integer_t.self, capacity: Int(count)) { words in
                task_info(currentTaskPort, task_flavor_t(TASK_VM_INFO), words, &count)
            }
        }
        guard result == KERN_SUCCESS else { return nil }
        return Int(clamping: info.phys_footprint)
    }
#endif
