import LoupeTestSupport

/// This target's committed fixtures (Tests/LoupeGraftingTests/Fixtures).
let Fixtures = FixtureDirectory(testFile: #filePath)
