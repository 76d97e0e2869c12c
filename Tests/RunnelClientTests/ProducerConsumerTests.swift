import NIOConcurrencyHelpers
import NIOCore
import RunnelClient
import RunnelCodecs
import RunnelProtocol
import Testing

@Suite struct PartitionerTests {
    /// Kafka's own vectors: `UtilsTest.testMurmur2` in the Java client.
    @Test func murmur2MatchesTheJavaClient() {
        let vectors: [(String, Int32)] = [
            ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971), ("abc", 479_470_107),
        ]
        for (key, expected) in vectors {
            #expect(KeyPartitioner.murmur2(Array(key.utf8)) == expected, "murmur2(\(key))")
        }
    }

    @Test func partitionIsPositiveHashModuloCount() {
        // toPositive(-973932308) = 1173551340; 1173551340 % 6 = 0, % 7 = 1.
        #expect(KeyPartitioner.partition(forKey: Array("21".utf8), partitions: 6) == Int32(1_173_551_340 % 6))
        #expect(KeyPartitioner.partition(forKey: Array("21".utf8), partitions: 7) == Int32(1_173_551_340 % 7))
        #expect(KeyPartitioner.partition(forKey: ByteBuffer(string: "abc"), partitions: 10) == 479_470_107 % 10)
    }

    @Test func assignorsSplitLikeJava() {
        let members = ["b": ["t"], "a": ["t"], "c": ["t"]]
        let range = PartitionAssignor.range.assign(members: members, partitions: ["t": 7])
        #expect(range["a"]!.map(\.partition) == [0, 1, 2])
        #expect(range["b"]!.map(\.partition) == [3, 4])
        #expect(range["c"]!.map(\.partition) == [5, 6])
        let roundRobin = PartitionAssignor.roundRobin.assign(members: members, partitions: ["t": 7])
        #expect(roundRobin["a"]!.map(\.partition) == [0, 3, 6])
        #expect(roundRobin["b"]!.map(\.partition) == [1, 4])
    }
}

@Suite(.serialized) struct ProducerConsumerTests {
    func producerConfiguration(_ harness: BrokerHarness, _ edit: (inout ProducerConfiguration) -> Void = { _ in }) throws -> ProducerConfiguration {
        var configuration = ProducerConfiguration(client: try harness.clientConfiguration)
        configuration.linger = .milliseconds(2)
        edit(&configuration)
        return configuration
    }

    func consumerConfiguration(_ harness: BrokerHarness, group: String? = nil) throws -> ConsumerConfiguration {
        var configuration = ConsumerConfiguration(client: try harness.clientConfiguration, groupId: group)
        configuration.autoOffsetReset = .earliest
        configuration.fetchMaxWait = .milliseconds(100)
        configuration.heartbeatInterval = .milliseconds(200)
        return configuration
    }

    /// Polls until `count` records arrived (or 15 s passed).
    func consume(_ consumer: Consumer, count: Int) async throws -> [ConsumerRecord] {
        var records: [ConsumerRecord] = []
        let deadline = NIODeadline.now() + .seconds(15)
        while records.count < count, NIODeadline.now() < deadline {
            records += try await consumer.poll(timeout: .milliseconds(200))
        }
        return records
    }

