// expect: is not concurrency-safe because it involves shared mutable state
// The mutable C global `mach_task_self_` is shared mutable state; Swift 6 refuses it (the runner uses
// task_self_trap()).
import Darwin

func port() -> mach_port_t {
    mach_task_self_
}
