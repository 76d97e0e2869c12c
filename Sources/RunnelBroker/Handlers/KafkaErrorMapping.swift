import RunnelCluster
import RunnelProtocol

/// The (error code, message) a response carries for an error thrown by a metadata change:
/// the code a `ClusterMetadataError` names, else UNKNOWN_SERVER_ERROR.
func kafkaError(for error: any Error) -> (code: Int16, message: String) {
    if let error = error as? ClusterMetadataError { return (error.code.rawValue, error.message) }
    return (KafkaErrorCode.unknownServerError.rawValue, "\(error)")
}
