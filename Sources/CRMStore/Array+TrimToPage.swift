extension Array {
    /// Cuts rows fetched with `LIMIT limit + 1` down to one page and returns
    /// the page's last row if more follow: the key the next page starts after.
    mutating func trimToPage(_ limit: Int) -> Element? {
        guard count > limit else { return nil }
        removeLast(count - limit)
        return last
    }
}
