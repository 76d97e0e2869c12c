import NIOCore
import Prometheus
import RunnelStorage

extension FileSyncer {
    /// `syncer`, with the time of every fsync (file or directory, failed ones included)
    /// recorded in `histogram` (its count is the number of fsyncs).
    static func measured(_ syncer: FileSyncer, by histogram: DurationHistogram) -> FileSyncer {
        FileSyncer(
            syncFile: { file throws(StorageError) in
                let start = NIODeadline.now()
                defer { histogram.record(Duration(NIODeadline.now() - start)) }
                try syncer.syncFile(file)
            },
            syncDirectory: { path throws(StorageError) in
                let start = NIODeadline.now()
                defer { histogram.record(Duration(NIODeadline.now() - start)) }
                try syncer.syncDirectory(path)
            })
    }
}
