// Type-check shim of the Darwin calls the runner makes (Mach task info, sysctl). Hand-written from Apple's
// public documentation and the C declarations as Swift imports them (signatures only; no SDK file was
// copied). Like the real Darwin module it re-exports the C library. Never linked into anything that runs.
@_exported import Glibc

public typealias integer_t = Int32
public typealias natural_t = UInt32
public typealias mach_port_name_t = natural_t
public typealias mach_port_t = mach_port_name_t
public typealias task_name_t = mach_port_t
public typealias task_t = mach_port_t
public typealias task_flavor_t = natural_t
public typealias task_info_t = UnsafeMutablePointer<integer_t>
public typealias mach_msg_type_number_t = natural_t
public typealias kern_return_t = Int32

/// C macros are imported as read-only global properties of their C type.
public var KERN_SUCCESS: Int32 { shimOnly() }
public var TASK_VM_INFO: Int32 { shimOnly() }

/// `struct task_vm_info` (mach/task_info.h); only the fields the runner reads are declared, and the zero
/// initializer every imported C struct gets.
public struct task_vm_info {
    public var virtual_size: UInt64
    public var resident_size: UInt64
    public var phys_footprint: UInt64
    public init() { shimOnly() }
}
public typealias task_vm_info_data_t = task_vm_info

public func task_info(
    _ target_task: task_name_t, _ flavor: task_flavor_t, _ task_info_out: task_info_t!,
    _ task_info_outCnt: UnsafeMutablePointer<mach_msg_type_number_t>!
) -> kern_return_t { shimOnly() }

public func task_self_trap() -> mach_port_name_t { shimOnly() }

public func sysctlbyname(
    _ name: UnsafePointer<CChar>!, _ oldp: UnsafeMutableRawPointer!, _ oldlenp: UnsafeMutablePointer<Int>!,
    _ newp: UnsafeMutableRawPointer!, _ newlen: Int
) -> Int32 { shimOnly() }

func shimOnly() -> Never {
    fatalError("type-check shim: Darwin does not exist on this platform")
}

/// The task port as a mutable C global. Swift 6 refuses to read it from nonisolated code (shared mutable
/// state), which is why the runner calls `task_self_trap()` instead; this module is built in Swift 5 mode, like
/// an imported C module, so the refusal happens where it is used.
public var mach_task_self_: mach_port_t = 0
