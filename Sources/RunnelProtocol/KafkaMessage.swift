import NIOCore

/// A struct of the Kafka protocol that reads and writes itself at a given version: a whole
/// message or a struct nested inside one (as in Kafka, where nested structs are `Message`s too).
///
/// Decoding reads a field only in the versions that have it and leaves the others at their
/// defaults; it never checks `version` against a message's valid versions, so old versions that
/// brokers still accept (Produce v0-2) decode field by field. Encoding writes the fields that exist
/// at `version` and silently drops the others; a null written where the version does not allow
/// one becomes empty (`""`, no bytes, `[]`).
public protocol KafkaMessage: Sendable, Equatable {
    init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError)
    func encode(to buffer: inout ByteBuffer, version: Int16)
}

/// A top-level message schema: a request, a response, a header, or a versioned data schema such
/// as `ConsumerProtocolSubscription`. The ranges are those of Kafka's JSON definitions.
public protocol KafkaVersionedMessage: KafkaMessage {
    static var validVersions: ClosedRange<Int16> { get }
    /// The versions using compact strings, bytes and arrays and tagged fields; nil for none.
    static var flexibleVersions: PartialRangeFrom<Int16>? { get }
}

public protocol KafkaRequestMessage: KafkaVersionedMessage {
    associatedtype Response: KafkaResponseMessage
    static var apiKey: Int16 { get }
}

public protocol KafkaResponseMessage: KafkaVersionedMessage {
    static var apiKey: Int16 { get }
    /// Calls `body` with every error code the response carries at `version` (generated; the
    /// broker counts them per API and code, as Kafka's request metrics do).
    func forEachErrorCode(version: Int16, _ body: (Int16) -> Void)
}

extension KafkaVersionedMessage {
    public static func isFlexible(_ version: Int16) -> Bool {
        flexibleVersions?.contains(version) ?? false
    }
}

extension KafkaMessage {
    /// This message encoded at `version` into a new buffer.
    public func encoded(version: Int16) -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(to: &buffer, version: version)
        return buffer
    }
}

/// One API of the registry in `Generated/ApiKeys.swift`.
public struct KafkaAPI: Sendable, CustomStringConvertible {
    public let key: Int16
    /// The name without "Request"/"Response", e.g. "Produce".
    public let name: String
    /// The JSON's range. Brokers may advertise more (Kafka advertises Produce from v0).
    public let validVersions: ClosedRange<Int16>
    public let flexibleVersions: PartialRangeFrom<Int16>?
    /// The highest valid version is still under development and must not be advertised.
    public let latestVersionUnstable: Bool
    public let requestType: any KafkaRequestMessage.Type

    public func isFlexible(_ version: Int16) -> Bool {
        flexibleVersions?.contains(version) ?? false
    }

    public var description: String { "\(name)(\(key))" }
}

// MARK: - Codec helpers for the generated code

/// A non-struct element of a Kafka array ([]int32, []string, []uuid...).
protocol KafkaArrayElement {
    static func readKafkaElement(from buffer: inout ByteBuffer, compact: Bool) throws(KafkaDecodingError) -> Self
    func writeKafkaElement(to buffer: inout ByteBuffer, compact: Bool)
}

extension KafkaArrayElement where Self: FixedWidthInteger {
    static func readKafkaElement(from buffer: inout ByteBuffer, compact: Bool) throws(KafkaDecodingError) -> Self {
        try buffer.readKafkaInteger()
    }

    func writeKafkaElement(to buffer: inout ByteBuffer, compact: Bool) {
        buffer.writeKafkaInteger(self)
    }
}

extension Int8: KafkaArrayElement {}
extension Int16: KafkaArrayElement {}
extension Int32: KafkaArrayElement {}
extension Int64: KafkaArrayElement {}
extension UInt16: KafkaArrayElement {}
extension UInt32: KafkaArrayElement {}

extension String: KafkaArrayElement {
    static func readKafkaElement(from buffer: inout ByteBuffer, compact: Bool) throws(KafkaDecodingError) -> String {
        try buffer.readKafkaString(compact: compact)
    }

    func writeKafkaElement(to buffer: inout ByteBuffer, compact: Bool) {
        buffer.writeKafkaString(self, compact: compact)
    }
}

extension KafkaUUID: KafkaArrayElement {
    static func readKafkaElement(from buffer: inout ByteBuffer, compact: Bool) throws(KafkaDecodingError) -> KafkaUUID {
        try buffer.readKafkaUUID()
    }

