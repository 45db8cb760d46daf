import LoupeTestSupport

/// This target's committed fixtures (Tests/LoupeModelsTests/Fixtures).
let Fixtures = FixtureDirectory(testFile: #filePath)
