#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import RunnelStorage

/// The one place that turns log file slices into SwiftNIO `FileRegion`s, which NIO writes
/// with sendfile(2): record bytes go from the page cache to the socket without entering user
/// space. `FileRegion` is soft-deprecated upstream and cannot pass through TLS, so it stays
/// here, with the copying fallback beside it.
enum ZeroCopy {
    /// Writes a slice to the channel. Each in-flight region gets its own duplicated descriptor
    /// (NIO refuses concurrent use of one handle), closed once the write completes.
    static func write(_ slice: FileSlice, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        let descriptor = dup(slice.file.descriptor)
        guard descriptor >= 0 else {
            // Out of descriptors: fall back to copying rather than failing the fetch.
            return writeCopy(slice, context: context, promise: promise)
        }
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
        let region = FileRegion(fileHandle: handle, readerIndex: slice.position, endIndex: slice.position + slice.length)
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { result in
            try? handle.close()
            switch result {
            case .success: promise?.succeed()
            case .failure(let error): promise?.fail(error)
            }
        }
        context.write(NIOAny(IOData.fileRegion(region)), promise: written)
    }

    /// The copying path: reads the bytes into memory (for TLS listeners, or when dup fails).
    static func writeCopy(_ slice: FileSlice, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        do {
            context.write(NIOAny(IOData.byteBuffer(try slice.readBytes())), promise: promise)
        } catch {
            promise?.fail(error)
            context.close(promise: nil)
        }
    }
}
