import Foundation
import RunnelClient
import RunnelProtocol

/// Reads partitions from given offsets with a consumer outside any group, for the commands
/// that inspect records (`group describe`'s LAG-SECONDS, `runnel trace`).
enum PartitionScan {
    /// Feeds `visit` each record at or after its partition's start offset until `visit` says
    /// that partition is done (it is then paused), every partition is done, or `quietSeconds`
    /// pass without a record. `reset` is where a start offset outside the log leads.
    static func read(
        from starts: [TopicPartition: Int64], configuration: ClientConfiguration, reset: OffsetResetPolicy, quietSeconds: Double,
        visit: (ConsumerRecord) -> Bool
    ) async throws {
        guard !starts.isEmpty else { return }
        var settings = ConsumerConfiguration(client: configuration)
        settings.autoOffsetReset = reset
        settings.maxPartitionFetchBytes = 64 * 1024
        let consumer = Consumer(configuration: settings)
        await consumer.assign(Array(starts.keys))
        for (partition, offset) in starts { await consumer.seek(partition, to: offset) }
        var done: Set<TopicPartition> = []
        do {
            var quietSince = Date()
            while done.count < starts.count, Date().timeIntervalSince(quietSince) < quietSeconds {
                let records = try await consumer.poll(timeout: .milliseconds(500))
                if !records.isEmpty { quietSince = Date() }
                for record in records {
                    let partition = TopicPartition(topic: record.topic, partition: record.partition)
                    guard !done.contains(partition), record.offset >= starts[partition] ?? 0, visit(record) else { continue }
                    done.insert(partition)
                    await consumer.pause([partition])
                }
            }
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
    }
}
