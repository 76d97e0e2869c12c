import ArgumentParser
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import RunnelClient
import RunnelCodecs
import RunnelProtocol

/// `runnel produce`: what `kafka-console-producer.sh` does. Each line of standard input is one
/// record; with `--key-separator` the text before the first separator is the key.
struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce", abstract: "Send lines from standard input as records.")

    @OptionGroup var client: ClientOptions
    @Option(help: "The topic to write to.") var topic: String
    @Option(help: "Write every record to this partition (else: key hash, or sticky without a key).") var partition: Int32?
    @Option(name: .customLong("key-separator"), help: "Split each line into KEY<separator>VALUE at the first separator.")
    var keySeparator: String?
    @Option(name: .customLong("header"), help: "A header KEY=VALUE added to every record; repeatable.") var headers: [KeyValueArgument] = []
    @Option(help: "acks: 0, 1 or all.") var acks: String = "all"
    @Option(name: .customLong("compression"), help: "none, gzip, snappy, lz4 or zstd.") var compression: String = "none"
    @Option(name: .customLong("linger-ms"), help: "linger.ms.") var lingerMs: Int64 = 5
    @Option(name: .customLong("batch-size"), help: "batch.size in bytes.") var batchSize: Int = 16384
    @Option(help: "Record timestamp in epoch ms or ISO-8601 (the time of sending when left out).") var timestamp: TimestampArgument?

    func run() async throws {
        guard let acks = Acks(name: acks) else { throw ValidationError("--acks takes 0, 1 or all") }
        guard let codec = CompressionCodec(name: compression) else { throw ValidationError("unknown --compression \(compression)") }
        var configuration = ProducerConfiguration(client: try client.configuration())
        configuration.acks = acks
        configuration.enableIdempotence = acks == .all
        configuration.compression = codec
        configuration.linger = .milliseconds(lingerMs)
        configuration.batchSize = batchSize
        let producer = try Producer(configuration: configuration)
        let recordHeaders = headers.map { RecordHeader(key: $0.key, value: ByteBuffer(string: $0.value)) }
        let failures = NIOLockedValueBox(0)
        var lineNumber = 0
        for await line in Self.standardInputLines() {
            lineNumber += 1
            var key: String?
            var value = line
            if let keySeparator {
                guard let range = line.range(of: keySeparator) else {
                    printError("line \(lineNumber): no key separator \"\(keySeparator)\"; skipped")
                    failures.withLockedValue { $0 += 1 }
                    continue
                }
                key = String(line[..<range.lowerBound])
                value = String(line[range.upperBound...])
            }
            let record = ProducerRecord(topic: topic, partition: partition, key: key, value: value, headers: recordHeaders,
                                        timestamp: timestamp?.milliseconds)
            let number = lineNumber
            do {
                try await producer.send(record) { result in
                    if case .failure(let error) = result {
                        printError("line \(number): \(error)")
                        failures.withLockedValue { $0 += 1 }
                    }
                }
            } catch {
                // This record cannot be sent (too large, unknown partition...); the others still are.
                printError("line \(number): \(error)")
                failures.withLockedValue { $0 += 1 }
            }
        }
        await producer.close()
        let failed = failures.withLockedValue { $0 }
        if failed > 0 {
            printError("\(failed) of \(lineNumber) records were not written")
            throw ExitCode(1)
        }
    }

    /// Lines of standard input, read on a thread of their own: a blocking read on Swift's
    /// shared thread pool would stall the producer's sender while waiting for the next line.
    static func standardInputLines() -> AsyncStream<String> {
        AsyncStream(bufferingPolicy: .bufferingOldest(10_000)) { continuation in
            let reader = Thread {
                while let line = readLine(strippingNewline: true) {
                    // Back-pressure: wait while the stream's buffer is full.
                    while case .dropped = continuation.yield(line) { Thread.sleep(forTimeInterval: 0.001) }
                }
                continuation.finish()
            }
            reader.start()
        }
    }
}
