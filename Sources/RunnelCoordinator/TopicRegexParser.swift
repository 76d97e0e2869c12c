// The parsing half of TopicRegex: RE2's syntax (the part subscriptions use) to a tree.

/// A set of Unicode scalars: ranges, possibly negated.
struct CharacterClass: Sendable {
    var ranges: [ClosedRange<UInt32>]
    var negated = false

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        ranges.contains { $0.contains(scalar.value) } != negated
    }

    static let any = CharacterClass(ranges: [0...0x10FFFF])
    static let digit = CharacterClass(ranges: [0x30...0x39])
    static let word = CharacterClass(ranges: [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A])
    static let space = CharacterClass(ranges: [0x09...0x0D, 0x20...0x20])
    static func single(_ scalar: Unicode.Scalar) -> CharacterClass { CharacterClass(ranges: [scalar.value...scalar.value]) }
}

/// A parsed pattern.
indirect enum TopicRegexNode {
    case empty
    case char(CharacterClass)
    case atStart
    case atEnd
    case concat([TopicRegexNode])
    case alternation([TopicRegexNode])
    case `repeat`(TopicRegexNode, min: Int, max: Int?)
    case group(TopicRegexNode)
}

/// Recursive descent over RE2's syntax (the supported part); nil on anything else.
struct TopicRegexParser {
    let scalars: [Unicode.Scalar]
    var index = 0
    /// Nesting bound: a pattern of thousands of "(" must not exhaust the stack.
    var depth = 0
    static let maxDepth = 100
    static let maxRepeat = 1000

    init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

    var atEnd: Bool { index == scalars.count }
    var peek: Unicode.Scalar? { atEnd ? nil : scalars[index] }

    mutating func parseAlternation() -> TopicRegexNode? {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { return nil }
        var branches: [TopicRegexNode] = []
        repeat {
            if !branches.isEmpty { index += 1 }  // the "|"
            guard let branch = parseConcatenation() else { return nil }
            branches.append(branch)
        } while peek == "|"
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    mutating func parseConcatenation() -> TopicRegexNode? {
        var nodes: [TopicRegexNode] = []
        while let next = peek, next != "|", next != ")" {
            guard let atom = parseAtom(), let repeated = parseQuantifiers(atom) else { return nil }
            nodes.append(repeated)
        }
        return nodes.isEmpty ? .empty : nodes.count == 1 ? nodes[0] : .concat(nodes)
    }

    mutating func parseQuantifiers(_ atom: TopicRegexNode) -> TopicRegexNode? {
        var node = atom
        while let next = peek, "*+?{".unicodeScalars.contains(next) {
            if case .repeat = node { return nil }  // "a**" is an error in RE2
            let bounds: (Int, Int?)
            switch next {
            case "*": bounds = (0, nil); index += 1
            case "+": bounds = (1, nil); index += 1
            case "?": bounds = (0, 1); index += 1
            default:
                guard let counted = parseCount() else { return nil }
                bounds = counted
            }
            if peek == "?" { index += 1 }  // lazy: the same set of matches
            if case .atStart = node { return nil }
            if case .atEnd = node { return nil }
            node = .repeat(node, min: bounds.0, max: bounds.1)
        }
        return node
    }

    /// `{n}`, `{n,}`, `{n,m}` at `index`.
    mutating func parseCount() -> (Int, Int?)? {
        index += 1  // "{"
        guard let min = parseNumber() else { return nil }
        var max: Int? = min
        if peek == "," {
            index += 1
            max = peek == "}" ? nil : parseNumber()
            if max == nil, peek != "}" { return nil }
        }
        guard peek == "}" else { return nil }
        index += 1
        if let max, max < min { return nil }
        guard min <= Self.maxRepeat, (max ?? 0) <= Self.maxRepeat else { return nil }
        return (min, max)
    }

    mutating func parseNumber() -> Int? {
        var value = 0
        var digits = 0
        while let next = peek, ("0"..."9").contains(next) {
            value = value * 10 + Int(next.value - 0x30)
            digits += 1
            index += 1
            if value > Self.maxRepeat { return nil }
        }
        return digits > 0 ? value : nil
    }

    mutating func parseAtom() -> TopicRegexNode? {
        guard let next = peek else { return nil }
        index += 1
        switch next {
        case "(":
            if peek == "?" {
                // Only the non-capturing group: flags and look-arounds are not supported.
                guard index + 1 < scalars.count, scalars[index + 1] == ":" else { return nil }
                index += 2
            }
            guard let inner = parseAlternation(), peek == ")" else { return nil }
            index += 1
            return .group(inner)
        case ".": return .char(.any)
        case "^": return .atStart
        case "$": return .atEnd
        case "[": return parseClass().map { .char($0) }
        case "\\": return parseEscape().map { .char($0) }
        case "*", "+", "?", "{", ")": return nil
        default: return .char(.single(next))
        }
    }

    /// After a backslash: a class escape or an escaped punctuation character.
    mutating func parseEscape() -> CharacterClass? {
        guard let next = peek else { return nil }
        index += 1
        switch next {
        case "d": return .digit
        case "D": return CharacterClass(ranges: CharacterClass.digit.ranges, negated: true)
        case "w": return .word
        case "W": return CharacterClass(ranges: CharacterClass.word.ranges, negated: true)
        case "s": return .space
        case "S": return CharacterClass(ranges: CharacterClass.space.ranges, negated: true)
        case "t": return .single("\t")
        case "n": return .single("\n")
        default:
            // Only punctuation may be escaped (RE2 refuses unknown letter escapes, and digits
            // would be back-references).
            guard next.isASCII, !next.properties.isAlphabetic, !("0"..."9").contains(next) else { return nil }
            return .single(next)
        }
    }

    /// `[...]` after its "[": ranges, single characters, class escapes, a leading "^".
    mutating func parseClass() -> CharacterClass? {
        var result = CharacterClass(ranges: [])
        if peek == "^" { result.negated = true; index += 1 }
        var first = true
        while let next = peek, next != "]" || first {
            first = false
            index += 1
            var low: UInt32
            if next == "\\" {
                guard let escaped = parseEscape() else { return nil }
                if escaped.negated || escaped.ranges.count != 1 || escaped.ranges[0].count != 1 {
                    guard !escaped.negated else { return nil }  // [\D] and the like: not supported
                    result.ranges += escaped.ranges
                    continue
                }
                low = escaped.ranges[0].lowerBound
            } else if next == "[" {
                return nil  // POSIX classes ([:alpha:]) are not supported
            } else {
                low = next.value
            }
            if peek == "-", index + 1 < scalars.count, scalars[index + 1] != "]" {
                index += 1
                guard let highScalar = peek, highScalar != "\\", highScalar != "[" else { return nil }
                index += 1
                guard highScalar.value >= low else { return nil }
                result.ranges.append(low...highScalar.value)
            } else {
                result.ranges.append(low...low)
            }
        }
        guard peek == "]", !result.ranges.isEmpty else { return nil }
        index += 1
        return result
    }
}
