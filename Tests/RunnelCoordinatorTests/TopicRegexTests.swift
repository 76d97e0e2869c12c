@testable import RunnelCoordinator
import Testing

/// KIP-848 subscription patterns: RE2's syntax (the part subscriptions use), whole matches, and
/// time linear in the name whatever the pattern.
@Suite struct TopicRegexTests {
    func matches(_ pattern: String, _ name: String) -> Bool? { TopicRegex(pattern)?.matches(name) }

    @Test func wholeMatchesWithRE2sSyntax() {
        #expect(matches("rx_.*", "rx_a") == true)
        #expect(matches("rx_.*", "xrx_a") == false)  // a whole match, not a search
        #expect(matches("rx_", "rx_a") == false)
        #expect(matches("^rx_.*$", "rx_") == true)
        #expect(matches("(^orders)|(^payments-\\d+)", "payments-12") == true)
        #expect(matches("(^orders)|(^payments-\\d+)", "payments-x") == false)
        #expect(matches("(?:a|b)[c-e]{2,3}\\.log", "bcde.log") == true)
        #expect(matches("(?:a|b)[c-e]{2,3}\\.log", "bcdef.log") == false)
        #expect(matches("[^.]+\\.[^.]+", "a.b") == true)
        #expect(matches("[^.]+\\.[^.]+", "a.b.c") == false)
        #expect(matches("t\\w*?-[0-9]{3}", "t_x-123") == true)
        #expect(matches("a{2,}", "aaaa") == true && matches("a{2,}", "a") == false)
        #expect(matches("(a*)*b", "aab") == true)
        #expect(matches("x|", "") == true)
        #expect(matches("[]a]+", "]a]") == true)
        #expect(matches("[a-]+", "a-a") == true)
    }

    @Test func unsupportedOrMalformedPatternsAreRefused() {
        for pattern in ["rx_(", "a)", "[a", "a**", "*a", "a{3,1}", "a{1001}", "(?i)abc", "(?=a)a", "(a)\\1", "\\p{L}",
                        "[[:alpha:]]", "\\q", "^*", String(repeating: "(", count: 200) + "a" + String(repeating: ")", count: 200),
                        String(repeating: "a{1000}", count: 10)] {
            #expect(TopicRegex(pattern) == nil, "\(pattern.prefix(40)) should be refused")
        }
    }

    @Test func patternsThatMakeBacktrackersExplodeStayLinear() {
        // Exponential or high-degree polynomial for a backtracking engine on a 249-character
        // name that does not match; a state-set simulation does at most names × states steps.
        let name = String(repeating: "a", count: 249)
        #expect(matches("(a+)+b", name) == false)
        #expect(matches("(a|aa)*b", name) == false)
        #expect(matches(".*.*.*.*.*.*.*.*.*.*b", name) == false)
        #expect(matches("(a*)*", name) == true)
    }
}
