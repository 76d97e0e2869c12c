import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RunnelProtocol

/// Sends records to a Kafka-compatible cluster, batched per partition, as the Java producer does.
///
///     let producer = try Producer(configuration: config)
///     let metadata = try await producer.send(ProducerRecord(topic: "events", key: "user-1", value: "hi"))
///     await producer.close()
///
/// `send` returns when the record is acknowledged; `send(_:completion:)` returns as soon as the
/// record is buffered and reports delivery through the callback, which is how many records are
/// kept in flight at once (and what `runnel bench produce` uses).
public final class Producer: Sendable {
    public let configuration: ProducerConfiguration
    let cluster: KafkaCluster
    let accumulator: RecordAccumulator
    private let sender: ProduceSender
    private let senderTask: NIOLockedValueBox<Task<Void, Never>?> = NIOLockedValueBox(nil)

    public init(configuration: ProducerConfiguration, logger: Logger = Logger(label: "runnel.producer")) throws {
        try configuration.validate()
        self.configuration = configuration
        cluster = KafkaCluster(configuration: configuration.client)
        accumulator = RecordAccumulator(configuration: configuration)
        sender = ProduceSender(configuration: configuration, cluster: cluster, accumulator: accumulator, logger: logger)
        let sender = self.sender
        senderTask.withLockedValue { $0 = Task { await sender.run() } }
    }

    /// Sends `record` and waits for its acknowledgement.
    @discardableResult
    public func send(_ record: ProducerRecord) async throws -> RecordMetadata {
        let box = DeliveryBox()
        try await send(record) { result in box.deliver(result) }
        return try await box.value()
    }

    /// Buffers `record` and returns; `completion` runs once it is acknowledged or has failed
    /// (on a client thread: keep it short). Waits only while `buffer.memory` is full.
    public func send(_ record: ProducerRecord, completion: DeliveryCallback?) async throws {
        let timestamp = record.timestamp ?? Int64(Date().timeIntervalSince1970 * 1000)
        while true {
            switch try accumulator.append(record, timestamp: timestamp, callback: completion) {
            case .appended:
                return
            case .needsMetadata:
                let metadata = try await cluster.metadata(covering: [record.topic])
                guard let count = metadata.partitionCount(of: record.topic), count > 0 else { throw KafkaClientError.unknownTopic(record.topic) }
                accumulator.setPartitionCount(count, for: record.topic)
            case .bufferFull:
                await accumulator.waitForSpace()
            }
        }
    }

    /// Sends everything buffered now and returns once all of it is acknowledged or failed.
    public func flush() async {
        await accumulator.flush()
    }

    /// Sends what is buffered, then closes the connections.
    public func close() async {
        accumulator.beginClosing()
        let task = senderTask.withLockedValue { $0 }
        await task?.value
        await cluster.close()
    }
}

/// Turns a delivery callback into an awaited value, whichever comes first.
private final class DeliveryBox: Sendable {
    private let state = NIOLockedValueBox<(Result<RecordMetadata, any Error>?, CheckedContinuation<RecordMetadata, any Error>?)>((nil, nil))

    func deliver(_ result: Result<RecordMetadata, any Error>) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<RecordMetadata, any Error>? in
            if let waiter = state.1 { return waiter }
            state.0 = result
            return nil
        }
        waiter?.resume(with: result)
    }

    func value() async throws -> RecordMetadata {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLockedValue { state -> Result<RecordMetadata, any Error>? in
                if let result = state.0 { return result }
                state.1 = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
