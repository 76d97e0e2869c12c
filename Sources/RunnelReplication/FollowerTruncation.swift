/// Where a follower cuts its log after asking its leader where an epoch ended (KIP-101 and
/// KIP-279; Kafka's AbstractFetcherThread.getOffsetTruncationState). Pure, so every case is
/// tested without a log.
public enum FollowerTruncation {
    public struct Decision: Sendable, Equatable {
        /// Cut everything at and above this offset (nothing is cut at or past the log end).
        public var offset: Int64
        /// False: the follower's epoch at that point differs from the leader's, so it must ask
        /// again about its (now earlier) latest epoch before fetching (KIP-279's multiple rounds).
        public var isComplete: Bool

        public init(offset: Int64, isComplete: Bool) {
            self.offset = offset
            self.isComplete = isComplete
        }
    }

    /// - Parameters:
    ///   - leaderEpoch / leaderEndOffset: the leader's answer; -1 when it knows no such epoch.
    ///   - localEndOffset: the follower's own answer for an epoch (its log's `endOffset(forLeaderEpoch:)`).
    public static func decide(
        leaderEpoch: Int32, leaderEndOffset: Int64, logEndOffset: Int64, highWatermark: Int64,
        localEndOffset: (Int32) -> (epoch: Int32, endOffset: Int64)?
    ) -> Decision {
        // The leader has no answer (an empty epoch cache, or a leader from before epochs):
        // only what was committed is certainly shared.
        guard leaderEndOffset >= 0 else { return Decision(offset: min(highWatermark, logEndOffset), isComplete: true) }
        guard leaderEpoch >= 0 else { return Decision(offset: min(leaderEndOffset, logEndOffset), isComplete: true) }
        guard let local = localEndOffset(leaderEpoch) else {
            // Nothing here at or below the leader's epoch: everything from the leader's end on differs.
            return Decision(offset: min(leaderEndOffset, logEndOffset), isComplete: true)
        }
        if local.epoch != leaderEpoch {
            // The follower's history at that point is of another epoch: cut to where its own
            // epoch ended and ask again about the epoch before.
            return Decision(offset: min(local.endOffset, logEndOffset), isComplete: false)
        }
        return Decision(offset: min(leaderEndOffset, local.endOffset, logEndOffset), isComplete: true)
    }
}
