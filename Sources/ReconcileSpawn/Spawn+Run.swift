#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

extension Spawn {
    /// How a command run to completion ended.
    public struct Finished: Sendable, Hashable {
        /// The exit code, 128 + the signal for a killed process; nil when it timed out.
        public var status: Int32?
        /// stdout and stderr together, at most the requested number of bytes.
        public var output: String
    }

    /// Runs argv to completion with stdout and stderr in a private temporary file (0600, in a
    /// 0700 folder) of which the first `outputLimit` bytes are returned, `input` (if any) on
    /// stdin; after `timeout` seconds the whole process group is killed. When the command ends,
    /// what is left of its group is killed too, so nothing it started outlives it.
    public static func run(
        _ argv: [String], environment: [String: String], directory: String? = nil, input: [UInt8]? = nil,
        timeout: Double, outputLimit: Int = 4096
    ) async throws(Failure) -> Finished {
        let running = try Running(argv, environment: environment, directory: directory, input: input, timeout: timeout)
        while !running.ended() { try? await Task.sleep(nanoseconds: 10_000_000) }
        return running.finish(outputLimit: outputLimit)
    }

    /// `run`, blocking the calling thread (for synchronous callers off the cooperative pool).
    public static func runBlocking(
        _ argv: [String], environment: [String: String], directory: String? = nil, input: [UInt8]? = nil,
        timeout: Double, outputLimit: Int = 1 << 20
    ) throws(Failure) -> Finished {
        let running = try Running(argv, environment: environment, directory: directory, input: input, timeout: timeout)
        while !running.ended() { usleep(5000) }
        return running.finish(outputLimit: outputLimit)
    }

    /// A command started by `run`: polled until it exits or its time is up, then finished.
    final class Running {
        let files: Scratch
        let pid: pid_t
        let deadline: Date
        var status: Int32?

        init(
            _ argv: [String], environment: [String: String], directory: String?, input: [UInt8]?, timeout: Double
        ) throws(Failure) {
            files = try Scratch(program: argv.first ?? "", input: input)
            do {
                pid = try start(files.request(argv, environment: environment, directory: directory))
            } catch {
                files.remove()
                throw error
            }
            deadline = Date().addingTimeInterval(timeout)
        }

        /// True once the command exited (its status kept) or its deadline passed.
        func ended() -> Bool {
            if let code = reap(pid) {
                status = code
                return true
            }
            return Date() >= deadline
        }

        /// Kills what is left of the group (reaping a command that timed out) and reads the output.
        func finish(outputLimit: Int) -> Finished {
            Spawn.finish(pid, reaped: status != nil)
            defer { files.remove() }
            return Finished(status: status, output: files.output(limit: outputLimit))
        }
    }

    /// The exit status of `pid` once it ended (128 + signal when killed), nil while it runs.
    public static func reap(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        return decode(status)
    }

    /// A waitpid status as an exit code, 128 + the signal for a killed process.
    public static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Kills what is left of the group; reaps the leader when it was not reaped yet.
    static func finish(_ pid: pid_t, reaped: Bool) {
        kill(-pid, SIGKILL)
        if !reaped {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    /// A private folder with the output file (and the input file) of one run.
    struct Scratch {
        let folder: String
        let hasInput: Bool

        init(program: String, input: [UInt8]?) throws(Failure) {
            let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
            var template = Array((base + "/reconcile-run-XXXXXX").utf8CString)
            guard let made = mkdtemp(&template) else { throw Failure(program: program, code: errno) }
            folder = String(cString: made)
            hasInput = input != nil
            if let input {
                let fd = open(folder + "/input", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
                guard fd >= 0 else {
                    let code = errno
                    remove()
                    throw Failure(program: program, code: code)
                }
                var offset = 0
                while offset < input.count {
                    let written = input[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                    if written <= 0 { break }
                    offset += written
                }
                close(fd)
            }
        }

        func request(_ argv: [String], environment: [String: String], directory: String?) -> Request {
            Request(
                argv: argv, environment: environment, directory: directory,
                stdin: hasInput ? .file(folder + "/input") : .null,
                stdout: .file(folder + "/output", append: false, exclusive: true), stderr: .stdout)
        }

        func output(limit: Int) -> String {
            let fd = open(folder + "/output", O_RDONLY | O_NOFOLLOW)
            guard fd >= 0 else { return "" }
            defer { close(fd) }
            var bytes = [UInt8](repeating: 0, count: limit)
            var count = 0
            while count < limit {
                let got = bytes[count...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if got <= 0 { break }
                count += got
            }
            return String(decoding: bytes[..<count], as: UTF8.self)
        }

        func remove() {
            unlink(folder + "/output")
            unlink(folder + "/input")
            rmdir(folder)
        }
    }
}