    func writeKafkaElement(to buffer: inout ByteBuffer, compact: Bool) {
        buffer.writeKafkaUUID(self)
    }
}

extension ByteBuffer {
    /// A string that may be null only in the versions where `nullable` is true.
    mutating func readKafkaNullableString(compact: Bool, nullable: Bool) throws(KafkaDecodingError) -> String? {
        nullable ? try readKafkaNullableString(compact: compact) : try readKafkaString(compact: compact)
    }

    /// Bytes that may be null only in the versions where `nullable` is true.
    mutating func readKafkaNullableBytes(compact: Bool, nullable: Bool) throws(KafkaDecodingError) -> ByteBuffer? {
        nullable ? try readKafkaNullableBytes(compact: compact) : try readKafkaBytes(compact: compact)
    }

    /// An array's count: nil for null, which is an error unless `nullable`.
    private mutating func readKafkaArrayCount(compact: Bool, nullable: Bool) throws(KafkaDecodingError) -> Int? {
        guard let count = try readKafkaArrayCount(compact: compact) else {
            if nullable { return nil }
            throw KafkaDecodingError(.unexpectedNull, "null in a non-nullable array")
        }
        return count
    }

    /// An array of structs; null is accepted only when `nullable` is true.
    mutating func readKafkaNullableArray<Element: KafkaMessage>(
        of: Element.Type, compact: Bool, nullable: Bool = true, version: Int16
    ) throws(KafkaDecodingError) -> [Element]? {
        guard let count = try readKafkaArrayCount(compact: compact, nullable: nullable) else { return nil }
        var elements: [Element] = []
        elements.reserveCapacity(count)
        for _ in 0..<count {
            elements.append(try Element(from: &self, version: version))
        }
        return elements
    }

    /// A non-nullable array of structs.
    mutating func readKafkaArray<Element: KafkaMessage>(
        of: Element.Type, compact: Bool, version: Int16
    ) throws(KafkaDecodingError) -> [Element] {
        try readKafkaNullableArray(of: Element.self, compact: compact, nullable: false, version: version) ?? []
    }

    /// An array of primitives; null is accepted only when `nullable` is true.
    mutating func readKafkaNullableArray<Element: KafkaArrayElement>(
        of: Element.Type, compact: Bool, nullable: Bool = true
    ) throws(KafkaDecodingError) -> [Element]? {
        guard let count = try readKafkaArrayCount(compact: compact, nullable: nullable) else { return nil }
        var elements: [Element] = []
        elements.reserveCapacity(count)
        for _ in 0..<count {
            elements.append(try Element.readKafkaElement(from: &self, compact: compact))
        }
        return elements
    }

    /// A non-nullable array of primitives.
    mutating func readKafkaArray<Element: KafkaArrayElement>(
        of: Element.Type, compact: Bool
    ) throws(KafkaDecodingError) -> [Element] {
        try readKafkaNullableArray(of: Element.self, compact: compact, nullable: false) ?? []
    }

    /// Writes a string; a nil where the version does not allow null is written as "".
    mutating func writeKafkaNullableString(_ value: String?, compact: Bool, nullable: Bool) {
        writeKafkaNullableString(nullable ? value : value ?? "", compact: compact)
    }

    /// Writes bytes; a nil where the version does not allow null is written as no bytes.
    mutating func writeKafkaNullableBytes(_ value: ByteBuffer?, compact: Bool, nullable: Bool) {
        writeKafkaNullableBytes(nullable ? value : value ?? ByteBuffer(), compact: compact)
    }

    /// Writes an array of structs; nil is a null array, or an empty one where `nullable` is false.
    mutating func writeKafkaArray<Element: KafkaMessage>(
        _ elements: [Element]?, compact: Bool, nullable: Bool = true, version: Int16
    ) {
        guard let elements = elements ?? (nullable ? nil : []) else {
            return writeKafkaArrayCount(nil, compact: compact)
        }
        writeKafkaArrayCount(elements.count, compact: compact)
        for element in elements {
            element.encode(to: &self, version: version)
        }
    }

    /// Writes an array of primitives; nil is a null array, or an empty one where `nullable` is false.
    mutating func writeKafkaArray<Element: KafkaArrayElement>(
        _ elements: [Element]?, compact: Bool, nullable: Bool = true
    ) {
        guard let elements = elements ?? (nullable ? nil : []) else {
            return writeKafkaArrayCount(nil, compact: compact)
        }
        writeKafkaArrayCount(elements.count, compact: compact)
        for element in elements {
            element.writeKafkaElement(to: &self, compact: compact)
        }
    }
}
