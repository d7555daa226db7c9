/// A proleptic Gregorian calendar date, as `YYYY-MM-DD` (deal close dates).
public struct CalendarDate: Sendable, Equatable {
    public let year: Int
    public let month: Int
    public let day: Int

    /// Parses `YYYY-MM-DD`; nil unless it names a real day of years 1000–9999.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            let year = ASCIIText.decimal(bytes[0..<4]), let month = ASCIIText.decimal(bytes[5..<7]),
            let day = ASCIIText.decimal(bytes[8..<10]), year >= 1000, (1...12).contains(month),
            (1...Self.daysIn(month: month, year: year)).contains(day)
        else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// The first day of the month `months` after this date's month.
    public func firstOfMonth(adding months: Int) -> (year: Int, month: Int) {
        let index = year * 12 + (month - 1) + months
        return (index / 12, index % 12 + 1)
    }

    /// `YYYY-MM` of the month `months` after this date's month.
    public func monthText(adding months: Int) -> String {
        let (year, month) = firstOfMonth(adding: months)
        return "\(year)-\(month < 10 ? "0" : "")\(month)"
    }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year.isMultiple(of: 4) && (!year.isMultiple(of: 100) || year.isMultiple(of: 400)) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
