import Foundation
import LoupeIO
import LoupeTensor

/// Class names stored in a checkpoint's metadata as `loupe.classes`: a JSON array of strings.
public enum ClassNames {
    /// The metadata key.
    public static let metadataKey = "loupe.classes"

    /// The names as a JSON array of strings.
    public static func encode(_ names: [String]) -> String {
        "[" + names.map(JSONValue.quoted).joined(separator: ",") + "]"
    }

    /// Parses a `loupe.classes` value; `path` names the checkpoint in errors.
    public static func decode(_ text: String, path: String) throws -> [String] {
        let context = "model: '\(path)': metadata \(metadataKey)"
        let value = try JSONParser.parse(Array(text.utf8), context: context)
        guard case let .array(items) = value else {
            throw LoupeError("\(context) is a JSON \(value.kindName), expected an array of strings")
        }
        return try items.enumerated().map { index, item in
            guard case let .string(name) = item else {
                throw LoupeError("\(context): entry \(index) is a \(item.kindName), expected a string")
            }
            return name
        }
    }
}
