
/// The Loupe version string shown by `loupe --version` and recorded in saved sessions.
public let loupeVersion = "0.1.0"
