import LoupeTestSupport

/// This target's committed fixtures (Tests/LoupeVisualizationTests/Fixtures).
let Fixtures = FixtureDirectory(testFile: #filePath)
