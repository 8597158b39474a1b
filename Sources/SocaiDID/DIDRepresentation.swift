/// The representations the resolver answers with, and `Accept` header negotiation.
public enum DIDRepresentation: String, Sendable, CaseIterable {
    /// The DID document as JSON-LD (the default).
    case documentJSONLD = "application/did+ld+json"
    /// The DID document as plain JSON.
    case documentJSON = "application/did+json"
    /// The full resolution result.
    case resolutionResult = "application/did-resolution"
    /// The full resolution result, spelled as JSON-LD with the DID Resolution profile.
    case resolutionResultJSONLD = "application/ld+json;profile=\"https://w3id.org/did-resolution\""

    /// Whether the answer is the whole resolution result rather than the document alone.
    public var isResolutionResult: Bool { self == .resolutionResult || self == .resolutionResultJSONLD }

    /// Most media ranges looked at in one `Accept` header.
    public static let acceptRangesMax = 32
    /// Longest `Accept` header looked at, in bytes.
    public static let acceptBytesMax = 2_048

    /// The representation `accept` prefers, or nil when it accepts none of them (406).
    ///
    /// Media ranges are weighed by their `q` (default 1, `q=0` refuses); ties go to the
    /// earlier range. `*/*` and `application/*` pick the DID document
    /// (`application/did+ld+json`); a missing or empty header does too. `application/ld+json`
    /// means the resolution result only with `profile="https://w3id.org/did-resolution"`;
    /// without it, it means the JSON-LD document.
    public static func negotiate(_ accept: String?) -> DIDRepresentation? {
        guard let accept else { return .documentJSONLD }
        // What nearly every client sends: one bare type. The general parse below gives the same
        // answer for these; it runs on every resolution, so the common case skips it.
        switch accept {
        case "application/did+ld+json", "*/*": return .documentJSONLD
        case "application/did+json": return .documentJSON
        case "application/did-resolution": return .resolutionResult
        default: break
        }
        guard !accept.utf8.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) else { return .documentJSONLD }
        guard accept.utf8.count <= acceptBytesMax else { return nil }
        var best: (representation: DIDRepresentation, quality: Int)?
        for (index, range) in accept.split(separator: ",").enumerated() {
            guard index < acceptRangesMax else { break }
            let parameters = range.split(separator: ";").map { $0.trimmingSpaces() }
            guard let type = parameters.first?.lowercased() else { continue }
            var quality = 1_000
            var profile: String?
            for parameter in parameters.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
                guard pair.count == 2 else { continue }
                switch pair[0].lowercased() {
                case "q": quality = Self.quality(pair[1]) ?? 0
                case "profile": profile = pair[1].trimmingQuotes()
                default: continue
                }
            }
            guard quality > 0, let representation = Self.match(type: type, profile: profile) else { continue }
            if best == nil || quality > best!.quality { best = (representation, quality) }
        }
        return best?.representation
    }

    private static func match(type: String, profile: String?) -> DIDRepresentation? {
        switch type {
        case "application/did+ld+json", "*/*", "application/*": return .documentJSONLD
        case "application/did+json": return .documentJSON
        case "application/did-resolution", "application/did-resolution+json": return .resolutionResult
        case "application/ld+json":
            let profiles = (profile ?? "").split(separator: " ").map(String.init)
            return profiles.contains("https://w3id.org/did-resolution") ? .resolutionResultJSONLD : .documentJSONLD
        default: return nil
        }
    }

    /// Parses a q-value (`0`, `0.5`, `1.000`) to thousandths; nil when malformed.
    static func quality(_ text: String) -> Int? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, whole == "0" || whole == "1" else { return nil }
        var thousandths = whole == "1" ? 1_000 : 0
        if parts.count == 2 {
            let digits = Array(parts[1].utf8)
            guard digits.count <= 3, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                return nil
            }
            var fraction = 0
            for position in 0..<3 {
                fraction = fraction * 10 + (position < digits.count ? Int(digits[position] - UInt8(ascii: "0")) : 0)
            }
            guard whole == "0" || fraction == 0 else { return nil }
            thousandths += fraction
        }
        return thousandths
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs (scanned as bytes: this runs per request).
    fileprivate func trimmingSpaces() -> String {
        let bytes = utf8
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, bytes[start] == UInt8(ascii: " ") || bytes[start] == UInt8(ascii: "\t") {
            start = bytes.index(after: start)
        }
        while start < end {
            let last = bytes.index(before: end)
            guard bytes[last] == UInt8(ascii: " ") || bytes[last] == UInt8(ascii: "\t") else { break }
            end = last
        }
        // Spaces and tabs are single bytes, so both bounds fall on character boundaries.
        return String(self[start..<end])
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String { Substring(self).trimmingSpaces() }

    fileprivate func trimmingQuotes() -> String {
        guard count >= 2, hasPrefix("\""), hasSuffix("\"") else { return self }
        return String(dropFirst().dropLast())
    }
}
