import RunnelCluster
import RunnelProtocol
import RunnelStorage

/// The (error code, message) a response carries for an error thrown by a metadata change:
/// the code a `ClusterMetadataError` names, else UNKNOWN_SERVER_ERROR.
func kafkaError(for error: any Error) -> (code: Int16, message: String) {
    if let error = error as? ClusterMetadataError { return (error.code.rawValue, error.message) }
    return (KafkaErrorCode.unknownServerError.rawValue, "\(error)")
}

extension StorageError {
    /// The code a produce or fetch answers for this storage error. A failing disk (full, I/O
    /// errors, a directory taken offline after a failed fsync) is KAFKA_STORAGE_ERROR, which
    /// clients retry: librdkafka fails messages for good on UNKNOWN_SERVER_ERROR.
    var kafkaErrorCode: KafkaErrorCode {
        if isStorageFailure { return .kafkaStorageError }
        switch code {
        case .batchTooLarge: return .recordListTooLarge
        case .offsetOutOfRange: return .offsetOutOfRange
        default: return .unknownServerError
        }
    }
}
