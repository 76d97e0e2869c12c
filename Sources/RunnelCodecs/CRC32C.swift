import CRunnelKernels

/// CRC-32C (Castagnoli), the checksum of Kafka's RecordBatch v2.
///
/// `checksum` uses the SSE4.2 instruction when this CPU has it and the portable table path
/// otherwise; both paths are public so tests can check them against each other.
public enum CRC32C {
    /// Whether `checksum` runs on the hardware instruction on this machine.
    public static var isHardwareAccelerated: Bool { runnel_crc32c_hardware_available() != 0 }

    /// The CRC-32C of `bytes`, continuing from `crc` (0 starts a new checksum).
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        runnel_crc32c(crc, bytes.baseAddress, bytes.count)
    }

    /// The CRC-32C of a byte collection, continuing from `crc`.
    @inlinable
    public static func checksum(_ bytes: some Collection<UInt8>, continuing crc: UInt32 = 0) -> UInt32 {
        if let value = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0), continuing: crc) }) {
            return value
        }
        return Array(bytes).withUnsafeBytes { checksum($0, continuing: crc) }
    }

    /// The table-driven path, whatever the CPU.
    public static func portableChecksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        runnel_crc32c_portable(crc, bytes.baseAddress, bytes.count)
    }

    /// The SSE4.2 path, or nil when this CPU lacks the instruction.
    public static func hardwareChecksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32? {
        guard isHardwareAccelerated else { return nil }
        return runnel_crc32c_hardware(crc, bytes.baseAddress, bytes.count)
    }
}
