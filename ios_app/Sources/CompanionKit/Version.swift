/// The companion's own version, reported as `producer.version` in results bundles.
public enum CompanionVersion {
    public static let current = "0.1.0"
}
