/// The fields of one kind of record and the rules their values follow.
///
/// Every record also has the system fields `id`, `version`, `created_at` and
/// `updated_at`, which commands can read and filter on but never set.
public struct RecordSchema: Sendable {
    /// One stored field.
    public struct Field: Sendable {
        /// What a value must look like.
        public enum Kind: Sendable {
            case text(maxLength: Int)
            case email
            case phone
            case externalID
            case enumeration([String])
            /// A whole number within the range, stored as an SQLite integer.
            case integer(ClosedRange<Int64>)
            /// The id of a record of the named type in the same tenant.
            case reference(String)
            /// A calendar date, `YYYY-MM-DD`.
            case date
            /// An ISO 4217 currency code, stored in upper case.
            case currency
            /// A time the server records (``Timestamp``).
            case timestamp
        }

        public let name: String
        public let kind: Kind
        /// Whether `FIND ... SEARCH` matches it (SQLite FTS5).
        public let searchable: Bool
        /// Whether two records of a tenant may not share a value (compared case-insensitively).
        public let unique: Bool
        /// The command that maintains the field, when `field value` pairs may not set it.
        public let setBy: String?

        public init(
            _ name: String, _ kind: Kind, searchable: Bool = false, unique: Bool = false, setBy: String? = nil
        ) {
            self.name = name
            self.kind = kind
            self.searchable = searchable
            self.unique = unique
            self.setBy = setBy
        }

        /// Whether values are stored and compared as integers.
        public var isNumeric: Bool {
            switch kind {
            case .integer, .reference: true
            default: false
            }
        }
    }

    /// The record type as commands and events name it, e.g. `contact`.
    public let type: String
    public let fields: [Field]
    /// Whether `x_*` custom fields are accepted.
    public let allowsCustomFields: Bool

    public static let systemFields = ["id", "version", "created_at", "updated_at"]
    public static let maxCustomFieldValueLength = 4096
    public static let maxCustomFields = 64

    public init(type: String, fields: [Field], allowsCustomFields: Bool) {
        self.type = type
        self.fields = fields
        self.allowsCustomFields = allowsCustomFields
    }

    public func field(named name: String) -> Field? {
        fields.first { $0.name == name }
    }

