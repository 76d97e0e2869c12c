/// Runnel's version, as `runnel --version` and the broker's start-up line print it; changed
/// by hand when a release is cut.
public enum RunnelVersion {
    public static let current = "0.1.0"
}
