import NIOCore
import Prometheus
import RunnelCluster
import RunnelProtocol
import RunnelStorage
import Synchronization

/// The gauges of the broker's state, computed when `/metrics` is scraped: connections, the
/// waiting rooms, partitions (hosted, led, under-replicated, under min ISR, offline), each
/// hosted log (size, segments, start and end offsets, high watermark) and each group this
/// broker coordinates (count by state, lag per partition in records and seconds).
///
/// Lag is what Kafka's tools compute: the partition's high watermark minus the group's
/// committed offset, for partitions with a replica on this broker (in a cluster, a coordinator
/// reports the partitions it hosts). Lag in seconds is the age of the oldest unconsumed
/// record's batch (now minus the first timestamp of the batch holding the committed offset):
/// one 61-byte read per lagging partition per scrape; exact to within one batch's span.
///
/// Per-partition and per-group-partition series stop at `maxPartitionSeries` each;
/// `runnel_metrics_series_dropped` counts what was left out.
///
/// Thread-safe: a scrape holds `lock` from collection to emission, so concurrent scrapes
/// take turns and see consistent series.
final class StateGauges: Sendable {
    /// Where the figures come from: closures over the broker's parts, so this type needs no
    /// broker and tests can feed it.
    struct Sources: Sendable {
        var connections: @Sendable () -> Int
        var waitingFetches: @Sendable () -> Int
        var partitions: @Sendable () -> [Partition]
        var image: @Sendable () -> MetadataImageFigures
        var groups: @Sendable () -> [(groupId: String, state: String, committed: [TopicPartition: Int64])]
    }

    /// What the metadata image says that the gauges need.
    struct MetadataImageFigures: Sendable {
        var isController: Bool
        var topics: Set<String>
        /// Partitions without a live leader (reported by the controller, as Kafka does).
        var leaderless: Int
        /// Per partition: its replica count, ISR size and the topic's min.insync.replicas.
        var replication: [TopicPartition: (replicas: Int, isr: Int, minIsr: Int)]
    }

    private struct Gauges {
        let connections: Gauge
        let fetchWaiting: Gauge
        let produceWaiting: Gauge
        let partitions: Gauge
        let leaders: Gauge
        let underReplicated: Gauge
        let underMinIsr: Gauge
        let offlinePartitions: Gauge
        let offlineReplicas: Gauge
        let dropped: LabelledGauges
        let logSize: LabelledGauges
        let logSegments: LabelledGauges
        let logStart: LabelledGauges
        let logEnd: LabelledGauges
        let highWatermark: LabelledGauges
        let groups: LabelledGauges
        let lagRecords: LabelledGauges
        let lagSeconds: LabelledGauges
    }

    private let sources: Sources
    private let traffic: TopicTraffic
    private let maxSeries: Int
    private let registry: PrometheusCollectorRegistry
    private let lock: Mutex<Gauges>

    init(sources: Sources, metrics: BrokerMetrics) {
        self.sources = sources
        traffic = metrics.traffic
        maxSeries = metrics.maxPartitionSeries
        let registry = metrics.registry
        self.registry = registry
        func gauge(_ name: String, _ help: String) -> Gauge { registry.gauge(name, labels: [], help: help) }
        func labelled(_ name: String, _ labels: [String], _ help: String) -> LabelledGauges {
            LabelledGauges(name, labels: labels, help: help, registry: registry)
        }
        let partition = ["topic", "partition"]
        let groupPartition = ["group", "topic", "partition"]
        lock = Mutex(Gauges(
            connections: gauge("runnel_connections", "Open client connections"),
            fetchWaiting: gauge("runnel_fetch_waiting", "Fetches long-polling for data (the fetch waiting room)"),
            produceWaiting: gauge("runnel_produce_waiting", "acks=all produces waiting for their followers (the produce waiting room)"),
            partitions: gauge("runnel_partitions", "Partitions with a replica on this broker"),
            leaders: gauge("runnel_leader_partitions", "Partitions this broker leads"),
            underReplicated: gauge("runnel_under_replicated_partitions", "Partitions led here whose ISR is smaller than their replica set"),
            underMinIsr: gauge("runnel_under_min_isr_partitions", "Partitions led here whose ISR is below min.insync.replicas"),
            offlinePartitions: gauge("runnel_offline_partitions", "Partitions without a live leader (reported by the controller)"),
            offlineReplicas: gauge("runnel_offline_replicas", "Replicas on this broker whose log directory is offline"),
            dropped: labelled("runnel_metrics_series_dropped", ["family"], "Series left out of a family past its cap"),
            logSize: labelled("runnel_log_size_bytes", partition, "Bytes of a partition's log segments"),
            logSegments: labelled("runnel_log_segments", partition, "Segments of a partition's log"),
            logStart: labelled("runnel_log_start_offset", partition, "A partition's log start offset"),
            logEnd: labelled("runnel_log_end_offset", partition, "A partition's log end offset"),
            highWatermark: labelled("runnel_log_high_watermark", partition, "A partition's high watermark"),
            groups: labelled("runnel_groups", ["state"], "Groups this broker coordinates, by state"),
            lagRecords: labelled("runnel_group_lag_records", groupPartition, "High watermark minus the group's committed offset"),
            lagSeconds: labelled(
                "runnel_group_lag_seconds", groupPartition, "Age of the batch holding the group's first unconsumed record, seconds")))
    }

