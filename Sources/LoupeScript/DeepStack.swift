import Foundation
import LoupeTensor
#if canImport(Glibc)
import Glibc
#endif

/// Runs the interpreter on a thread with a large stack, so that recursion in the language reaches
/// Python's default depth (1000 nested calls): a tree-walking interpreter uses tens of kilobytes
/// of native stack per call, more than the 8 MB of a main thread allows. The stack is reserved,
/// not committed: only the pages a deep recursion touches use memory. Code already running on
/// such a thread (a builtin calling back into the language) runs inline.
enum DeepStack {
    /// The reserved stack size of the interpreter's thread.
    static let stackSize = 1 << 29

    /// Whether the current thread is an interpreter thread.
    nonisolated(unsafe) private static var depthKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    static var isOnDeepStack: Bool { pthread_getspecific(depthKey) != nil }

    private final class Job {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Runs `body` on a thread with `stackSize` bytes of stack and waits for it. Falls back to the
    /// current thread when no thread can be started.
    static func run<R>(_ body: () throws -> R) throws -> R {
        if isOnDeepStack { return try body() }
        var result: Result<R, Error>?
        withoutActuallyEscaping(body) { body in
            let job = Unmanaged.passRetained(Job { result = Result { try body() } })
            var attributes = pthread_attr_t()
            pthread_attr_init(&attributes)
            defer { pthread_attr_destroy(&attributes) }
            pthread_attr_setstacksize(&attributes, stackSize)
            var thread = pthread_t()
            let started = pthread_create(&thread, &attributes, { context in
                guard let context else { return nil }
                pthread_setspecific(DeepStack.depthKey, UnsafeRawPointer(bitPattern: 1))
                Unmanaged<Job>.fromOpaque(context).takeUnretainedValue().body()
                return nil
            }, job.toOpaque())
            if started == 0 {
                pthread_join(thread, nil)
            } else {
                job.takeUnretainedValue().body()
            }
            job.release()
        }
        guard let result else { throw LoupeError("internal error: the interpreter thread did not run") }
        return try result.get()
    }
}
