import LoupeTestSupport

/// This target's committed fixtures (Tests/LoupeInversionTests/Fixtures).
let Fixtures = FixtureDirectory(testFile: #filePath)