    /// Refreshes every gauge, then emits the whole registry in Prometheus' text format.
    func scrape(nowMs: Int64 = PartitionLog.wallClockMilliseconds()) -> [UInt8] {
        lock.withLock { gauges in
            refresh(&gauges, nowMs: nowMs)
            return registry.emitToBuffer()
        }
    }

    private func refresh(_ gauges: inout Gauges, nowMs: Int64) {
        gauges.connections.set(Int64(sources.connections()))
        gauges.fetchWaiting.set(Int64(sources.waitingFetches()))
        let image = sources.image()
        traffic.retain(topics: image.topics)
        let hosted = sources.partitions().sorted { ($0.topicPartition.topic, $0.topicPartition.partition) < ($1.topicPartition.topic, $1.topicPartition.partition) }
        var produceWaiting = 0, leaders = 0, underReplicated = 0, underMinIsr = 0, offline = 0
        var size: [[String]: Double] = [:], segments = size, start = size, end = size, highWatermark = size
        var logs: [TopicPartition: PartitionLog] = [:]
        for partition in hosted {
            let log = partition.log
            logs[partition.topicPartition] = log
            if log.isOffline { offline += 1 }
            if partition.isLeader {
                leaders += 1
                produceWaiting += partition.waitingProduces
                if let replication = image.replication[partition.topicPartition] {
                    if replication.isr < replication.replicas { underReplicated += 1 }
                    if replication.isr < replication.minIsr { underMinIsr += 1 }
                }
            }
            guard size.count < maxSeries else { continue }
            let labels = [partition.topicPartition.topic, String(partition.topicPartition.partition)]
            let offsets = log.offsets
            size[labels] = Double(log.sizeInBytes)
            segments[labels] = Double(log.segmentCount)
            start[labels] = Double(offsets.logStartOffset)
            end[labels] = Double(offsets.logEndOffset)
            highWatermark[labels] = Double(offsets.highWatermark)
        }
        gauges.produceWaiting.set(Int64(produceWaiting))
        gauges.partitions.set(Int64(hosted.count))
        gauges.leaders.set(Int64(leaders))
        gauges.underReplicated.set(Int64(underReplicated))
        gauges.underMinIsr.set(Int64(underMinIsr))
        gauges.offlinePartitions.set(Int64(image.isController ? image.leaderless : 0))
        gauges.offlineReplicas.set(Int64(offline))
        gauges.logSize.update(size)
        gauges.logSegments.update(segments)
        gauges.logStart.update(start)
        gauges.logEnd.update(end)
        gauges.highWatermark.update(highWatermark)

        var byState: [[String]: Double] = [:]
        var lagRecords: [[String]: Double] = [:], lagSeconds = lagRecords
        var droppedLag = 0
        for group in sources.groups() {
            byState[[group.state], default: 0] += 1
            for (topicPartition, committed) in group.committed.sorted(by: { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }) {
                guard let log = logs[topicPartition], !log.isOffline else { continue }
                guard lagRecords.count < maxSeries else {
                    droppedLag += 1
                    continue
                }
                let labels = [group.groupId, topicPartition.topic, String(topicPartition.partition)]
                let highWatermark = log.offsets.highWatermark
                let lag = max(0, highWatermark - committed)
                lagRecords[labels] = Double(lag)
                // Left out (not 0, which would read as caught up) when the batch cannot be read.
                lagSeconds[labels] = lag == 0 ? 0 : Self.ageOfBatch(holding: max(committed, log.offsets.logStartOffset), in: log, nowMs: nowMs)
            }
        }
        gauges.groups.update(byState)
        gauges.lagRecords.update(lagRecords)
        gauges.lagSeconds.update(lagSeconds)
        gauges.dropped.update([
            ["partition"]: Double(max(0, hosted.count - size.count)),
            ["group_partition"]: Double(droppedLag),
        ])
    }

    /// Seconds since the batch holding `offset` was written: its first timestamp, or with
    /// LogAppendTime the broker's (the batch's max timestamp); nil when unreadable or untimed.
    static func ageOfBatch(holding offset: Int64, in log: PartitionLog, nowMs: Int64) -> Double? {
        guard let slice = try? log.read(from: offset, maxBytes: 1),
              let bytes = try? slice.file.read(at: slice.position, length: RecordBatchHeader.size),
              let header = try? RecordBatchHeader(from: bytes, at: bytes.readerIndex)
        else { return nil }
        let written = header.attributes.timestampType == .logAppendTime ? header.maxTimestamp : header.baseTimestamp
        guard written >= 0 else { return nil }
        return Double(max(0, nowMs - written)) / 1000
    }
}

extension StateGauges.MetadataImageFigures {
    /// The figures of `image` as broker `brokerId` sees them.
    init(_ image: MetadataImage, brokerId: Int32, schema: TopicConfigSchema) {
        isController = image.controllerId == brokerId
        topics = Set(image.topicsByName.keys)
        let live = image.liveBrokerIds
        var leaderless = 0
        var replication: [TopicPartition: (replicas: Int, isr: Int, minIsr: Int)] = [:]
        for (topicPartition, versioned) in image.partitions {
            let state = versioned.state
            if state.leader < 0 || !live.contains(state.leader) { leaderless += 1 }
            guard state.replicas.contains(brokerId), let topic = image.topicsByName[topicPartition.topic] else { continue }
            let minIsr = Int(schema.produceSettings(topic.configs).minInsyncReplicas)
            replication[topicPartition] = (state.replicas.count, state.isr.count, minIsr)
        }
        self.leaderless = leaderless
        self.replication = replication
    }
}