    @Test(arguments: CompressionCodec.allCases)
    func keyedRecordsRoundTripInOrderWithEveryCodec(codec: CompressionCodec) async throws {
        try await withBroker { harness in
            let admin = Admin(configuration: try harness.clientConfiguration)
            try await admin.createTopic("orders", partitions: 4)
            let producer = try Producer(configuration: producerConfiguration(harness) { $0.compression = codec })
            var sent: [RecordMetadata] = []
            for index in 0..<200 {
                let key = "customer-\(index % 10)"
                let metadata = try await producer.send(ProducerRecord(
                    topic: "orders", key: key, value: "order-\(index)",
                    headers: [RecordHeader(key: "index", value: ByteBuffer(string: "\(index)"))]))
                #expect(metadata.partition == KeyPartitioner.partition(forKey: Array(key.utf8), partitions: 4))
                sent.append(metadata)
            }
            await producer.close()

            let consumer = Consumer(configuration: try consumerConfiguration(harness))
            await consumer.assign((0..<4).map { TopicPartition(topic: "orders", partition: $0) })
            let records = try await consume(consumer, count: 200)
            await consumer.close()
            #expect(records.count == 200)
            // Per key, values come back in the order they were sent.
            for customer in 0..<10 {
                let values = records.filter { $0.key.map { String(buffer: $0) } == "customer-\(customer)" }.map { String(buffer: $0.value!) }
                #expect(values == stride(from: customer, to: 200, by: 10).map { "order-\($0)" })
            }
            let byIndex = Dictionary(uniqueKeysWithValues: records.map { (String(buffer: $0.headers[0].value!), $0) })
            for (index, metadata) in sent.enumerated() {
                #expect(byIndex["\(index)"]?.offset == metadata.offset)
                #expect(byIndex["\(index)"]?.partition == metadata.partition)
            }
            await admin.close()
        }
    }

    @Test func manyRecordsInFlightAreAllAcknowledged() async throws {
        try await withBroker { harness in
            let admin = Admin(configuration: try harness.clientConfiguration)
            try await admin.createTopic("bulk", partitions: 3)
            let producer = try Producer(configuration: producerConfiguration(harness) { $0.batchSize = 4096 })
            let acknowledged = Counter()
            let value = ByteBuffer(repeating: 0x61, count: 300)
            for _ in 0..<5000 {
                try await producer.send(ProducerRecord(topic: "bulk", value: value)) { result in
                    if case .success(let metadata) = result, metadata.offset >= 0 { acknowledged.increment() }
                }
            }
            await producer.flush()
            #expect(acknowledged.value == 5000)
            await producer.close()
            let ends = try await admin.listOffsets(Dictionary(uniqueKeysWithValues: (0..<3).map {
                (TopicPartition(topic: "bulk", partition: $0), OffsetLookup.latest)
            }))
            #expect(ends.values.reduce(0) { $0 + $1.offset } == 5000)
            // Sticky partitioning: keyless records fill batches, not one partition only.
            #expect(ends.values.filter { $0.offset > 0 }.count > 1)
            await admin.close()
        }
    }

    @Test func seekToTimestampOffsetAndPauseResume() async throws {
        try await withBroker { harness in
            let admin = Admin(configuration: try harness.clientConfiguration)
            try await admin.createTopic("events", partitions: 1)
            let producer = try Producer(configuration: producerConfiguration(harness))
            for index in 0..<10 {
                try await producer.send(ProducerRecord(topic: "events", value: "e\(index)", timestamp: 1_000_000 + Int64(index) * 1000))
            }
            await producer.close()
            let partition = TopicPartition(topic: "events", partition: 0)
            let consumer = Consumer(configuration: try consumerConfiguration(harness))
            await consumer.assign([partition])
            try await consumer.seek(toTimestamp: 1_004_500)
            var records = try await consume(consumer, count: 5)
            #expect(records.map(\.timestamp) == (5..<10).map { 1_000_000 + Int64($0) * 1000 })
            await consumer.seek(partition, to: 8)
            records = try await consume(consumer, count: 2)
            #expect(records.map(\.offset) == [8, 9])
            #expect(try await consumer.offsetsForTimes([partition: 1_003_000])[partition] == .some(3))
            #expect(try await consumer.offsetsForTimes([partition: 2_000_000])[partition] == .some(nil))

            await consumer.seek(partition, to: 0)
            await consumer.pause([partition])
            #expect(try await consumer.poll(timeout: .milliseconds(300)).isEmpty)
            await consumer.resume([partition])
            records = try await consume(consumer, count: 10)
            #expect(records.count == 10)
            await consumer.close()
            await admin.close()
        }
    }

