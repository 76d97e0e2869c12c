import Testing
@testable import RunnelReplication

/// Where a follower cuts its log, for the cases of KIP-101 and KIP-279. Each log is given as
/// its epoch cache (epoch → start offset) and log end, answering as LeaderEpochFileCache does.
@Suite struct FollowerTruncationTests {
    /// Kafka's endOffsetFor over `epochs` (sorted by epoch): the latest epoch ends at the log
    /// end; an older one where the next begins; below the first, where the first begins.
    static func cache(_ epochs: [(epoch: Int32, start: Int64)], logEnd: Int64) -> (Int32) -> (epoch: Int32, endOffset: Int64)? {
        { requested in
            guard requested >= 0, let latest = epochs.last else { return nil }
            if latest.epoch == requested { return (requested, logEnd) }
            guard let higher = epochs.firstIndex(where: { $0.epoch > requested }) else { return nil }
            if higher == 0 { return (requested, epochs[0].start) }
            return (epochs[higher - 1].epoch, epochs[higher].start)
        }
    }

    @Test func aFollowerWithTheLeadersEpochCutsWhatTheLeaderNeverHad() {
        // Follower: epoch 1 from 0, log end 10 (it got 8..<10 from a leader that died before
        // replicating them). New leader (epoch 2) says epoch 1 ended at 8.
        let decision = FollowerTruncation.decide(
            leaderEpoch: 1, leaderEndOffset: 8, logEndOffset: 10, highWatermark: 6, localEndOffset: Self.cache([(1, 0)], logEnd: 10))
        #expect(decision == .init(offset: 8, isComplete: true))
    }

    @Test func aFollowerBehindTheLeaderCutsNothing() {
        let decision = FollowerTruncation.decide(
            leaderEpoch: 1, leaderEndOffset: 20, logEndOffset: 10, highWatermark: 6, localEndOffset: Self.cache([(1, 0)], logEnd: 10))
        #expect(decision == .init(offset: 10, isComplete: true))
    }

    @Test func anEpochTheLeaderNeverHadIsCutAndAskedAgain() {
        // KIP-279: the follower led epoch 2 alone (offsets 5..<9) and asks about epoch 2; the
        // leader, which went from 1 to 3, answers its largest epoch ≤ 2: epoch 1 ending at 5.
        // The follower's own epoch 1 ends at 5 too (where its 2 starts): cut at 5, done.
        let follower = Self.cache([(1, 0), (2, 5)], logEnd: 9)
        let decision = FollowerTruncation.decide(
            leaderEpoch: 1, leaderEndOffset: 5, logEndOffset: 9, highWatermark: 4, localEndOffset: follower)
        #expect(decision == .init(offset: 5, isComplete: true))
    }

    @Test func aDifferentEpochAtThatPointNeedsAnotherRound() {
        // The leader answers epoch 3 ending at 12; the follower has no epoch 3 but 2 (from 5)
        // and 4 (from 8): its largest epoch ≤ 3 is 2, which ends at 8 here. Cut to 8 and ask
        // again about epoch 2.
        let follower = Self.cache([(1, 0), (2, 5), (4, 8)], logEnd: 11)
        let decision = FollowerTruncation.decide(
            leaderEpoch: 3, leaderEndOffset: 12, logEndOffset: 11, highWatermark: 4, localEndOffset: follower)
        #expect(decision == .init(offset: 8, isComplete: false))
    }

    @Test func aLeaderWithoutAnAnswerLeavesOnlyWhatWasCommitted() {
        let decision = FollowerTruncation.decide(
            leaderEpoch: -1, leaderEndOffset: -1, logEndOffset: 10, highWatermark: 6, localEndOffset: Self.cache([(1, 0)], logEnd: 10))
        #expect(decision == .init(offset: 6, isComplete: true))
    }

    @Test func noLocalEpochAtOrBelowTheLeadersCutsAtTheLeadersEnd() {
        // The follower's history starts at epoch 5; the leader's answer is about epoch 3.
        let decision = FollowerTruncation.decide(
            leaderEpoch: 3, leaderEndOffset: 4, logEndOffset: 10, highWatermark: 2,
            localEndOffset: { _ in nil })
        #expect(decision == .init(offset: 4, isComplete: true))
    }
}