    /// Whether `name` is a syntactically valid custom field name: `x_` then 1-40 of `a-z 0-9 _`.
    public static func isCustomFieldName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count >= 3, bytes.count <= 42, bytes[0] == UInt8(ascii: "x"), bytes[1] == UInt8(ascii: "_") else {
            return false
        }
        return bytes.dropFirst(2).allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "_")
        }
    }

    /// Whether commands may filter and sort on `name`.
    public func isQueryable(_ name: String) -> Bool {
        Self.systemFields.contains(name) || field(named: name) != nil
            || (allowsCustomFields && Self.isCustomFieldName(name))
    }

    /// Validates `field value` pairs from a command. An empty value clears the
    /// field; a field named twice takes its last value.
    public func validate(_ pairs: [(field: String, value: String)]) throws(InvalidField) -> FieldChanges {
        var changes = FieldChanges()
        for (name, rawValue) in pairs {
            if Self.systemFields.contains(name) {
                throw InvalidField(name, "is maintained by the server and cannot be set")
            }
            let value: String?
            if let field = field(named: name) {
                if let setBy = field.setBy {
                    throw InvalidField(name, "is set by \(setBy)")
                }
                value = rawValue.isEmpty ? nil : try Self.normalize(rawValue, for: field)
            } else if allowsCustomFields, Self.isCustomFieldName(name) {
                try Self.checkText(rawValue, field: name, maxLength: Self.maxCustomFieldValueLength)
                value = rawValue.isEmpty ? nil : rawValue
            } else {
                throw InvalidField(name, "unknown \(type) field (custom fields are named x_*)")
            }
            changes.set(name, value)
        }
        if changes.values.keys.count(where: Self.isCustomFieldName) > Self.maxCustomFields {
            throw InvalidField("x_*", "at most \(Self.maxCustomFields) custom fields")
        }
        return changes
    }

    /// Checks and canonicalizes one value: enumerations and emails are
    /// matched case-insensitively and stored in lower case.
    public static func normalize(_ value: String, for field: Field) throws(InvalidField) -> String {
        switch field.kind {
        case .text(let maxLength):
            try checkText(value, field: field.name, maxLength: maxLength)
            return value
        case .email:
            let email = value.lowercased()
            guard EmailAddress.isValid(email) else {
                throw InvalidField(field.name, "not a valid email address")
            }
            return email
        case .phone:
            try checkText(value, field: field.name, maxLength: 32)
            let allowed = Set("0123456789+-(). ")
            guard value.allSatisfy(allowed.contains), value.contains(where: \.isNumber) else {
                throw InvalidField(field.name, "may hold only digits, spaces and + - ( ) .")
            }
            return value
        case .externalID:
            try checkText(value, field: field.name, maxLength: 128)
            guard value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
                throw InvalidField(field.name, "may not contain spaces or control characters")
            }
            return value
        case .enumeration(let allowed):
            let lowered = value.lowercased()
            guard allowed.contains(lowered) else {
                throw InvalidField(field.name, "must be one of \(allowed.joined(separator: ", "))")
            }
            return lowered
        case .integer(let range):
            guard let number = Int64(value), range.contains(number) else {
                throw InvalidField(field.name, "must be an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            return String(number)
        case .reference(let type):
            guard let id = Int64(value), id > 0 else {
                throw InvalidField(field.name, "must be the id of a \(type)")
            }
            return String(id)
        case .date:
            guard CalendarDate(value) != nil else {
                throw InvalidField(field.name, "must be a date as YYYY-MM-DD")
            }
            return value
        case .currency:
            let code = value.uppercased()
            guard CurrencyCode.isKnown(code) else {
                throw InvalidField(field.name, "must be an ISO 4217 currency code such as EUR or USD")
            }
            return code
        case .timestamp:
            guard Timestamp.milliseconds(value) != nil else {
                throw InvalidField(field.name, "must be a UTC time as YYYY-MM-DDTHH:MM:SS.sssZ")
            }
            return value
        }
    }

    /// Checks free text: at most `maxLength` UTF-8 bytes, no NUL.
    public static func checkText(_ value: String, field: String, maxLength: Int) throws(InvalidField) {
        guard value.utf8.count <= maxLength else {
            throw InvalidField(field, "longer than \(maxLength) bytes")
        }
        guard !value.unicodeScalars.contains(where: { $0.value == 0 }) else {
            throw InvalidField(field, "may not contain NUL bytes")
        }
    }
}

/// Validated changes to a record: new values, or nil to clear a field.
public struct FieldChanges: Sendable, Equatable {
    public private(set) var values: [String: String?] = [:]

    public init() {}

    /// Changes given all at once, e.g. an event's fields.
    public init(_ values: [String: String?]) {
        self.values = values
    }

    public mutating func set(_ field: String, _ value: String?) {
        values[field] = .some(value)
    }

    /// The new value of `field` if the changes touch it (nil inside means cleared).
    public subscript(field: String) -> String?? {
        values[field]
    }

    /// Changed field names in a stable order.
    public var fieldNames: [String] { values.keys.sorted() }
}

/// Email address syntax as CRMs accept it: one `@`, a non-empty local part,
/// a dotted domain, no spaces, at most 254 bytes.
public enum EmailAddress {
    public static func isValid(_ address: String) -> Bool {
        guard address.utf8.count <= 254 else { return false }
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        let local = parts[0]
        let domain = parts[1]
        guard !local.isEmpty, local.utf8.count <= 64 else { return false }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, labels.allSatisfy({ !$0.isEmpty && !$0.hasPrefix("-") && !$0.hasSuffix("-") })
        else { return false }
        return address.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value != 0x7F && $0 != "," }
    }
}
