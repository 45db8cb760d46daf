import Foundation

/// The general core: printing, lists, records, strings, numbers, errors, the random seed,
/// timing and `help`.
struct GeneralCore: ScriptCore {
    let name = "general"
    var builtins: [Builtin] { GeneralBindings.all }
    var valueTypes: [ValueType] {
        [
            ValueType("nil", "The absence of a value."),
            ValueType("bool", "true or false."),
            ValueType("number", "A double-precision number."),
            ValueType("string", "Text."),
            ValueType("list", "A mutable list of values, shared by reference."),
            ValueType("record", "An ordered record of named values, shared by reference."),
            ValueType("function", "A user function, a builtin or a bound method."),
        ]
    }
}
