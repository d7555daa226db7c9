/// The store's bounds on what one request may ask for or write.
public enum StoreLimits {
    /// Most timeline entries one `TIMELINE` page returns.
    public static let maxTimelinePage = 1000
    /// Longest consent `SOURCE` text.
    public static let maxConsentSourceLength = 256
    /// Most stock levels one `INV.LIST` page returns.
    public static let maxInventoryPage = 1000
    /// Most feed gaps `FEED.INFO` lists.
    public static let maxFeedGapsShown = 100
}