    @Test func groupMembersSharePartitionsAndCommitsSurviveARestart() async throws {
        try await withBroker { harness in
            let admin = Admin(configuration: try harness.clientConfiguration)
            try await admin.createTopic("jobs", partitions: 4)
            let producer = try Producer(configuration: producerConfiguration(harness))
            for index in 0..<40 {
                try await producer.send(ProducerRecord(topic: "jobs", partition: Int32(index % 4), value: "job-\(index)"))
            }
            await producer.close()

            var configuration = try consumerConfiguration(harness, group: "workers")
            configuration.enableAutoCommit = false
            let first = Consumer(configuration: configuration)
            let second = Consumer(configuration: configuration)
            try await first.subscribe(["jobs"])
            try await second.subscribe(["jobs"])
            // Each polls in its own loop, as each would in its own application (polling them in
            // lockstep would let a poll held in a rebalance wait for the other member's next
            // poll), until each holds two partitions and together all 40 records were read.
            let received = NIOLockedValueBox<[ConsumerRecord]>([])
            let deadline = NIODeadline.now() + .seconds(30)
            let done = { @Sendable () async -> Bool in
                let sizes = (await first.assignment.count, await second.assignment.count)
                return sizes == (2, 2) && Set(received.withLockedValue { $0 }.map { "\($0.partition)/\($0.offset)" }).count == 40
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for consumer in [first, second] {
                    group.addTask {
                        while NIODeadline.now() < deadline, !(await done()) {
                            let records = try await consumer.poll(timeout: .milliseconds(200))
                            received.withLockedValue { $0 += records }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let seen = received.withLockedValue { $0 }
            #expect(await first.assignment.count == 2)
            #expect(await second.assignment.count == 2)
            #expect(Set(await first.assignment).isDisjoint(with: await second.assignment))
            #expect(Set(seen.map { "\($0.partition)/\($0.offset)" }).count == 40)
            try await first.commit()
            try await second.commit()
            let description = try await admin.describeGroup("workers")
            #expect(description.state == "Stable")
            #expect(description.members.count == 2)
            await first.close()
            await second.close()

            let committed = try await admin.groupOffsets("workers")
            #expect(committed.count == 4)
            #expect(committed.values.allSatisfy { $0 == 10 })

            // Admin resets one partition; a new member starts from the committed offsets.
            try await admin.alterGroupOffsets("workers", [TopicPartition(topic: "jobs", partition: 2): 7])
            let third = Consumer(configuration: configuration)
            try await third.subscribe(["jobs"])
            let again = try await consume(third, count: 3)
            #expect(again.map { "\($0.partition)/\($0.offset)" }.sorted() == ["2/7", "2/8", "2/9"])
            await third.close()
            await admin.close()
        }
    }

    @Test func adminManagesTopicsAndConfigs() async throws {
        try await withBroker { harness in
            let admin = Admin(configuration: try harness.clientConfiguration)
            try await admin.createTopic("a", partitions: 2, configs: ["retention.ms": "60000"])
            try await admin.createTopic("b", partitions: 1)
            await #expect(throws: KafkaClientError.self) { try await admin.createTopic("a", partitions: 2) }
            #expect(try await admin.listTopics() == ["a", "b"])
            let configs = try await admin.describeConfigs(.topic, "a")
            #expect(configs.first { $0.name == "retention.ms" }?.value == "60000")
            #expect(configs.first { $0.name == "retention.ms" }?.isDefault == false)
            try await admin.alterConfigs(.topic, "a", set: ["max.message.bytes": "500000"], delete: ["retention.ms"])
            let altered = try await admin.describeConfigs(.topic, "a")
            #expect(altered.first { $0.name == "max.message.bytes" }?.value == "500000")
            #expect(altered.first { $0.name == "retention.ms" }?.isDefault == true)
            try await admin.createPartitions("b", total: 3)
            #expect(try await admin.describeTopics(["b"])[0].partitions.count == 3)
            try await admin.deleteTopics(["a"])
            #expect(try await admin.listTopics() == ["b"])
            await #expect(throws: KafkaClientError.unknownTopic("a")) { try await admin.describeTopics(["a"]) }
            await admin.close()
        }
    }

    @Test func idempotentProducerRetriesAcrossABrokerRestartWithoutDuplicates() async throws {
        try await withBroker { harness in
            let admin = Admin(configuration: try harness.clientConfiguration)
            try await admin.createTopic("durable", partitions: 2)
            await admin.close()
            let producer = try Producer(configuration: producerConfiguration(harness) {
                $0.acks = .all
                $0.enableIdempotence = true
                $0.batchSize = 2048
                $0.client.retryBackoff = .milliseconds(50)
            })
            let acknowledged = Counter()
            let failed = Counter()
            for index in 0..<3000 {
                if index == 1500 { try await harness.restart() }
                try await producer.send(ProducerRecord(topic: "durable", key: "k\(index % 13)", value: "\(index)")) { result in
                    switch result {
                    case .success: acknowledged.increment()
                    case .failure: failed.increment()
                    }
                }
            }
            await producer.flush()
            await producer.close()
            #expect(failed.value == 0)
            #expect(acknowledged.value == 3000)

            let consumer = Consumer(configuration: try consumerConfiguration(harness))
            await consumer.assign([TopicPartition(topic: "durable", partition: 0), TopicPartition(topic: "durable", partition: 1)])
            let records = try await consume(consumer, count: 3000)
            await consumer.close()
            let values = records.map { Int(String(buffer: $0.value!))! }
            #expect(values.count == 3000, "every record once, no duplicates")
            #expect(Set(values) == Set(0..<3000))
            // Per key, still in send order.
            for key in 0..<13 {
                let ordered = records.filter { String(buffer: $0.key!) == "k\(key)" }.map { Int(String(buffer: $0.value!))! }
                #expect(ordered == ordered.sorted())
            }
        }
    }

    @Test func aBatchThatFailsForGoodDoesNotWedgeAnIdempotentProducer() async throws {
        try await withBroker { harness in
            let admin = Admin(configuration: try harness.clientConfiguration)
            try await admin.createTopic("small", partitions: 1, configs: ["max.message.bytes": "1000"])
            await admin.close()
            let producer = try Producer(configuration: producerConfiguration(harness) { $0.acks = .all; $0.enableIdempotence = true })
            // Sequence 0 is refused for good (MESSAGE_TOO_LARGE): the next batch's sequence would
            // leave a gap the broker never accepts past, unless the producer starts over.
            await #expect(throws: KafkaClientError.self) {
                try await producer.send(ProducerRecord(topic: "small", value: ByteBuffer(repeating: 1, count: 3000)))
            }
            var offsets: [Int64] = []
            for index in 0..<20 {
                offsets.append(try await producer.send(ProducerRecord(topic: "small", value: "after-\(index)")).offset)
            }
            #expect(offsets == Array(0..<20))
            await producer.close()
        }
    }

    @Test func aGroupWhoseCommittedOffsetIsOutOfRangeResetsByPolicy() async throws {
        try await withBroker { harness in
            let admin = Admin(configuration: try harness.clientConfiguration)
            try await admin.createTopic("short", partitions: 1)
            let producer = try Producer(configuration: producerConfiguration(harness))
            for index in 0..<5 { try await producer.send(ProducerRecord(topic: "short", value: "r\(index)")) }
            await producer.close()
            try await admin.alterGroupOffsets("lagging", [TopicPartition(topic: "short", partition: 0): 1000])
            await admin.close()

            let consumer = Consumer(configuration: try consumerConfiguration(harness, group: "lagging"))
            try await consumer.subscribe(["short"])
            let records = try await consume(consumer, count: 5)
            #expect(records.map(\.offset) == [0, 1, 2, 3, 4])
            await consumer.close()
        }
    }

    @Test func producingToAMissingTopicFailsClearly() async throws {
        try await withBroker(overrides: ["auto.create.topics.enable": "false"]) { harness in
            let producer = try Producer(configuration: producerConfiguration(harness))
            await #expect(throws: KafkaClientError.unknownTopic("nope")) {
                try await producer.send(ProducerRecord(topic: "nope", value: "x"))
            }
            await producer.close()
        }
    }
}

final class Counter: Sendable {
    private let count = NIOLockedValueBox(0)
    func increment() { count.withLockedValue { $0 += 1 } }
    var value: Int { count.withLockedValue { $0 } }
}
