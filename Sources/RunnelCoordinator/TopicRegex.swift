/// The regular expressions of KIP-848 subscriptions, matched in time linear in the topic name.
///
/// Kafka resolves a consumer's `SubscribedTopicRegex` with RE2/J for the same reason: a client
/// chooses the pattern, and a backtracking engine (Swift's `Regex`, PCRE, java.util.regex) can
/// take exponential time on patterns such as `(a+)+b`, under the coordinator's lock. This is a
/// Thompson NFA (compiled once, simulated with a set of states per character), over the part of
/// RE2's syntax subscriptions use: literals and escapes, `.`, classes (`[a-z0-9_]`, `[^.]`,
/// `\d \w \s` and their negations), groups (`(...)`, `(?:...)`), `|`, `* + ?` (lazy forms
/// accepted: they match the same), `{n}`, `{n,}`, `{n,m}`, and `^`/`$`. Anything else —
/// back-references, look-arounds, flags, Unicode classes — is refused as invalid, never guessed.
/// A match is a whole match of the topic name, as RE2/J's `matches()`.
public struct TopicRegex: Sendable {
    /// Bounds what a pattern may compile to (repetitions are expanded), and so a match of a
    /// 249-character topic name to about a million steps.
    static let maxInstructions = 5_000

    private enum Instruction: Sendable {
        case char(CharacterClass)
        case split(Int, Int)
        case jump(Int)
        case atStart
        case atEnd
        case match
    }

    private let program: [Instruction]

    /// nil when the pattern is not a regular expression of the supported syntax.
    public init?(_ pattern: String) {
        var parser = TopicRegexParser(Array(pattern.unicodeScalars))
        guard let node = parser.parseAlternation(), parser.atEnd else { return nil }
        var program: [Instruction] = []
        guard Self.compile(node, into: &program) else { return nil }
        program.append(.match)
        self.program = program
    }

    /// Whether the whole of `name` matches.
    public func matches(_ name: String) -> Bool {
        let input = Array(name.unicodeScalars)
        var current = StateSet(count: program.count)
        addState(0, to: &current, position: 0, length: input.count)
        for (position, scalar) in input.enumerated() {
            var next = StateSet(count: program.count)
            for state in current.states {
                if case .char(let set) = program[state], set.contains(scalar) {
                    addState(state + 1, to: &next, position: position + 1, length: input.count)
                }
            }
            if next.states.isEmpty { return false }
            current = next
        }
        return current.states.contains { if case .match = program[$0] { true } else { false } }
    }

    /// Adds `state` and everything reachable from it without consuming a character (with an
    /// explicit stack: chains of thousands of splits must not exhaust the thread's).
    private func addState(_ state: Int, to set: inout StateSet, position: Int, length: Int) {
        var pending = [state]
        while let next = pending.popLast() {
            guard set.insert(next) else { continue }
            switch program[next] {
            case .split(let first, let second): pending.append(contentsOf: [second, first])
            case .jump(let target): pending.append(target)
            case .atStart: if position == 0 { pending.append(next + 1) }
            case .atEnd: if position == length { pending.append(next + 1) }
            case .char, .match: break
            }
        }
    }

    private struct StateSet {
        var seen: [Bool]
        var states: [Int] = []
        init(count: Int) { seen = Array(repeating: false, count: count) }
        mutating func insert(_ state: Int) -> Bool {
            if seen[state] { return false }
            seen[state] = true
            states.append(state)
            return true
        }
    }

    // MARK: Compiling

    private static func compile(_ node: TopicRegexNode, into program: inout [Instruction]) -> Bool {
        guard program.count < maxInstructions else { return false }
        switch node {
        case .empty:
            return true
        case .group(let inner):
            return compile(inner, into: &program)
        case .char(let set):
            program.append(.char(set))
        case .atStart:
            program.append(.atStart)
        case .atEnd:
            program.append(.atEnd)
        case .concat(let nodes):
            for node in nodes { guard compile(node, into: &program) else { return false } }
        case .alternation(let branches):
            // split L1, next; L1: branch; jump end; next: split L2, ... ; last branch
            var jumps: [Int] = []
            for (index, branch) in branches.enumerated() {
                if index < branches.count - 1 {
                    let split = program.count
                    program.append(.split(split + 1, -1))
                    guard compile(branch, into: &program) else { return false }
                    jumps.append(program.count)
                    program.append(.jump(-1))
                    program[split] = .split(split + 1, program.count)
                } else {
                    guard compile(branch, into: &program) else { return false }
                }
            }
            for jump in jumps { program[jump] = .jump(program.count) }
        case .repeat(let inner, let min, let max):
            for _ in 0..<min { guard compile(inner, into: &program) else { return false } }
            if let max {
                // Each optional copy: split into it or past all the rest.
                var splits: [Int] = []
                for _ in min..<max {
                    splits.append(program.count)
                    program.append(.split(program.count + 1, -1))
                    guard compile(inner, into: &program) else { return false }
                }
                for split in splits { program[split] = .split(split + 1, program.count) }
            } else {
                // L: split body, out; body; jump L
                let loop = program.count
                program.append(.split(loop + 1, -1))
                guard compile(inner, into: &program) else { return false }
                program.append(.jump(loop))
                program[loop] = .split(loop + 1, program.count)
            }
        }
        return program.count <= maxInstructions
    }
}
