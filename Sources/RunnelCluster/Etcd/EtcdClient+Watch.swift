import Foundation
import NIOCore

/// The changes one watch answer reports.
public struct EtcdWatchResponse: Sendable, Equatable {
    public var events: [EtcdWatchEvent]
    /// The revision of the last event: a watch that ends is resumed from `revision + 1`. (Not
    /// the answer header's revision, which while etcd catches a watch up can be ahead of the
    /// events sent so far.)
    public var revision: Int64
}

extension EtcdClient {
    /// Every change to keys starting with `prefix` from `revision` on, in revision order, until
    /// the stream is dropped (its task cancelled) or fails.
    ///
    /// The stream throws `EtcdError.Code.compacted` when etcd no longer holds the revisions it
    /// would have to send (re-read with `get(prefix:)`, then watch from that read's revision
    /// + 1), and `.unavailable` when the connection ends: a watch never ends quietly, so a
    /// caller cannot miss changes without knowing it.
    public func watch(prefix: String, fromRevision revision: Int64) -> AsyncThrowingStream<EtcdWatchResponse, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await self.streamWatch(prefix: prefix, fromRevision: revision) { continuation.yield($0) }
                    continuation.finish(throwing: EtcdError(.unavailable, "the watch of \(prefix) ended"))
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func streamWatch(
        prefix: String, fromRevision revision: Int64, yield: (EtcdWatchResponse) -> Void
    ) async throws {
        let request: EtcdJSON.Object = [
            "create_request": [
                "key": EtcdJSON.bytes(prefix), "range_end": EtcdJSON.bytes(EtcdJSON.prefixEnd(prefix)),
                "start_revision": String(revision),
                // Progress notifications tell a quiet watch from a dead one (see `watchResponse`).
                "progress_notify": true,
            ] as EtcdJSON.Object
        ]
        // A watch lasts as long as its caller wants it: no deadline, cancellation ends it.
        let response = try await send("/v3/watch", try EtcdJSON.encode(request), deadline: .distantFuture)
        guard response.status == .ok else {
            throw EtcdError(.server(code: -1), "/v3/watch answered HTTP \(response.status.code)")
        }
        // Newline-delimited `{"result": {...}}` objects, split across chunks as TCP pleases.
        var pending: [UInt8] = []
        for try await chunk in response.body {
            pending.append(contentsOf: chunk.readableBytesView)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                guard !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) else { continue }
                if let answer = try Self.watchResponse(EtcdJSON.decode(Data(line))) { yield(answer) }
            }
        }
    }

    /// One line of the watch stream: events to report (none for a progress notification), nil
    /// for the `created` answer, or a thrown error.
    static func watchResponse(_ line: EtcdJSON.Object) throws(EtcdError) -> EtcdWatchResponse? {
        guard let result = line["result"] as? EtcdJSON.Object else {
            throw EtcdJSON.error(line["error"] as? EtcdJSON.Object ?? line)
                ?? EtcdError(.invalidResponse, "a watch answered \(line)")
        }
        let compacted = EtcdJSON.int64(result["compact_revision"])
        if compacted != 0 {
            throw EtcdError(.compacted(revision: compacted), "revisions before \(compacted) are compacted")
        }
        if result["canceled"] as? Bool == true {
            throw EtcdError(.unavailable, "etcd cancelled the watch: \(result["cancel_reason"] ?? "no reason given")")
        }
        let events = (result["events"] as? [EtcdJSON.Object] ?? []).map { event -> EtcdWatchEvent in
            let keyValue = EtcdJSON.keyValue(event["kv"] as? EtcdJSON.Object ?? [:])
            // PUT is the default event type, so the gateway leaves it out.
            return event["type"] as? String == "DELETE" ? .delete(keyValue) : .put(keyValue)
        }
        guard let last = events.last else {
            // A progress notification (no events, not the `created` answer) says every change
            // up to the header's revision was sent: the watch is alive and may resume there.
            // The `created` answer's header is the store's revision, not the watch's progress.
            guard result["created"] as? Bool != true, let header = result["header"] as? EtcdJSON.Object else { return nil }
            let revision = EtcdJSON.int64(header["revision"])
            return revision > 0 ? EtcdWatchResponse(events: [], revision: revision) : nil
        }
        let revision = switch last {
        case .put(let keyValue), .delete(let keyValue): keyValue.modRevision
        }
        return EtcdWatchResponse(events: events, revision: revision)
    }
}
